"""TensorFlow's import-time C++ notices stay off stderr, on every machine.

Whether the real TensorFlow prints at import depends on the CPU, so these tests
import a fake `tensorflow` package (put first on PYTHONPATH) that writes to file
descriptor 2 with `os.write`, as absl's C++ logging does, and so fail wherever
the guard is missing (`RNN_COURSE_QUIET_IMPORTS=0` removes it: the control test).
"""

import os
import subprocess
import sys
import textwrap
import threading

import pytest

from rnn_course import quiet_imports

ONEDNN = "I0000 00:00:1.5    7 port.cc:153] oneDNN custom operations are on. You may see slightly different results."
GUARD = "W0000 00:00:1.6    7 cpu_feature_guard.cc:210] This TensorFlow binary is optimized to use AVX512F."
FATAL = "F0000 00:00:1.7    7 cpu_feature_guard.cc:88] The TensorFlow library was compiled to use AVX instructions."

FAKE_INIT = f'''\
"""A fake TensorFlow: writes to fd 2 from below Python while it is imported, as the real one does."""
import os


def say(text):
    try:
        os.write(2, text)
    except OSError:  # fd 2 closed: C's write() fails silently
        pass


say({(ONEDNN + chr(10)).encode()!r})
from tensorflow import _pywrap  # a nested import, which writes too
if os.environ.get("FAKE_TF") == "fail":
    raise ImportError("libtensorflow_framework.so.2: cannot open shared object file (fake)")
if os.environ.get("FAKE_TF") == "abort":
    say({(FATAL + chr(10)).encode()!r})
    os.abort()
__version__ = "0.0.fake"
'''
FAKE_PYWRAP = f"from tensorflow import say\n\nsay({(GUARD + chr(10)).encode()!r})\n"
BACK = "fd 2 is back\n"
ABORTING = "import os, rnn_course\nprint(os.getpid(), flush=True)\nimport tensorflow\n"  # dies in the import


