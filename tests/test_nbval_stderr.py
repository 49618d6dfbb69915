"""nbval's run of the solutions fails on a cell that writes to stderr (tests/conftest.py), through
sys.stderr, warnings, file descriptor 2 or a subprocess, and only on such a cell."""

import subprocess
import sys

import nbformat

from course_submissions import ROOT


def run_nbval(tmp_path, sources: list[str]) -> str:
    """pytest's output for nbval on a notebook of these code cells, with this suite's conftest."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "conftest",
                           "--nbval-lax", "--nbval-current-env", "-q", "-rf", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    return proc.stdout


def test_nbval_fails_a_cell_that_writes_to_stderr_and_passes_the_others(tmp_path):
    out = run_nbval(tmp_path, ["print('to stdout: fine')", "import sys\nsys.stderr.write('a red box\\n')",
                               "import warnings\nwarnings.warn('also stderr')"])
    assert "1 passed, 2 failed" in out or "2 failed, 1 passed" in out, out[-2000:]
    assert "Cell 1 - pytest plugin exception: the cell wrote to stderr" in out, out[-2000:]
    assert "'a red box\\n'" in out and "also stderr" in out


def test_nbval_sees_what_a_cell_writes_to_file_descriptor_2(tmp_path):
    """C and C++ libraries and subprocesses write to fd 2, not to sys.stderr; JupyterLab shows it."""
    out = run_nbval(tmp_path, [
        "import os\nos.write(2, b'from C\\n')",
        "import subprocess, sys\n"
        "subprocess.run([sys.executable, '-c', 'import sys; sys.stderr.write(\"child\\\\n\")'])"])
    assert "2 failed" in out and "from C" in out and "child" in out, out[-2000:]


def test_nbval_charges_a_late_read_of_file_descriptor_2_to_its_cell(tmp_path):
    """ipykernel reads fd 2 in a thread of its own, which under load can hand over a cell's write
    after the cell has finished (seen in CI). Here that thread is slowed down on purpose: its
    hand-over sleeps a second. The write must still fail its own cell, and only that one. (IPython
    wraps `sys.stderr.write` anew for each cell, so the cell that writes slows the thread down.)"""
    out = run_nbval(tmp_path, [
        "print('a clean first cell')",
        "import os, sys, threading, time\n"
        "write = sys.stderr.write\n"
        "def slow_write(text):\n"
        "    if threading.current_thread() is sys.stderr.watch_fd_thread:\n"
        "        time.sleep(1)\n"
        "    return write(text)\n"
        "sys.stderr.write = slow_write\n"
        "os.write(2, b'late from C\\n')",
        "print('the next cell is clean')"])
    assert "1 failed, 2 passed" in out or "2 passed, 1 failed" in out, out[-2000:]
    assert "FAILED ::Cell 1 - pytest plugin exception: the cell wrote to stderr" in out and "late from C" in out, out[-2000:]
