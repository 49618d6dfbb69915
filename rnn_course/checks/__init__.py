"""The public checks that students call, one module per notebook.

A check takes the student's answer (a function, a layer class, a value), tests
properties and reference values computed from Keras's own layers or the known
formulas, and either prints one line starting with "✓" or raises `CheckFailed`
with a hint that isolates the wrong term, for example "the forget gate multiplies
the previous cell state; yours does not".

`CheckFailed` is an `AssertionError`, so a graded test cell that calls a check
fails, and scores 0, exactly when the check does. Checks write only to stdout:
nbgrader scores a test cell that writes to stderr as 0.

| module                         | notebook |
|--------------------------------|----------|
| `rnn_course.checks.ngram_lm`   | 01 n-gram language models |
| `rnn_course.checks.rnn_lm`     | 02 RNN language models |
"""

from __future__ import annotations

import numpy as np


class CheckFailed(AssertionError):
    """A check found a mistake; the message is the hint shown to the student."""


def fail(hint: str) -> None:
    raise CheckFailed(hint)


def passed(message: str) -> None:
    print(f"✓ {message}")


def to_numpy(x) -> np.ndarray:
    """Any backend tensor (or nested list) as a float64 numpy array."""
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        try:
            x = x.numpy()
        except Exception:  # e.g. a torch tensor that requires grad
            x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def expect_close(actual, expected, *, what: str, hint: str, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """Fails with `hint` unless `actual` matches `expected` in shape and value."""
    a, e = to_numpy(actual), to_numpy(expected)
    if a.shape != e.shape:
        fail(f"{what}: expected shape {e.shape}, received shape {a.shape}. {hint}")
    if not np.all(np.isfinite(a)):
        fail(f"{what}: contains NaN or inf. {hint}")
    if not np.allclose(a, e, rtol=rtol, atol=atol):
        worst = float(np.max(np.abs(a - e)))
        fail(f"{what}: differs from the reference by up to {worst:.3g} (tolerance {atol:g} + {rtol:g}·|ref|). {hint}")