@pytest.fixture
def fake_tf(tmp_path):
    """Environment variables under which `import tensorflow` finds the fake one."""
    package = tmp_path / "fake" / "tensorflow"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_INIT)
    (package / "_pywrap.py").write_text(FAKE_PYWRAP)
    env = {k: v for k, v in os.environ.items() if k not in (quiet_imports.ENV_SWITCH, "FAKE_TF")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH")) if p)
    env["TMPDIR"] = str(tmp_path)  # where the guard's capture files go, and abandoned ones are looked for
    return env


#: Appended to each script: what the guard kept, then a write to fd 2 that must reach stderr.
REPORT = f"""
from rnn_course import quiet_imports
for notice in quiet_imports.notices():
    print(notice.summary())
    print(notice.text, end="")
os.write(2, {BACK.encode()!r})  # fd 2 must point at the real stderr again
"""


def _python(tmp_path, env, code, stderr=subprocess.PIPE, report=True):
    """Runs `code` (then REPORT, if `report`) in a fresh Python with `env`."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(code) + (REPORT if report else ""))
    return subprocess.run([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=stderr,
                          text=True, timeout=120)


def test_the_fake_writes_to_stderr_when_the_guard_is_off(tmp_path, fake_tf):
    """The control: without the guard the fake's notices reach stderr (so the tests below can fail)."""
    run = _python(tmp_path, {**fake_tf, quiet_imports.ENV_SWITCH: "0"},
                  "import os, rnn_course, tensorflow\n")
    assert run.returncode == 0, run.stderr
    assert run.stderr == ONEDNN + "\n" + GUARD + "\n" + BACK
    assert run.stdout == ""


@pytest.mark.parametrize("statement", [
    "import tensorflow",
    "import importlib; importlib.import_module('tensorflow')",  # how Keras's LazyModule imports it
    "import tensorflow._pywrap",  # a submodule first
    "from tensorflow import _pywrap",
    "__import__('tensorflow')",
])
@pytest.mark.parametrize("fd2", ["pipe", "file"])
def test_any_import_of_tensorflow_keeps_its_notices_off_stderr(tmp_path, fake_tf, statement, fd2):
    code = f"""
    import os, sys
    import rnn_course
    {statement}
    import tensorflow
    assert type(tensorflow.__loader__).__name__ == "SourceFileLoader", tensorflow.__loader__
    assert tensorflow.__spec__.loader is tensorflow.__loader__
    """
    if fd2 == "pipe":
        run = _python(tmp_path, fake_tf, code)
        err = run.stderr
    else:
        with open(tmp_path / "stderr.txt", "w") as file:
            run = _python(tmp_path, fake_tf, code, stderr=file)
        err = (tmp_path / "stderr.txt").read_text()
    assert run.returncode == 0, err
    assert err == BACK
    assert run.stdout == ("tensorflow import notices: 2 lines swallowed (oneDNN custom operations are on…)\n"
                          + ONEDNN + "\n" + GUARD + "\n")


def test_a_replaced_sys_stderr_changes_nothing(tmp_path, fake_tf):
    """ipykernel replaces sys.stderr; the notices are written below it, to fd 2, and kept all the same."""
    run = _python(tmp_path, fake_tf, """
    import io, os, sys
    import rnn_course
    sys.stderr = io.StringIO()
    import tensorflow
    replaced, sys.stderr = sys.stderr, sys.__stderr__
    assert replaced.getvalue() == "", replaced.getvalue()
    """)
    assert run.returncode == 0, run.stderr
    assert run.stderr == BACK
    assert "2 lines swallowed" in run.stdout and GUARD in run.stdout


def test_a_failed_import_shows_what_was_swallowed(tmp_path, fake_tf):
    env = {**fake_tf, "FAKE_TF": "fail"}
    caught = _python(tmp_path, env, """
    import os
    import rnn_course
    try:
        import tensorflow
    except ImportError as err:
        print("NOTES", getattr(err, "__notes__", []))
    """)
    assert caught.returncode == 0, caught.stderr
    assert caught.stderr == BACK
    notes = caught.stdout.split("\n")[0]
    assert notes.startswith("NOTES ['What tensorflow wrote to stderr while it was imported") and "oneDNN" in notes
    assert "tensorflow import notices: 2 lines swallowed by a failed import" in caught.stdout

    uncaught = _python(tmp_path, env, "import rnn_course\nimport tensorflow\n", report=False)
    assert uncaught.returncode == 1
    assert "ImportError: libtensorflow_framework.so.2" in uncaught.stderr
    assert ONEDNN in uncaught.stderr and GUARD in uncaught.stderr  # in the traceback, under the error


def test_a_process_that_dies_in_the_import_leaves_its_text_for_the_doctor(tmp_path, fake_tf):
    """A fatal C++ check aborts the process mid-import; the capture file survives and is found."""
    died = _python(tmp_path, {**fake_tf, "FAKE_TF": "abort"}, ABORTING, report=False)
    assert died.returncode != 0 and died.stderr == ""
    pid = int(died.stdout)
    found = quiet_imports.abandoned_logs(tmp_path)
    assert [(module, p) for module, p, _ in found] == [("tensorflow", pid)]
    assert found[0][2].read_text() == ONEDNN + "\n" + GUARD + "\n" + FATAL + "\n"


def test_doctor_reports_what_the_import_printed_and_what_a_dead_import_left(tmp_path, fake_tf):
    died = _python(tmp_path, {**fake_tf, "FAKE_TF": "abort"}, ABORTING, report=False)
    pid = int(died.stdout)
    run = subprocess.run([sys.executable, "-m", "rnn_course.cli", "doctor", "--backend", "numpy"],
                         env={**fake_tf, "RNN_COURSE_FAST": "1"}, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    out = run.stdout
    assert "imports      : tensorflow import notices: 2 lines swallowed (oneDNN custom operations are on…)\n" \
           f"               | {ONEDNN}\n               | {GUARD}\n" in out
    assert f"died during: an import of tensorflow in process {pid}, which printed 3 line(s)" in out
    assert f"               | {FATAL}\n" in out
    assert quiet_imports.abandoned_logs(tmp_path) == []  # shown once, then removed


def test_a_closed_fd2_is_left_alone(tmp_path, fake_tf):
    run = _python(tmp_path, fake_tf, """
    import os
    import rnn_course
    os.close(2)
    import tensorflow
    from rnn_course import quiet_imports
    print(tensorflow.__version__, quiet_imports.notices())
    """, report=False)
    assert run.returncode == 0 and run.stdout == "0.0.fake []\n"


def test_install_is_idempotent_even_across_a_reload(tmp_path, fake_tf):
    run = _python(tmp_path, fake_tf, """
    import importlib, sys
    import rnn_course
    from rnn_course import quiet_imports
    assert quiet_imports.install() and quiet_imports.install()
    importlib.reload(quiet_imports)
    importlib.reload(rnn_course)
    quiet_imports.install()
    print(sum(1 for f in sys.meta_path if type(f).__name__ == "_QuietFinder"))
    quiet_imports.uninstall()
    print(quiet_imports.installed())
    """, report=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "1\nFalse\n"


def test_quiet_fd2_nests_and_restores_fd2_on_errors(capfd):
    before = os.fstat(2)
    with pytest.raises(RuntimeError) as info:
        with quiet_imports.quiet_fd2("outer"):
            os.write(2, b"outer notice\n")
            with quiet_imports.quiet_fd2("inner"):
                os.write(2, b"inner notice\n")
            os.write(2, b"outer again\n")
            raise RuntimeError("boom")
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    assert (os.fstat(2).st_dev, os.fstat(2).st_ino) == (before.st_dev, before.st_ino)
    notice = quiet_imports.notices()[-1]
    assert notice == quiet_imports.ImportNotice("outer", "outer notice\ninner notice\nouter again\n", failed=True)
    if sys.version_info >= (3, 11):
        assert "outer notice\ninner notice" in info.value.__notes__[0]


def test_quiet_fd2_from_two_threads_at_once(capfd):
    both_inside = threading.Barrier(2)
    release = threading.Event()
    first_left = threading.Event()

    def work(label, text, leave_first):
        with quiet_imports.quiet_fd2(label):
            both_inside.wait(timeout=30)
            os.write(2, text)
            if leave_first:
                release.set()
            else:
                release.wait(timeout=30)
                first_left.wait(timeout=30)
                os.write(2, b"still inside\n")  # the other thread has left: fd 2 must still be redirected
        if leave_first:
            first_left.set()

    threads = [threading.Thread(target=work, args=("a", b"from a\n", True)),
               threading.Thread(target=work, args=("b", b"from b\n", False))]
    count = len(quiet_imports.notices())
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    os.write(2, b"after\n")
    assert capfd.readouterr().err == "after\n"
    new = quiet_imports.notices()[count:]
    assert len(new) == 1 and sorted(new[0].lines) == ["from a", "from b", "still inside"]


def test_a_bad_label_is_refused():
    with pytest.raises(ValueError, match=r"Received: 'a/b'"):
        with quiet_imports.quiet_fd2("a/b"):
            pass


@pytest.mark.parametrize("lines, expected", [
    ([], "tensorflow import notices: none"),
    (["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR", ONEDNN],
     "tensorflow import notices: 2 lines swallowed (oneDNN custom operations are on…)"),
    (["just one line"], "tensorflow import notices: 1 line swallowed (just one line)"),
])
def test_summary(lines, expected):
    assert quiet_imports.ImportNotice("tensorflow", "\n".join(lines)).summary() == expected
