"""The grader's exceptions."""

from __future__ import annotations

from rnn_course.errors import CourseError


class GradingError(CourseError):
    """The grader cannot do its job: a missing or broken source, a bad option, a crashed sandbox.

    The CLI prints it as one line and exits with status 2.
    """


class SubmissionRejected(GradingError):
    """The submission cannot be graded (not a notebook, wrong assignment, ...).

    `grade_notebook` turns it into a result with score 0 and this message as the reason.
    """
