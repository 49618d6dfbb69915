"""The course's own exceptions: each says what was received and what is expected.

They subclass `ValueError`, so code that already catches bad values keeps working,
and the CLI turns them into one clear line instead of a traceback.
"""


class CourseError(ValueError):
    """Base class of every error the course raises on bad input."""


class CorpusError(CourseError):
    """An unknown corpus or split, or a missing or corrupt data file."""


class BackendError(CourseError):
    """An unknown or unavailable Keras backend."""


class NotebookFormatError(CourseError):
    """A notebook whose nbgrader metadata is broken (duplicate grade_id, no points, ...)."""
