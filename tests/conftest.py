"""Shared fixtures. Tests are marked by concern so `make test-jax` can pick the
backend-agnostic ones: notebook runs (tests/notebooks/, nbval on solutions/) and the
grader (test_grading*, test_gradescope*, test_nbgrader*) run under TensorFlow only."""

import inspect
import os
from pathlib import Path

import pytest

# Kernels started by the tests inherit this process's environment. JAX, once imported here, sets
# TF_CPP_MIN_LOG_LEVEL=1 by setdefault, which would then beat the setup cell's setdefault("3")
# in every later kernel and let TensorFlow's C++ warnings reach stderr, which a student's kernel
# (started without it) never shows. Set it first, as the setup cell does.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
# Deliberately broken notebooks for the grader tests: never collect them (nbval would try).
collect_ignore_glob = ["fixtures/*"]


#: Tests whose result does not depend on the pass's Keras backend (notebook generation, the course
#: config, packaging, formula rendering, static scans of the checks; tests marked `backend_free`
#: name their backends themselves): the TensorFlow pass runs them, and the JAX pass
#: (`make test-jax`, `-m "not backend_free"`) does not run them again.
BACKEND_FREE = ("test_assignment.py", "test_bench_suite.py", "test_colab.py", "test_formulas.py", "test_packaging.py",
                "test_mistake_codes.py")


def pytest_configure(config):
    config.addinivalue_line("markers", "backend_free: does not depend on the pass's backend, so it runs in one pass only")


def _fail_on_stderr(item) -> None:
    """Makes nbval's run of a solution cell fail if the cell wrote to stderr.

    nbval compares outputs only where a cell asks (`# NBVAL_CHECK_OUTPUT`) and never looks at stderr;
    a student would see it as a red box in JupyterLab, and nbgrader scores a test cell that writes
    there 0. The student-notebook run leaves the experiments out (tests/notebooks/
    test_student_notebooks.py), so this is where theirs is checked. (A hook here could not do it:
    this conftest's per-item hooks do not reach the notebooks in solutions/.)"""
    runtest = item.runtest

    def runtest_and_check_stderr():
        runtest()
        stderr = [out.get("text", "") for out in item.test_outputs or []
                  if out.get("output_type") == "stream" and out.get("name") == "stderr"]
        if stderr:
            raise AssertionError(f"the cell wrote to stderr (a red box in JupyterLab; nbgrader scores a test cell "
                                 f"that does 0): {''.join(stderr)[:500]!r}")

    item.runtest = runtest_and_check_stderr


def wait_for_fd_output(*_args, timeout: float = 10.0, _read_calls: dict = {}) -> None:  # noqa: B006: a cache
    """Runs in the kernel after every cell (a `post_run_cell` hook): returns once ipykernel has taken
    in everything the cell wrote to file descriptors 1 and 2.

    ipykernel reads those descriptors through a pipe in a thread of its own, and sends what that
    thread has read with the cell's reply. Under load the thread can read a cell's last write only
    after the reply has gone; the write then carries the finished cell's id and nbval drops it, so a
    cell that wrote to fd 2 passed (seen once in CI: `os.write(2, ...)` in a first cell was lost).
    The cell is done with both descriptors once each pipe is empty and its reading thread is blocked
    in `os.read` (its frame stands at that call), i.e. it has handed over all it read before. Without
    ipykernel's pipes (`watchfd` off, another kernel) there is nothing to wait for. The offsets of
    those calls are read from the thread's bytecode once per kernel (`_read_calls`)."""
    import dis
    import fcntl
    import struct
    import sys
    import termios
    import time

    for stream in (sys.stdout, sys.stderr):
        fid, thread = getattr(stream, "_fid", None), getattr(stream, "watch_fd_thread", None)
        watch = getattr(type(stream), "_watch_pipe_fd", None)
        if fid is None or thread is None or watch is None or not thread.is_alive():
            continue
        code = watch.__code__
        if code not in _read_calls:
            reads, after_read = set(), False
            for instruction in dis.get_instructions(code):
                if instruction.opname in ("LOAD_ATTR", "LOAD_METHOD") and instruction.argval == "read":
                    after_read = True
                elif instruction.opname == "CALL" and after_read:
                    reads.add(instruction.offset)
                    after_read = False
            _read_calls[code] = reads
        reads = _read_calls[code]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and thread.is_alive():
            pending = struct.unpack("i", fcntl.ioctl(fid, termios.FIONREAD, b"\0\0\0\0"))[0]
            frame = sys._current_frames().get(thread.ident)
            if not pending and frame is not None and frame.f_code is code and frame.f_lasti in reads:
                break
            time.sleep(0.001)


_INSTALL_WAIT_FOR_FD_OUTPUT = (inspect.getsource(wait_for_fd_output)
                               + "\nget_ipython().events.register('post_run_cell', wait_for_fd_output)"
                               + "\ndel wait_for_fd_output\n")


def _kernel_sees_fd_output(notebook) -> None:
    """nbval starts a notebook's kernel in the file collector's setup, while pytest has set
    PYTEST_CURRENT_TEST; ipykernel then stops capturing what is written to file descriptor 2 (C and C++
    logs, subprocesses), which a student in JupyterLab would see. The kernel starts without it, and
    waits after each cell until ipykernel has taken in what the cell wrote there
    (`wait_for_fd_output`)."""
    setup = notebook.setup

    def setup_without_pytest_marker():
        saved = os.environ.pop("PYTEST_CURRENT_TEST", None)
        try:
            setup()
        finally:
            if saved is not None:
                os.environ["PYTEST_CURRENT_TEST"] = saved
        msg_id = notebook.kernel.execute_cell_input(_INSTALL_WAIT_FOR_FD_OUTPUT, allow_stdin=False)
        notebook.kernel.await_idle(msg_id, timeout=60)

    notebook.setup = setup_without_pytest_marker


def pytest_collection_modifyitems(config, items):
    for notebook in {id(i.parent): i.parent for i in items if type(i).__name__ == "IPyNbCell"}.values():
        _kernel_sees_fd_output(notebook)
    for item in items:
        if type(item).__name__ == "IPyNbCell":
            _fail_on_stderr(item)
        path = Path(str(item.fspath))
        if path.name in BACKEND_FREE:
            item.add_marker(pytest.mark.backend_free)
        if path.suffix == ".ipynb" or "notebooks" in path.parts[len(ROOT.parts):][:2]:
            item.add_marker(pytest.mark.notebook)
        if path.name.startswith(("test_grading", "test_gradescope", "test_nbgrader")):
            item.add_marker(pytest.mark.grading)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT
