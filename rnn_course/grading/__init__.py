"""Autograding that instructors can trust.

Public API:

- `grade_notebook(submission, source=None, ...) -> GradeResult`: restore a
  submission around its instructor source, run it in a limited kernel, score
  its test cells the way nbgrader does;
- `grade_many(paths, out_csv, jobs=None, ...)`: many submissions in parallel,
  one CSV row each; a bad submission never stops the batch;
- `find_source(submission)`: the `solutions/` notebook a file name refers to;
- `GradeResult.to_gradescope()` / `write_gradescope()`: Gradescope's results.json;
- `register_cli(subparsers)`: the `rnn-course grade` and `gradescope-zip` commands.

Importing this package is cheap: the grader (nbformat, nbgrader) loads on first
use of `grade_notebook` and friends. See docs/grading.md for the instructor's guide.
"""

from __future__ import annotations

import importlib

from rnn_course.grading.cli import register_cli
from rnn_course.grading.errors import GradingError, SubmissionRejected
from rnn_course.grading.limits import (
    DEFAULT_CELL_TIMEOUT, DEFAULT_CHECK_MODULES, DEFAULT_MEMORY_MB, DEFAULT_TOTAL_TIMEOUT)
from rnn_course.grading.results import RESULTS_SCHEMA, GradeResult, TestResult

_LAZY = {
    "grade_notebook": "rnn_course.grading.grader",
    "find_source": "rnn_course.grading.grader",
    "grade_many": "rnn_course.grading.batch",
}

__all__ = [
    "DEFAULT_CELL_TIMEOUT", "DEFAULT_CHECK_MODULES", "DEFAULT_MEMORY_MB", "DEFAULT_TOTAL_TIMEOUT",
    "GradeResult", "GradingError", "RESULTS_SCHEMA", "SubmissionRejected", "TestResult", "find_source",
    "grade_many", "grade_notebook", "register_cli",
]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'rnn_course.grading' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
