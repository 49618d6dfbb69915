"""The real course notebooks through the grader: the solution earns full marks and the
untouched student version earns 0 (the grader's adversarial cases are tested on small
fixtures in tests/test_grading.py)."""

from pathlib import Path

import nbformat
import pytest

from rnn_course.grading import grade_notebook

ROOT = Path(__file__).resolve().parents[2]
GRADED = [p for p in sorted((ROOT / "solutions").glob("*.ipynb"))
          if any(c.metadata.get("nbgrader", {}).get("grade") for c in nbformat.read(str(p), 4).cells)]


@pytest.mark.parametrize("source", GRADED, ids=[p.stem for p in GRADED])
def test_solution_gets_full_marks_and_untouched_student_version_zero(source, tmp_path):
    solution = grade_notebook(source, source)
    assert solution.max_score > 0
    assert solution.score == solution.max_score, solution.summary()

    student = tmp_path / source.name
    student.write_text((ROOT / "notebooks" / source.name).read_text())
    untouched = grade_notebook(student, source)
    assert untouched.max_score == solution.max_score
    assert untouched.score == 0, untouched.summary()
