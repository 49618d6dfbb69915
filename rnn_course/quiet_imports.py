"""Keeps what TensorFlow's C++ code prints while it is imported off stderr, and keeps it.

Why: on some CPUs (an AMD EPYC of the Zen 4 class, for one) TensorFlow 2.21 writes
"oneDNN custom operations are on…" (and, elsewhere, cpu_feature_guard notices)
from C++ through absl straight to file descriptor 2 while it is imported, even
with `TF_CPP_MIN_LOG_LEVEL=3`. Python's `sys.stderr`, `warnings` and `logging`
never see those bytes, so no Python-level setting silences them. In JupyterLab the
student's first cell then shows a red stderr box, and nbgrader scores a test cell
that writes to stderr as 0; under JAX a graded test cell can be the first to import
TensorFlow (Keras's seeding and `get_config` serialisation check for it). The one
setting that silences the notice, `TF_ENABLE_ONEDNN_OPTS=0`, changes the numerics,
so the course does not use it.

What this module does instead: `install()` (run when `rnn_course` is imported)
puts a finder at the front of `sys.meta_path`. When any code in the process
imports a guarded package (`GUARDED`: TensorFlow) for the first time, the finder
wraps that package's loader so that its execution runs under `quiet_fd2()`: file
descriptor 2 points at a temporary file for the duration of the import (`os.dup`
/ `os.dup2`), then is restored, also when the import raises. The redirection is at
the file-descriptor level, so it works whatever `sys.stderr` is (ipykernel's
`OutStream`, pytest's capture) and whatever fd 2 is (a terminal, a pipe, a file,
ipykernel's watched pipe).

Nothing swallowed is lost:

- every captured text is kept in `notices()`; `rnn-course doctor` prints it;
- if the import raises, the text is attached to the exception as a note (Python
  3.11+; printed to stdout before 3.11), so the traceback shows it;
- the temporary file is a named file in the temporary folder, removed once read:
  if the process dies during the import (a fatal check in C++ aborts it), the text
  stays there and `abandoned_logs()` (and so `rnn-course doctor`) finds it.

Set `RNN_COURSE_QUIET_IMPORTS=0` to leave fd 2 alone (to see TensorFlow's output
as it happens).

The redirection is process-wide: whatever any thread writes to fd 2 during the
guarded import (about 10 s for TensorFlow) is captured with it, and kept the same
way. Nested guarded imports redirect once (the outermost); concurrent ones from
two threads share one redirection, restored when the last one ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
import tempfile
import threading
from pathlib import Path

#: Top-level packages whose import is guarded.
GUARDED = ("tensorflow",)
#: Set to "0" (or "false", "no", "off") to install nothing.
ENV_SWITCH = "RNN_COURSE_QUIET_IMPORTS"
_LOG_PREFIX = "rnn-course-import-"
_LOG_NAME = re.compile(r"^rnn-course-import-(?P<label>[\w.]+?)-(?P<pid>\d+)-.*\.log$")
_MARK = "_rnn_course_quiet_imports"  # on our finder; survives a reload of this module


@dataclasses.dataclass(frozen=True)
class ImportNotice:
    """What one guarded import wrote to fd 2.

    Attributes:
        module: the guarded package whose import was redirected, e.g. `"tensorflow"`.
        text: everything written to fd 2 meanwhile, decoded as UTF-8 (bad bytes replaced).
        failed: whether the import raised.
    """

    module: str
    text: str
    failed: bool = False

    @property
    def lines(self) -> list[str]:
        """The non-empty lines of `text`."""
        return [line for line in self.text.splitlines() if line.strip()]

    def summary(self) -> str:
        """One line, e.g. `tensorflow import notices: 4 lines swallowed (oneDNN custom operations are on…)`."""
        lines = self.lines
        if not lines:
            return f"{self.module} import notices: none"
        plural = "line" if len(lines) == 1 else "lines"
        gist = _gist(lines)
        return (f"{self.module} import notices: {len(lines)} {plural} swallowed"
                + (" by a failed import" if self.failed else "") + (f" ({gist})" if gist else ""))


def _gist(lines: list[str]) -> str:
    """The most telling message among `lines`, shortened: absl's "before InitializeLog" banner is skipped."""
    for line in lines:
        if "absl::InitializeLog" in line:
            continue
        # absl's prefix: "I0000 00:00:1796071219.563469    5949 port.cc:153] message"
        message = line.split("] ", 1)[1] if re.match(r"^[IWEF]\d{4} ", line) and "] " in line else line
        first = message.split(". ")[0].strip().rstrip(".")
        if len(first) > 60:
            return first[:59].rstrip() + "…"
        return first + ("…" if len(message.strip().rstrip(".")) > len(first) else "")
    return ""


_lock = threading.Lock()
_notices: list[ImportNotice] = []
_state = {"depth": 0, "saved_fd": None, "file": None, "labels": [], "failed": False}


def notices() -> list[ImportNotice]:
    """What the guarded imports of this process wrote to fd 2, oldest first (a copy)."""
    with _lock:
        return list(_notices)


def _flush_python_stderr() -> None:
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def _begin(label: str) -> None:
    with _lock:
        _state["labels"].append(label)
        _state["depth"] += 1
        if _state["depth"] > 1:
            return
        _flush_python_stderr()  # what Python already buffered belongs on the real stderr
        try:
            saved = os.dup(2)
        except OSError:  # fd 2 is closed: nothing to protect
            return
        try:
            file = tempfile.NamedTemporaryFile(
                prefix=f"{_LOG_PREFIX}{label}-{os.getpid()}-", suffix=".log", delete=False)
        except OSError:  # no writable temporary folder: an import must not fail for a notice's sake
            os.close(saved)
            return
        os.dup2(file.fileno(), 2)
        _state["saved_fd"], _state["file"], _state["failed"] = saved, file, False


