"""The real nbgrader on a real course notebook (01): its `generate_assignment` gives the same
student notebook as `rnn-course assign`, and its `autograde` scores the solution in full, the
untouched student version 0, and a submission with one wrong answer all but that exercise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NAME = "01_ngram_language_models"
ASSIGNMENT = "ps01"


def _nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "RNN_COURSE_FAST": "1",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def _graded(nb) -> dict[str, str]:
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells if "grade_id" in c.metadata.get("nbgrader", {})}


def test_nbgrader_generates_our_student_notebook_and_autogrades_it(tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    (course / "source" / ASSIGNMENT).mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'rnn-course'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n"
        "c.Execute.timeout = 120\n"
    )
    source_path = course / "source" / ASSIGNMENT / f"{NAME}.ipynb"
    shutil.copy(ROOT / "solutions" / f"{NAME}.ipynb", source_path)
    _nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")

    release = nbformat.read(str(course / "release" / ASSIGNMENT / f"{NAME}.ipynb"), 4)
    ours = nbformat.read(str(ROOT / "notebooks" / f"{NAME}.ipynb"), 4)
    assert [c.source for c in release.cells] == [c.source for c in ours.cells]
    assert [c.metadata.get("nbgrader") for c in release.cells] == [c.metadata.get("nbgrader") for c in ours.cells]

    solution = nbformat.read(str(source_path), 4)
    answers = {gid: src for gid, src in _graded(solution).items() if not gid.endswith("_tests") and gid != "setup"}
    wrong = nbformat.read(str(course / "release" / ASSIGNMENT / f"{NAME}.ipynb"), 4)
    for cell in wrong.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
        if gid == "q1_5_perplexity":
            cell.source = "def perplexity(log_probs):\n    return float(10 ** (-np.mean(log_probs)))  # base 10: wrong\n"
    submissions = {"instructor": solution, "untouched": release, "wrong": wrong}
    for student, nb in submissions.items():
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{NAME}.ipynb"))
    _nbgrader(course, "autograde", ASSIGNMENT, "--force")

    test_ids = [gid for gid in _graded(solution) if gid.endswith("_tests")]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {student: {gid: gb.find_grade(gid, NAME, ASSIGNMENT, student).score for gid in test_ids}
                  for student in submissions}
        max_scores = {gid: gb.find_grade(gid, NAME, ASSIGNMENT, "instructor").max_score for gid in test_ids}
    assert scores["instructor"] == max_scores
    assert set(scores["untouched"].values()) == {0}
    assert scores["wrong"] == {**max_scores, "q1_5_perplexity_tests": 0}
