"""The real nbgrader on the course notebooks, for the properties only it proves.

- For every graded notebook, `nbgrader generate_assignment` gives exactly the student notebook
  that `rnn-course assign` wrote to notebooks/ (same cell sources, same nbgrader metadata).
  Generating executes nothing, so this costs seconds.
- For one notebook (01, the cheapest to run), `nbgrader autograde` scores a submission with one
  wrong answer (tests/course_submissions.py) all but that exercise: the same scores, cell by cell,
  that our grader gives the same submission tampered with
  (tests/notebooks/test_gradescope_course.py). The other notebooks' test cells cannot be scored
  differently by nbgrader and by us: `rnn-course assign` refuses a test cell whose last statement
  is a bare value (nbgrader would read it as partial credit), and the student-notebook run
  proves that no test cell writes to stderr (nbgrader scores that 0).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from course_submissions import GRADED, ROOT, expected_scores, wrong_submission

AUTOGRADED = "01_ngram_language_models"


def _nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "RNN_COURSE_FAST": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def _course(tmp_path: Path, names: list[str], assignment: str = "ps") -> Path:
    """An nbgrader course directory whose one assignment holds the solutions `names`, generated."""
    course = tmp_path / "course"
    (course / "source" / assignment).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'rnn-course'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n"
        "c.Execute.timeout = 120\n"
    )
    for name in names:
        shutil.copy(ROOT / "solutions" / f"{name}.ipynb", course / "source" / assignment / f"{name}.ipynb")
    _nbgrader(course, "generate_assignment", assignment, "--force")
    return course


def test_nbgrader_generates_our_student_notebooks(tmp_path):
    """One generate_assignment for every graded notebook (nbgrader's start-up is most of its cost)."""
    course = _course(tmp_path, GRADED)
    for name in GRADED:
        release = nbformat.read(str(course / "release" / "ps" / f"{name}.ipynb"), 4)
        ours = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), 4)
        assert [c.source for c in release.cells] == [c.source for c in ours.cells], name
        assert ([c.metadata.get("nbgrader") for c in release.cells]
                == [c.metadata.get("nbgrader") for c in ours.cells]), name


def test_nbgrader_autogrades_a_wrong_submission_as_our_grader_does(tmp_path):
    from nbgrader.api import Gradebook

    name, assignment = AUTOGRADED, "ps"
    course = _course(tmp_path, [name], assignment)
    wrong, wrong_id = wrong_submission(name, course / "release" / assignment / f"{name}.ipynb")
    folder = course / "submitted" / "wrong" / assignment
    folder.mkdir(parents=True)
    nbformat.write(wrong, str(folder / f"{name}.ipynb"))
    _nbgrader(course, "autograde", assignment, "--force")

    expected = expected_scores(name, wrong_id)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {gid: gb.find_grade(gid, name, assignment, "wrong").score for gid in expected}
    assert scores == expected
