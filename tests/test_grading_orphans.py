"""Answer cells that lost their nbgrader metadata (re-created by hand, saved by an editor that drops it).

A student's own code must never be replaced by the unanswered stub. An answer
cell without metadata is matched by what it defines: the last cell between the
neighbouring matched cells that defines every top-level name of the answer's
stub; else by its place (the only unmatched cell there). When no cell matches,
the stub runs only if no cell the student added defines one of its names. The
variants run on the small fixture `90_fixture_sums` (10 points: q1 2, q2 3,
q3 5), made to look like the real notebooks: markdown without metadata and
plain code cells between graded ones. One test grades the real notebook 01.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import grade_notebook  # noqa: E402
from rnn_course.grading.restore import defined_names, load_source, restore  # noqa: E402

SOURCE = B.SOLUTIONS / B.SUMS
LIMITS = dict(cell_timeout=10, total_timeout=90, memory_limit_mb=1500, check_modules=("coursechecks",))
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path):
    return B.install_checks(tmp_path / "checks")


def like_the_real_notebooks(answers):
    """The fixture's student version with `answers`, markdown stripped of metadata, and a plain code
    cell (the instructor's demo, as in notebook 01) right before every answer cell."""
    nb = B.submission(answers)
    for cell in list(nb.cells):
        if cell.cell_type == "markdown":
            cell.metadata = {}
        elif cell.metadata["nbgrader"].get("solution"):
            nb.cells.insert(nb.cells.index(cell), nbformat.v4.new_code_cell("print('a demo of the last answer')"))
    return nb


def orphan(nb, grade_id):
    """Drops the nbgrader metadata of the cell `grade_id` (as a hand-made copy would lack it)."""
    B.cell(nb, grade_id).metadata = {}
    return nb


def grade(nb, tmp_path, env):
    return grade_notebook(B.write(nb, tmp_path / "submissions" / "alice" / B.SUMS), SOURCE, env=env, **LIMITS)


def scores(result):
    return {t.grade_id: t.score for t in result.tests}


def plan(nb):
    """The restored plan's code cells as (role, grade_id, origin, first line), and the notes."""
    cells, notes = restore(load_source(SOURCE), nb)
    return [(c.role, c.grade_id, c.origin, c.source.splitlines()[0] if c.source else "")
            for c in cells if c.cell_type == "code"], notes


FULL = {"q1_add_tests": 2, "q2_mean_tests": 3, "q3_norm_tests": 5}


def test_an_orphaned_answer_is_matched_by_what_it_defines(tmp_path, env):
    # The old grader found two unmatched code cells between q2's neighbours (the demo and the answer),
    # ran the stub after the student's answer and gave 7/10.
    nb = orphan(like_the_real_notebooks(B.RIGHT), "q2_mean")
    result = grade(nb, tmp_path, env)
    assert scores(result) == FULL, result.summary()
    assert any("q2_mean had lost its nbgrader metadata; it was matched by the names it defines (mean)" in n
               for n in result.notes), result.notes


def test_every_answer_orphaned_with_plain_cells_between(tmp_path, env):
    nb = like_the_real_notebooks(B.RIGHT)
    for gid in B.RIGHT:
        orphan(nb, gid)
    result = grade(nb, tmp_path, env)
    assert scores(result) == FULL, result.summary()   # the old grader gave 0/10


def test_the_last_definition_before_the_test_is_the_answer(tmp_path, env):
    # A first wrong attempt and then the right one, both without metadata: Python keeps the last
    # definition, so does the grader; the first attempt runs before it as an added cell.
    nb = orphan(like_the_real_notebooks(B.RIGHT), "q2_mean")
    at = nb.cells.index(B.cell(nb, "q2_mean_tests")) - 1
    nb.cells.insert(at, nbformat.v4.new_code_cell(B.WRONG["q2_mean"]))
    cells, _ = plan(nb)
    answer = next(c for c in cells if c[1] == "q2_mean")
    assert answer[2] == "submission" and answer[3] == "def mean(xs):"
    k = cells.index(answer)
    assert cells[k - 1] == ("student", None, "submission", "def mean(xs):")      # the first attempt, before
    assert scores(grade(nb, tmp_path, env)) == FULL                              # the old grader gave 7/10


def test_an_answer_split_over_a_helper_cell(tmp_path, env):
    nb = orphan(like_the_real_notebooks({**B.RIGHT, "q2_mean": "def mean(xs):\n    return total(xs) / len(xs)\n"}),
                "q2_mean")
    nb.cells.insert(nb.cells.index(B.cell(nb, "q2_mean_tests")) - 1,
                    nbformat.v4.new_code_cell("def total(xs):\n    return sum(xs)\n"))
    result = grade(nb, tmp_path, env)
    assert scores(result) == FULL, result.summary()   # the old grader gave 7/10


def test_a_definition_moved_above_its_window_is_never_overwritten_by_the_stub(tmp_path, env):
    # The student wrote mean() in a cell of their own near the top and deleted the answer cell:
    # the old grader ran the stub at the answer's place, after it, and gave 7/10.
    nb = B.submission(B.RIGHT)
    nb.cells.remove(B.cell(nb, "q2_mean"))
    nb.cells.insert(1, nbformat.v4.new_code_cell(B.RIGHT["q2_mean"]))
    result = grade(nb, tmp_path, env)
    assert scores(result) == FULL, result.summary()
    assert any("q2_mean was missing; no stub runs for it because a cell you added defines mean" in n
               for n in result.notes), result.notes


def test_a_deleted_answer_with_unrelated_added_cells_still_runs_the_stub(tmp_path, env):
    nb = like_the_real_notebooks(B.RIGHT)
    nb.cells.remove(B.cell(nb, "q2_mean"))
    nb.cells.insert(nb.cells.index(B.cell(nb, "q2_mean_tests")), nbformat.v4.new_code_cell("average = 3\n"))
    result = grade(nb, tmp_path, env)
    assert scores(result) == {**FULL, "q2_mean_tests": 0}
    assert "NotImplementedError" in next(t.output for t in result.tests if t.grade_id == "q2_mean_tests")
    assert any("q2_mean was missing; it runs as the unanswered stub" in n for n in result.notes)


def test_an_instructor_demo_cell_is_never_taken_for_an_answer():
    # The demo cell defines `mean` too (an instructor's plain cell may reuse a name): it is the
    # source's own text, so only the student's orphan can be q2's answer.
    nb = orphan(like_the_real_notebooks(B.RIGHT), "q2_mean")
    demo = next(c for c in nb.cells if c.source.startswith("print('a demo"))
    demo.source = "mean = None  # the demo"
    src = load_source(SOURCE)
    src.plain_code.append((0, demo.source))
    cells, _ = restore(src, nb)
    answer = next(c for c in cells if c.grade_id == "q2_mean")
    assert answer.origin == "submission" and answer.source == B.RIGHT["q2_mean"]


def test_defined_names():
    assert defined_names("import numpy as np\nfrom x import y as z\ndef f():\n    g = 1\nclass C:\n    pass\n"
                         "a, (b, *c) = 1, (2, 3)\nd: int = 4\ne: int\nif True:\n    h = 5\n") == \
        {"np", "z", "f", "C", "a", "b", "c", "d"}
    assert defined_names("%matplotlib inline\ndef f():\n    pass") == {"f"}
    assert defined_names("def broken(:") == set()


@pytest.mark.notebook
def test_notebook_01_with_two_orphaned_answers_keeps_full_marks(tmp_path):
    """The issue's case (9/11 before): answers re-created by hand in the real notebook, which has plain
    cells between graded ones; one of them defines two functions (exercise 1.6)."""
    name = "01_ngram_language_models"
    solution = nbformat.read(str(ROOT / "solutions" / f"{name}.ipynb"), 4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), 4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
            if gid in ("q1_2_mle_prob", "q1_6_temperature"):
                cell.metadata = {}
    path = tmp_path / "alice" / f"{name}.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    result = grade_notebook(path, ROOT / "solutions" / f"{name}.ipynb")
    assert (result.score, result.max_score) == (11, 11), result.summary()
    assert sum("matched by the names it defines" in n for n in result.notes) == 2, result.notes
    assert result.flags == []
