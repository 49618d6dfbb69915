"""The public checks that students call, one module per notebook.

A check takes the student's answer (a function, a layer class, a value), tests
properties and reference values computed from Keras's own layers or the known
formulas, and either prints one line starting with "✓" or raises `CheckFailed`
with a hint that isolates the wrong term, for example "the forget gate multiplies
the previous cell state; yours does not".

`CheckFailed` is an `AssertionError`, so a graded test cell that calls a check
fails, and scores 0, exactly when the check does. Checks write only to stdout:
nbgrader scores a test cell that writes to stderr as 0.

Every call into the student's code, and every read of an attribute of the
student's objects, goes through `guard`, `method` or `attribute`: an error
there becomes a `CheckFailed` whose hint says what was being done, what was
received and what is expected, never a raw traceback from inside the check. In
IPython (JupyterLab, Colab, nbgrader) a `CheckFailed` is shown short: the test
cell's line, the line of the student's own code that raised (if any) and the
hint, without the package's frames or a chained "During handling of the above
exception" copy (see `CheckFailed._render_traceback_`).

Every hint carries a stable mistake code (`fail(hint, code="log10-not-ln")`), which ends
the message's last line as ` [mistake: <code>]`: `rnn-course report` counts a class's
mistakes by it (see `TestResult.mistake` in rnn_course.grading.results). A code names the
mistake, never a measured value. The guards give generic ones: `NotImplementedError` for
the unanswered stub (the code the grader gives it too), `raised-<ExceptionName>`,
`missing-attribute`, `not-a-method`, `not-numeric`, and `expect_close` `wrong-shape`,
`not-finite` or `wrong-values` unless told a more precise one.

| module                         | notebook |
|--------------------------------|----------|
| `rnn_course.checks.ngram_lm`   | 01 n-gram language models |
| `rnn_course.checks.rnn_lm`     | 02 RNN language models |
| `rnn_course.checks.gradients`  | 03 vanishing and exploding gradients |
| `rnn_course.checks.lstm_gru`   | 04 LSTM and GRU |
| `rnn_course.checks.birnn`      | 05 stacked and bidirectional RNNs |
| `rnn_course.checks.cells`      | the stages every RNN cell goes through (02 and 04) |
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import site
import sysconfig
import traceback
import types

import numpy as np


@functools.lru_cache(maxsize=None)
def _library_dirs() -> tuple[str, ...]:
    """Folders whose frames are not the student's: this package, the standard library, installed packages."""
    import rnn_course

    dirs = {os.path.dirname(os.path.abspath(rnn_course.__file__))}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(KeyError):
            dirs.add(sysconfig.get_paths()[key])
    with contextlib.suppress(AttributeError):  # site.getsitepackages is missing in some virtualenvs
        dirs.update(site.getsitepackages())
    dirs.add(site.getusersitepackages())
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs if d)


def _is_student_frame(frame) -> bool:
    """Whether `frame` runs the student's code: a notebook cell or a file of theirs (not a library's)."""
    filename = frame.f_code.co_filename
    if filename.startswith("<frozen") or "__autograph_generated_file" in filename:  # TensorFlow's rewrite
        return False
    if filename.startswith("<"):  # "<string>", cells run by exec
        return True
    return not os.path.realpath(filename).startswith(_library_dirs())


