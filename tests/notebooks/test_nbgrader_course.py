"""The real nbgrader on every graded course notebook: its `generate_assignment` gives the same
student notebook as `rnn-course assign`, and its `autograde` scores the solution in full, the
untouched student version 0, and a submission with one wrong answer all but that exercise;
`rnn-course grade` gives that submission the same points, cell by cell.

The wrong answers are in tests/course_submissions.py: a new graded notebook must add one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from rnn_course.grading import grade_notebook

from course_submissions import GRADED, ROOT, wrong_submission


def _nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "RNN_COURSE_FAST": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def _graded(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if "grade_id" in c.metadata.get("nbgrader", {})}


@pytest.mark.parametrize("name", GRADED)
def test_nbgrader_generates_our_student_notebook_and_autogrades_it(name, tmp_path):
    from nbgrader.api import Gradebook

    assignment = f"ps{name[:2]}"
    course = tmp_path / "course"
    (course / "source" / assignment).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'rnn-course'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n"
        "c.Execute.timeout = 120\n"
    )
    source_path = course / "source" / assignment / f"{name}.ipynb"
    shutil.copy(ROOT / "solutions" / f"{name}.ipynb", source_path)
    _nbgrader(course, "generate_assignment", assignment, "--force")

    release = nbformat.read(str(course / "release" / assignment / f"{name}.ipynb"), 4)
    ours = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), 4)
    assert [c.source for c in release.cells] == [c.source for c in ours.cells]
    assert [c.metadata.get("nbgrader") for c in release.cells] == [c.metadata.get("nbgrader") for c in ours.cells]

    solution = nbformat.read(str(source_path), 4)
    wrong, wrong_id = wrong_submission(name, course / "release" / assignment / f"{name}.ipynb")
    submissions = {"instructor": solution, "untouched": release, "wrong": wrong}
    for student, nb in submissions.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    _nbgrader(course, "autograde", assignment, "--force")

    test_ids = [gid for gid in _graded(solution) if gid.endswith("_tests")]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {student: {gid: gb.find_grade(gid, name, assignment, student).score for gid in test_ids}
                  for student in submissions}
        max_scores = {gid: gb.find_grade(gid, name, assignment, "instructor").max_score for gid in test_ids}
    assert scores["instructor"] == max_scores
    assert set(scores["untouched"].values()) == {0}
    assert scores["wrong"] == {**max_scores, f"{wrong_id}_tests": 0}

    # Our grader agrees with nbgrader on the wrong submission, cell by cell, and says why in results.json.
    submitted = course / "submitted" / "wrong" / assignment / f"{name}.ipynb"
    ours = grade_notebook(submitted, ROOT / "solutions" / f"{name}.ipynb")
    assert ours.scores == scores["wrong"], ours.summary()
    failed = next(t for t in ours.to_gradescope()["tests"] if t["extra_data"]["grade_id"] == f"{wrong_id}_tests")
    assert failed["status"] == "failed" and failed["score"] == 0
    assert "CheckFailed" in failed["output"] or "AssertionError" in failed["output"], failed["output"]