def _end(failed: bool) -> ImportNotice | None:
    with _lock:
        _state["depth"] -= 1
        _state["failed"] = _state["failed"] or failed
        if _state["depth"] > 0:
            return None
        labels, _state["labels"] = _state["labels"], []
        saved, file = _state["saved_fd"], _state["file"]
        _state["saved_fd"] = _state["file"] = None
        if saved is None:
            return None
        _flush_python_stderr()  # what Python wrote meanwhile belongs to the capture
        os.dup2(saved, 2)
        os.close(saved)
        try:
            file.seek(0)
            text = file.read().decode("utf-8", errors="replace")
        finally:
            file.close()
            with contextlib.suppress(OSError):
                os.unlink(file.name)
        notice = ImportNotice(labels[0], text, _state["failed"])
        _notices.append(notice)
        return notice


@contextlib.contextmanager
def quiet_fd2(label: str):
    """Points fd 2 at a temporary file inside the block, keeps what was written, restores fd 2.

    Nested and concurrent uses share one redirection (the last to leave restores fd 2).
    If the block raises, the text captured so far is attached to the exception as a note
    (printed to stdout on Python < 3.11) and the exception propagates.

    Args:
        label: the name the capture is kept under in `notices()`, e.g. `"tensorflow"`
            (letters, digits, `_` and `.`: it is part of a file name).

    When fd 2 is closed, or no temporary file can be created, the block runs with fd 2
    left as it is.

    Raises:
        ValueError: `label` is not a plain name.
    """
    if not re.fullmatch(r"[\w.]+", label):
        raise ValueError(f"quiet_fd2 label must be letters, digits, '_' or '.'. Received: {label!r}")
    _begin(label)
    try:
        yield
    except BaseException as err:
        notice = _end(failed=True)
        if notice is not None and notice.lines:
            message = (f"What {notice.module} wrote to stderr while it was imported "
                       f"(kept off stderr by rnn_course.quiet_imports):\n{notice.text.rstrip()}")
            if hasattr(err, "add_note"):
                err.add_note(message)
            else:  # Python 3.10
                print(message, file=sys.stdout, flush=True)
        raise
    else:
        _end(failed=False)


class _QuietLoader:
    """Wraps a guarded package's loader: its `exec_module` runs under `quiet_fd2`."""

    def __init__(self, loader, label: str):
        self._loader = loader
        self._label = label

    def __getattr__(self, name):  # get_resource_reader, is_package, get_code, …
        if name == "_loader":  # not set yet (copy, pickle): never recurse
            raise AttributeError(name)
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        try:
            with quiet_fd2(self._label):
                self._loader.exec_module(module)
        finally:
            # Once executed, the module shows its own loader again, as if we had never been there.
            module.__loader__ = self._loader
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is self:
                spec.loader = self._loader


class _QuietFinder:
    """A `sys.meta_path` finder that asks the finders after it, then wraps guarded loaders."""

    def __init__(self, names):
        self.names = frozenset(names)
        self._local = threading.local()
        setattr(self, _MARK, True)

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self.names or getattr(self._local, "busy", False):
            return None
        self._local.busy = True  # a finder below that calls importlib.util.find_spec must not loop
        try:
            spec = None
            for finder in list(sys.meta_path):
                if finder is self or getattr(finder, _MARK, False):
                    continue
                find = getattr(finder, "find_spec", None)
                if find is not None and (spec := find(fullname, path, target)) is not None:
                    break
        finally:
            self._local.busy = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec  # not found, a namespace package, or a legacy loader: leave it alone
        spec.loader = _QuietLoader(spec.loader, fullname)
        return spec

    def invalidate_caches(self):
        pass


def installed() -> bool:
    """Whether the finder is in `sys.meta_path`."""
    return any(getattr(finder, _MARK, False) for finder in sys.meta_path)


def install(names=GUARDED) -> bool:
    """Guards every later import of `names` in this process (idempotent, cheap: imports nothing).

    Args:
        names: top-level package names (default `GUARDED`). Submodules need no entry:
            importing `tensorflow.keras` imports `tensorflow` first.

    Returns:
        Whether the guard is in place: `False` when `RNN_COURSE_QUIET_IMPORTS=0`.
    """
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    with _lock:
        if not installed():
            sys.meta_path.insert(0, _QuietFinder(names))
    return True


def uninstall() -> None:
    """Removes the finder (imports already done keep their result)."""
    with _lock:
        sys.meta_path[:] = [finder for finder in sys.meta_path if not getattr(finder, _MARK, False)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, or cannot tell: leave its file alone
    return True


def abandoned_logs(folder: str | Path | None = None) -> list[tuple[str, int, Path]]:
    """Captures left by processes that died during a guarded import (their text was never shown).

    Args:
        folder: where to look; the temporary folder (`tempfile.gettempdir()`) by default.

    Returns:
        `(module, pid, path)` for each such file, oldest first.
    """
    folder = Path(folder or tempfile.gettempdir())
    found = []
    with contextlib.suppress(OSError):
        for path in folder.glob(f"{_LOG_PREFIX}*.log"):
            match = _LOG_NAME.match(path.name)
            if match and int(match["pid"]) != os.getpid() and not _alive(int(match["pid"])):
                with contextlib.suppress(OSError):
                    found.append((path.stat().st_mtime, match["label"], int(match["pid"]), path))
    return [(label, pid, path) for _, label, pid, path in sorted(found)]
