"""Run a solution notebook's graded cells outside Jupyter, to prove they reject wrong answers.

`answer_namespace` executes an answer cell (the instructor's solution) and returns its
definitions; `run_test_cell` executes a test cell, public part and hidden part, against a
namespace where the student's function may have been replaced by a wrong variant.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import nbformat

from rnn_course.assignment import MARKERS

ROOT = Path(__file__).resolve().parents[1]


@lru_cache(maxsize=None)
def _cells(notebook: str) -> dict[str, str]:
    nb = nbformat.read(str(ROOT / "solutions" / notebook), as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if "grade_id" in c.metadata.get("nbgrader", {})}


def cell_source(notebook: str, grade_id: str, part: str = "all") -> str:
    """The source of a graded cell; `part="hidden"` keeps only the hidden tests,
    `part="public"` drops them."""
    source = _cells(notebook)[grade_id]
    begin, end = MARKERS["hidden"]
    pattern = re.escape(begin) + r"(.*?)" + re.escape(end)
    if part == "hidden":
        return "\n".join(re.findall(pattern, source, flags=re.S))
    if part == "public":
        return re.sub(pattern, "", source, flags=re.S)
    return source


def answer_namespace(notebook: str, grade_id: str, prelude: dict) -> dict:
    namespace = dict(prelude)
    exec(compile(cell_source(notebook, grade_id), f"<{grade_id}>", "exec"), namespace)
    return namespace


def run_test_cell(notebook: str, grade_id: str, namespace: dict, part: str = "all") -> None:
    """Executes the test cell `{grade_id}_tests` of the exercise `grade_id`."""
    test_id = f"{grade_id}_tests"
    exec(compile(cell_source(notebook, test_id, part), f"<{test_id}:{part}>", "exec"), dict(namespace))
