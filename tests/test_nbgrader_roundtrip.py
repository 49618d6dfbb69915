"""The real nbgrader on a fixture assignment, and our grader agreeing with it cell by cell.

A temporary nbgrader course directory gets the fixture `90_fixture_sums` as
`source/ps1/` (with its check module beside it). `nbgrader generate_assignment`
makes the student version; `nbgrader autograde` then grades three submissions:
the solution (full marks), the untouched student version (0) and a wrong one
(partial). Everything lives in tmp_path, with its own sqlite gradebook.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import grade_many  # noqa: E402

ASSIGNMENT = "ps1"
NOTEBOOK = Path(B.SUMS).stem
EXPECTED = {
    "instructor": {"q1_add_tests": 2, "q2_mean_tests": 3, "q3_norm_tests": 5},
    "untouched": {"q1_add_tests": 0, "q2_mean_tests": 0, "q3_norm_tests": 0},
    "wrong": {"q1_add_tests": 2, "q2_mean_tests": 0, "q3_norm_tests": 5},
}


def nbgrader(course: Path, *args: str) -> None:
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          env=env, timeout=240)
    assert proc.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


def make_course(course: Path) -> Path:
    """Writes the course config and source/ps1 (the fixture and its check module)."""
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'rnn-course-fixture'\n"
        f"c.CourseDirectory.db_url = 'sqlite:///{course / 'gradebook.db'}'\n"
        "c.Execute.timeout = 60\n"
    )
    src = course / "source" / ASSIGNMENT
    src.mkdir(parents=True)
    shutil.copy(B.SOLUTIONS / B.SUMS, src / B.SUMS)
    shutil.copy(B.FIXTURES / "coursechecks.py", src / "coursechecks.py")
    return src


def test_nbgrader_round_trip_and_our_grader_agrees(tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    course.mkdir()
    src = make_course(course)
    nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    release = course / "release" / ASSIGNMENT / B.SUMS
    text = release.read_text()
    assert "raise NotImplementedError" in text
    assert "return a + b" not in text and "add(10, -3)" not in text and "_ref" not in text

    student = nbformat.read(str(release), as_version=4)
    wrong = nbformat.read(str(release), as_version=4)
    for gid, answer in {**B.RIGHT, "q2_mean": B.WRONG["q2_mean"]}.items():
        B.cell(wrong, gid).source = answer
    submissions = {"instructor": nbformat.read(str(src / B.SUMS), as_version=4), "untouched": student,
                   "wrong": wrong}
    paths = {name: B.write(nb, course / "submitted" / name / ASSIGNMENT / B.SUMS)
             for name, nb in submissions.items()}
    nbgrader(course, "autograde", ASSIGNMENT, "--force")

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name, expected in EXPECTED.items():
            got = {gid: gb.find_grade(gid, NOTEBOOK, ASSIGNMENT, name).score for gid in expected}
            assert got == expected, f"nbgrader scored {name}: {got}"
            assert gb.find_submission_notebook(NOTEBOOK, ASSIGNMENT, name).score == sum(expected.values())

    ours = grade_many([paths[name] for name in EXPECTED], None, jobs=3, source_path=src / B.SUMS,
                      env={"PYTHONPATH": str(src)}, cell_timeout=10, total_timeout=60, memory_limit_mb=1500,
                      check_modules=("coursechecks",))
    for name, result in zip(EXPECTED, ours):
        assert result.scores == EXPECTED[name], f"our grader scored {name}: {result.scores}"
