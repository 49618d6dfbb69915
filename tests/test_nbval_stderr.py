"""nbval's run of the solutions fails on a cell that writes to stderr (tests/conftest.py): a notebook
whose second cell writes there fails at that cell and only there."""

import subprocess
import sys

import nbformat

from course_submissions import ROOT


def test_nbval_fails_a_cell_that_writes_to_stderr_and_passes_the_others(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("print('to stdout: fine')"),
        nbformat.v4.new_code_cell("import sys\nsys.stderr.write('a red box\\n')"),
        nbformat.v4.new_code_cell("import warnings\nwarnings.warn('also stderr')"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "conftest",
                           "--nbval-lax", "--nbval-current-env", "-q", "-rf", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "1 passed, 2 failed" in proc.stdout or "2 failed, 1 passed" in proc.stdout, proc.stdout[-2000:]
    assert "Cell 1 - pytest plugin exception: the cell wrote to stderr" in proc.stdout, proc.stdout[-2000:]
    assert "'a red box\\n'" in proc.stdout and "also stderr" in proc.stdout


def test_nbval_sees_what_a_cell_writes_to_file_descriptor_2(tmp_path):
    """C and C++ libraries and subprocesses write to fd 2, not to sys.stderr; JupyterLab shows it."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import os\nos.write(2, b'from C\\n')"),
        nbformat.v4.new_code_cell("import subprocess, sys\n"
                                  "subprocess.run([sys.executable, '-c', 'import sys; sys.stderr.write(\"child\\\\n\")'])"),
    ])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist",
                           "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), "-p", "conftest",
                           "--nbval-lax", "--nbval-current-env", "-q", "-rf", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "2 failed" in proc.stdout and "from C" in proc.stdout and "child" in proc.stdout, proc.stdout[-2000:]