def _walk(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _student_traceback(err: BaseException):
    """A traceback with the test cell's frame(s) and the student's frame that raised the cause, nothing else.

    From `err` (the CheckFailed) it keeps the student's frames, which are the test cell's: IPython's own
    frames and the package's are dropped. From the student's exception (`err.__cause__`) it keeps the last
    student frame, the line of their code that raised. Returns a `types.TracebackType` chain, or None.
    """
    kept = [(tb.tb_frame, tb.tb_lasti, tb.tb_lineno) for tb in _walk(err.__traceback__)
            if _is_student_frame(tb.tb_frame)]
    cause = err.__cause__
    if cause is not None:
        own = [(tb.tb_frame, tb.tb_lasti, tb.tb_lineno) for tb in _walk(cause.__traceback__)
               if _is_student_frame(tb.tb_frame)]
        kept += own[-1:]
    tb = None
    for frame, lasti, lineno in reversed(kept):
        tb = types.TracebackType(tb, frame, lasti, lineno)
    return tb


#: A mistake code: what `rnn-course report` counts (rnn_course.grading.results reads the same pattern).
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
#: The marker that carries a code at the end of a hint's last line.
_MARK = re.compile(r" ?\[mistake: ([A-Za-z0-9][A-Za-z0-9_.+-]{0,63})\]")


def _check_code(code: str) -> str:
    if not (isinstance(code, str) and _CODE.fullmatch(code)):
        raise ValueError("a mistake code is 1 to 64 letters, digits and `_ - . +`, starting with a letter or a digit. "
                         f"Received: code={code!r}")
    return code


def mark(hint: str, code: str) -> str:
    """`hint` with its mistake code: `"{hint} [mistake: {code}]"`.

    For a hint that another function ends its message with (a known mistake of a `CellSpec`, the
    `hint` of `expect_close`): `CheckFailed` moves the marker to the end of the message and takes
    the code from it.

    Raises:
        ValueError: if `code` is not 1 to 64 letters, digits and `_ - . +`.
    """
    return f"{hint} [mistake: {_check_code(code)}]"


class CheckFailed(AssertionError):
    """A check found a mistake; the message is the hint shown to the student.

    When the mistake is an exception raised by the student's code, that exception is the
    `__cause__` (so a debugger or pytest still sees all of it); otherwise there is no chained
    exception. In IPython the error is rendered short by `_render_traceback_`.

    Args:
        hint: what was received and what is expected.
        code: the mistake's stable code (`W_h-W_e-swapped`: no measured value in it), or None.
            The message is the hint with ` [mistake: <code>]` at the end of its last line,
            which is what the grader reads (see `TestResult.mistake` in rnn_course.grading.results).
            Without a code, a marker already in `hint` (a hint wrapped in more text) is moved to
            the end, and the last one gives the code.

    Attributes:
        hint: the hint without the marker.
        code: the mistake code, or None.

    Raises:
        ValueError: if `code` is not 1 to 64 letters, digits and `_ - . +`.
    """

    def __init__(self, hint: str = "", *, code: str | None = None):
        text = str(hint)
        found = _MARK.findall(text)
        self.hint = _MARK.sub("", text) if found else text
        self.code = _check_code(code) if code is not None else (found[-1] if found else None)
        super().__init__(f"{self.hint.rstrip()} [mistake: {self.code}]" if self.code else self.hint)

    def _render_traceback_(self) -> list[str]:
        """IPython's hook for an exception's own rendering (it is called instead of the usual traceback).

        Returns IPython's usual rendering (colours, `Cell In[7], line 4`, the current `%xmode`) of a
        traceback reduced to the test cell's frame and the student's frame that raised, with the hint
        as the last line and no chained exception. The test cell's frame comes first, as in any IPython
        traceback, which is what the grader's visible/hidden verdict reads. Never raises: IPython would
        then print its own failure to stderr, which nbgrader scores as a failed cell.
        """
        cause, context, suppress = self.__cause__, self.__context__, self.__suppress_context__
        try:
            from IPython import get_ipython

            shell = get_ipython()
            tb = _student_traceback(self)
            self.__cause__, self.__context__, self.__suppress_context__ = None, None, True
            if shell is None:
                return traceback.format_exception(type(self), self, tb)
            try:  # 3 lines of context; positional, as IPython 7 (Colab) names the argument differently
                return shell.InteractiveTB.structured_traceback(type(self), self, tb, 0, 3)
            except Exception:  # noqa: BLE001: an IPython whose formatter differs: the standard format
                return traceback.format_exception(type(self), self, tb)
        except Exception:  # noqa: BLE001: a rendering problem must not hide the hint
            return traceback.format_exception_only(type(self), self)
        finally:
            self.__cause__, self.__context__, self.__suppress_context__ = cause, context, suppress


def fail(hint: str, *, cause: BaseException | None = None, code: str | None = None) -> None:
    """Raises `CheckFailed(hint, code=code)`; `cause` is the student's exception that revealed the mistake, if any.

    The hint is the whole message (what was received, what is expected). Without a cause the
    exception has no chained context, even when raised while handling another exception.
    `code` names the mistake for `rnn-course report` (`log10-not-ln`, never a measured value);
    it ends the message's last line as ` [mistake: <code>]`.
    """
    raise CheckFailed(hint, code=code) from cause


def not_implemented(what: str) -> str:
    """The hint for an answer that still raises NotImplementedError."""
    return f"{what} raised NotImplementedError: replace `raise NotImplementedError()` with your code."


def _student_error(what: str, err: Exception, not_implemented_hint) -> None:
    if isinstance(err, CheckFailed):
        raise err
    if isinstance(err, NotImplementedError):  # the code the grader gives the unanswered stub, so both count alike
        fail(not_implemented_hint(what), cause=err, code="NotImplementedError")
    fail(f"{what} raised {type(err).__name__}: {_one_line(str(err))}", cause=err, code=raised_code(err))


def raised_code(err: BaseException) -> str:
    """The mistake code of an error the student's code raised: `raised-<its class name>` (`raised-ValueError`)."""
    code = f"raised-{type(err).__name__}"
    return code if _CODE.fullmatch(code) else "raised-error"


def _one_line(message: str, limit: int = 400) -> str:
    """An error message on one line, at most `limit` characters: without terminal colours, TensorFlow's
    `{{function_node ...}}` prefix or Keras's "Arguments received by ..." listing."""
    message = message.split("Arguments received by")[0]
    message = re.sub(r"\x1b\[[0-9;]*[A-Za-z]|\{\{function_node [^}]*\}\}", "", message)
    message = " ".join(message.split()) or "(no message)"
    return message if len(message) <= limit else message[:limit] + " [...]"


@contextlib.contextmanager
def guard(what: str, *, not_implemented_hint=not_implemented):
    """Runs a block that touches the student's code; any error in it becomes a hint.

    `what` names what the block does ("keras.layers.RNN(ElmanCell(4)) on inputs of shape (2, 6, 3)");
    the hint reads "{what} raised {type}: {message}" (the message on one line, at most 400
    characters), or `not_implemented_hint(what)` for NotImplementedError. A `CheckFailed` passes through.
    """
    try:
        yield
    except Exception as err:  # noqa: BLE001: the student's error, reported with what was being done
        _student_error(what, err, not_implemented_hint)


_MISSING = object()


def attribute(obj, name: str, *, owner: str, expected: str, default=_MISSING):
    """`obj.name` on a student's object, through a guard.

    A missing attribute returns `default` if one is given, and otherwise fails with
    "{owner} has no attribute `name`. Expected {expected}." Any other error raised while
    reading it (a property that raises) fails with what was read and the error.
    """
    try:
        return getattr(obj, name)
    except AttributeError as err:
        if default is not _MISSING:
            return default
        fail(f"{owner} has no attribute `{name}`. Expected {expected}.", cause=err, code="missing-attribute")
    except Exception as err:  # noqa: BLE001
        _student_error(f"reading {owner}.{name}", err, not_implemented)


def method(obj, name: str, *, owner: str, expected: str):
    """The bound method `obj.name` of a student's object; fails with a hint if it is missing or not callable."""
    value = attribute(obj, name, owner=owner, expected=f"a method `{name}`: {expected}")
    if not callable(value):
        fail(f"{owner}.{name} is {type(value).__name__} {_shown(value)}, not a method. Expected {expected}.",
             code="not-a-method")
    return value


def _shown(value, limit: int = 120) -> str:
    """`repr(value)` of a student's object, at most `limit` characters (and never an error)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001: a student's __repr__ may raise
        return f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit] + "..."


def passed(message: str) -> None:
    print(f"✓ {message}")


def to_numpy(x, what: str = "the value") -> np.ndarray:
    """Any backend tensor (or nested list) as a float64 numpy array.

    Raises:
        CheckFailed: if `x` (what the student returned, named by `what`) is not numbers,
            saying what was received.
    """
    try:
        if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
            try:
                x = x.numpy()
            except Exception:  # e.g. a torch tensor that requires grad
                x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=np.float64)
    except Exception as err:  # noqa: BLE001: what the student returned is not numbers
        fail(f"{what}: expected numbers (a tensor, array or float). Received {type(x).__name__} {_shown(x)} "
             f"({type(err).__name__}: {' '.join(str(err).split())[:200]}).", cause=err, code="not-numeric")


def expect_close(actual, expected, *, what: str, hint: str, rtol: float = 1e-5, atol: float = 1e-6,
                 code: str | None = None) -> None:
    """Fails with `hint` unless `actual` matches `expected` in shape and value.

    The mistake code is `wrong-shape` for a shape that differs, and otherwise `code` (what `hint`
    names; without one, the code `hint` is marked with, see `mark`), or without either `not-finite`
    for NaN or inf and `wrong-values` for values that differ.
    """
    code = code or ([None] + _MARK.findall(hint))[-1]
    a, e = to_numpy(actual, what), to_numpy(expected, f"the reference for {what}")
    if a.shape != e.shape:
        fail(f"{what}: expected shape {e.shape}, received shape {a.shape}. {hint}", code="wrong-shape")
    if not np.all(np.isfinite(a)):
        fail(f"{what}: contains NaN or inf. {hint}", code=code or "not-finite")
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e)))
        fail(f"{what}: differs from the reference by up to {worst:.3g} (tolerance {atol:g} + {rtol:g}·|ref|). {hint}",
             code=code or "wrong-values")
