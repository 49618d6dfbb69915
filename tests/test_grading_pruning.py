"""The grader skips the instructor's experiment cells that no answer or test needs, and nothing else.

Each case is a small instructor notebook whose plain cells are experiments; the
analysis (`rnn_course.grading.pruning.skippable`) must keep every cell a later
cell might depend on. Two cases then run in a real kernel, with and without
`run_all`, and must score the same. That every course notebook's scores are
unchanged is proved by the grading baselines, which run with skipping on
(`tests/notebooks/test_gradescope_course.py`: each right answer full marks,
the wrong one 0), and by `bench/class_grading.py` (the same scores with
`--run-all`).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import grade_notebook  # noqa: E402
from rnn_course.grading.pruning import CellNames, skippable  # noqa: E402
from rnn_course.grading.restore import load_source, restore  # noqa: E402

SETUP = B._code("import math\nDATA = [3, 4]", grade_id="setup", locked=True)
ANSWER = B._code("def norm(v):\n    ### BEGIN SOLUTION\n    return math.sqrt(sum(x * x for x in v))\n"
                 "    ### END SOLUTION", grade_id="q1_norm", solution=True)


def _test_cell(source: str):
    return B._code(source, grade_id="q1_norm_tests", grade=True, locked=True, points=2)


def _plan(tmp_path, cells, submission=None):
    """Writes an instructor notebook of `cells` and restores `submission` (default: the notebook itself)."""
    nb = B._notebook(cells)
    path = B.write(nb, tmp_path / "solutions" / "92_pruning.ipynb")
    source = load_source(path)
    plan, _ = restore(source, submission if submission is not None else nb)
    return plan, skippable(plan, source)


def _skipped_text(plan, skip) -> list[str]:
    return [plan[k].source for k in sorted(skip)]


def test_an_experiment_no_test_reads_is_skipped_and_what_a_test_reads_runs(tmp_path):
    plan, skip = _plan(tmp_path, [
        SETUP, ANSWER,
        B._code("history = [norm([i, i]) for i in range(10**6)]  # an experiment"),
        B._code("SCALE = 2.0  # read by the test"),
        _test_cell("assert norm(DATA) * SCALE == 10.0")])
    assert _skipped_text(plan, skip) == ["history = [norm([i, i]) for i in range(10**6)]  # an experiment"]


@pytest.mark.parametrize("experiment, why", [
    ("DATA.append(5)", "a method call may change data a test reads"),
    ("DATA[0] = 6", "an item of data a test reads is assigned"),
    ("shuffle_in_place(DATA)", "data a test reads is passed to a call"),
    ("def norm(v):\n    return 0.0", "it redefines a name the test reads"),
    ("math.pi = 3", "an attribute of a name the test reads is assigned"),
    ("for DATA in ([1, 2],):\n    pass", "a loop rebinds a name the test reads"),
    ("with open(__file__) as DATA:\n    pass", "`with ... as` rebinds a name the test reads"),
    ("del DATA", "it deletes a name the test reads"),
    ("def bump():\n    global DATA\n    DATA = [0]\nbump()", "`global` in a function"),
    ("import math", "an import"),
    ("%time x = 1", "an IPython magic"),
    ("globals()['DATA'] = [0]", "it writes the namespace dynamically"),
    ("exec('DATA = [0]')", "exec"),
])
def test_an_experiment_that_may_change_what_a_test_reads_runs(tmp_path, experiment, why):
    plan, skip = _plan(tmp_path, [
        SETUP, B._code("def shuffle_in_place(xs):\n    xs.reverse()"), ANSWER, B._code(experiment),
        _test_cell("assert norm(DATA) == 5.0")])
    assert experiment not in _skipped_text(plan, skip), why


def test_a_local_name_in_a_function_is_not_a_read_of_the_global(tmp_path):
    # `history` inside the answer is a local variable: the global `history` is not needed.
    answer = B._code("def norm(v):\n    ### BEGIN SOLUTION\n    history = [x * x for x in v]\n"
                     "    return math.sqrt(sum(history))\n    ### END SOLUTION", grade_id="q1_norm", solution=True)
    plan, skip = _plan(tmp_path, [SETUP, answer, B._code("history = norm([6, 8])"),
                                  _test_cell("assert norm(DATA) == 5.0")])
    assert _skipped_text(plan, skip) == ["history = norm([6, 8])"]


def test_a_cell_that_reads_the_namespace_dynamically_keeps_every_cell_before_it(tmp_path):
    plan, skip = _plan(tmp_path, [SETUP, ANSWER, B._code("history = 1"), B._code("late = 2"),
                                  _test_cell("assert norm(DATA) == 5.0\nassert 'history' in globals()")])
    assert skip == {}


def test_a_needed_experiment_keeps_what_it_reads(tmp_path):
    plan, skip = _plan(tmp_path, [SETUP, ANSWER, B._code("raw = [6, 8]"), B._code("HALF = [x / 2 for x in raw]"),
                                  _test_cell("assert norm(HALF) == 5.0")])
    assert skip == {}


def test_cells_the_student_edited_or_added_run_and_keep_what_they_read(tmp_path):
    cells = [SETUP, ANSWER, B._code("history = [norm([i]) for i in range(3)]"), B._code("other = 1"),
             _test_cell("assert norm(DATA) == 5.0")]
    submission = B.student_version(B._notebook(copy.deepcopy(cells)))
    submission.cells[1].source = ANSWER.source.replace("### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION", "")
    submission.cells[3].source = "other = 2  # edited by the student"
    submission.cells.insert(4, nbformat.v4.new_code_cell("print(history)  # added by the student"))
    plan, skip = _plan(tmp_path, cells, submission)
    assert skip == {}


def test_unreadable_cells_are_never_skipped_and_names_are_scoped_as_python_scopes_them():
    assert not CellNames("def broken(:\n    pass").plain
    names = CellNames("x = f(y)\ngrid[r, :len(v)] = v\ndef g(z):\n    return z + w + len(z)")
    assert (names.reads, names.deferred) == ({"f", "y", "grid", "r", "len", "v"}, {"w", "len"})
    assert names.data == {"x", "grid"} and names.binds == {"x", "grid", "g"}


# ---------------------------------------------------------------------- in a real kernel
LIMITS = dict(cell_timeout=10, total_timeout=60, memory_limit_mb=1500, check_modules=("coursechecks",))


@pytest.fixture
def env(tmp_path):
    return B.install_checks(tmp_path / "checks")


def test_skipping_changes_no_score_and_the_executed_notebook_says_what_was_skipped(tmp_path, env):
    cells = [SETUP, ANSWER, B._code("print('experiment ran')"), B._code("DATA.reverse()  # harmless"),
             _test_cell("assert norm(DATA) == 5.0")]
    source = B.write(B._notebook(cells), tmp_path / "solutions" / "92_pruning.ipynb")
    wrong = B.student_version(B._notebook(copy.deepcopy(cells)))
    wrong.cells[1].source = "def norm(v):\n    return sum(v)"
    submission = B.write(wrong, tmp_path / "submissions" / "bob" / "92_pruning.ipynb")
    for path, points in ((source, 2.0), (submission, 0.0)):
        pruned = grade_notebook(path, source, env=env, **LIMITS)
        full = grade_notebook(path, source, env=env, run_all=True, **LIMITS)
        assert [(t.grade_id, t.score) for t in pruned.tests] == [(t.grade_id, t.score) for t in full.tests] \
            == [("q1_norm_tests", points)]
        ran = {c.source: "".join(o.get("text", "") for o in c.outputs) for c in pruned.notebook.cells
               if c.cell_type == "code"}
        assert ran["print('experiment ran')"].startswith("[grader] skipped by the grader")
        assert "experiment ran" in "".join(o.get("text", "") for c in full.notebook.cells if c.cell_type == "code"
                                           for o in c.outputs)
        assert "[grader]" not in ran["DATA.reverse()  # harmless"]  # it may change DATA: it ran
