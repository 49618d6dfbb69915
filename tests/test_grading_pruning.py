"""The grader skips the instructor's tagged experiment cells that no answer or test needs, and nothing else.

Each case is a small instructor notebook whose plain cells are tagged `experiment`;
the analysis (`rnn_course.grading.pruning.skippable`) must keep every one that a
later cell might depend on (the cases of a review that tried to break it). One
case runs in a real kernel, with and without `run_all`, and must score the same.
On the course's notebooks, every tagged cell must be one the analysis skips, in
the solution and in the student version, so that a tag on a cell a test needs
fails here. That every course notebook's scores are unchanged is proved by the
grading baselines, which run with skipping on
(`tests/notebooks/test_gradescope_course.py`: each right answer full marks, the
wrong one 0), and by `bench/class_grading.py` (the same scores with `--run-all`).
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
from rnn_course.grading.restore import EXPERIMENT_TAG, load_source, read_notebook, restore  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETUP = B._code("import math\nimport os\nimport sys\nimport warnings\nimport numpy as np\nfrom pathlib import Path\n"
                "DATA = [3, 4]", grade_id="setup", locked=True)
ANSWER = B._code("def norm(v):\n    ### BEGIN SOLUTION\n    return math.sqrt(sum(x * x for x in v))\n"
                 "    ### END SOLUTION", grade_id="q1_norm", solution=True)


def _test_cell(source: str):
    return B._code(source, grade_id="q1_norm_tests", grade=True, locked=True, points=2)


def experiment(source: str):
    """A plain cell the instructor tagged as an experiment."""
    cell = B._code(source)
    cell.metadata["tags"] = [EXPERIMENT_TAG]
    return cell


def _plan(tmp_path, cells, submission=None):
    """Writes an instructor notebook of `cells` and restores `submission` (default: the notebook itself)."""
    nb = B._notebook(cells)
    path = B.write(nb, tmp_path / "solutions" / "92_pruning.ipynb")
    source = load_source(path)
    plan, _ = restore(source, submission if submission is not None else nb)
    return plan, skippable(plan, source)


def _skipped_text(plan, skip) -> list[str]:
    return [plan[k].source for k in sorted(skip)]


def test_a_tagged_experiment_no_test_reads_is_skipped_and_nothing_untagged_is(tmp_path):
    plan, skip = _plan(tmp_path, [
        SETUP, ANSWER,
        experiment("history = [norm([i, i]) for i in range(10**6)]  # an experiment"),
        B._code("curves = [norm([i]) for i in range(10**6)]  # not tagged: it runs"),
        experiment("SCALE = 2.0  # tagged, but the test reads it: it runs"),
        _test_cell("assert norm(DATA) * SCALE == 10.0")])
    assert _skipped_text(plan, skip) == ["history = [norm([i, i]) for i in range(10**6)]  # an experiment"]


# Each case: cells between the answer and the test (every plain one tagged `experiment`), and the test.
# In every case a tagged cell changes what the test reads, so skipping it would change the score.
CHANGES = {
    "a method call on data the test reads": (["DATA.append(12)"], "assert norm(DATA) == 13.0"),
    "an item assignment": (["DATA[0] = 6"], "assert norm(DATA) == 8.0"),
    "data passed to a call that changes it": (["shuffle_in_place(DATA)"], "assert DATA == [4, 3]"),
    "a redefinition of a name the test reads": (["def norm(v):\n    return 0.0"], "assert norm(DATA) == 0.0"),
    "an attribute assignment on an imported module": (["math.pi = 3"], "assert math.pi == 3"),
    "a loop that rebinds a name": (["for DATA in ([6, 8],):\n    pass"], "assert norm(DATA) == 10.0"),
    "`with ... as` that rebinds a name": (["with open(__file__) as DATA:\n    pass"], "assert DATA.closed"),
    "a deletion": (["del DATA"], "assert 'DATA' not in dir()"),
    "`global` in a function it calls": (["def bump():\n    global DATA\n    DATA = [0]\nbump()"],
                                         "assert DATA == [0]"),
    "an import": (["import fractions"], "assert fractions.Fraction(1, 2) == 0.5"),
    "an IPython magic": (["%time DATA = [6, 8]"], "assert norm(DATA) == 10.0"),
    "a write through globals()": (["globals()['DATA'] = [0]"], "assert DATA == [0]"),
    "exec": (["exec('DATA = [0]')"], "assert DATA == [0]"),
    # what a review of the first version found
    "a notebook function that changes a global, called in another cell": (
        ["def grow():\n    DATA.append(12)", "grow()"], "assert norm(DATA) == 13.0"),
    "a notebook function with `global`, called in another cell": (
        ["def bump():\n    global DATA\n    DATA = [6, 8]", "bump()"], "assert norm(DATA) == 10.0"),
    "a decorator that registers into data": (
        ["REGISTRY = {}\n\ndef register(f):\n    REGISTRY[f.__name__] = f\n    return f",
         "@register\ndef extra(v):\n    return 0"], "assert sorted(REGISTRY) == ['extra']"),
    "a change through a loop variable (freezing layers)": (
        ["class L:\n    trainable = True\n\nlayers = [L(), L()]", "for layer in layers:\n    layer.trainable = False"],
        "assert not any(l.trainable for l in layers)"),
    "an in-place += through an alias": (["alias = DATA\nalias += [12]"], "assert norm(DATA) == 13.0"),
    "an alias made in another cell": (["alias = DATA", "alias.append(12)"], "assert norm(DATA) == 13.0"),
    "a class attribute changed through its method": (
        ["class Config:\n    extra = []", "Config.extra.append(12)"], "assert Config.extra == [12]"),
    "numpy's error state": (["np.seterr(divide='ignore')"], "assert np.log(0.0) == -np.inf"),
    "a warnings filter": (["warnings.filterwarnings('ignore')"], "warnings.warn('deprecated')"),
    "the working folder": (["os.chdir('/tmp')"], "assert os.getcwd() == '/tmp'"),
    "an environment variable": (["os.environ['K'] = '1'"], "assert os.getenv('K') == '1'"),
    "the import path": (["sys.path.append('/tmp/helpers')"], "assert sys.path[-1] == '/tmp/helpers'"),
    "a file written with pathlib": (["Path('tiny.txt').write_text('3 4')"], "assert open('tiny.txt').read() == '3 4'"),
    "a file written with open": (["with open('tiny.txt', 'w') as f:\n    f.write('3 4')"],
                                 "assert open('tiny.txt').read() == '3 4'"),
    "a match capture": (["match [6, 8]:\n    case DATA:\n        pass"], "assert norm(DATA) == 10.0"),
    "`except ... as` (which unbinds the name)": (["try:\n    1 / 0\nexcept ZeroDivisionError as DATA:\n    pass"],
                                                 "assert 'DATA' not in dir()"),
    "a read through sys.modules": (["SCALE = 2"], "assert sys.modules['__main__'].SCALE == 2"),
    "IPython's last result": (["41 + 1"], "assert _ == 42"),
    "a walrus in a comprehension": (["[(DATA := [6, 8]) for _ in range(1)]"], "assert norm(DATA) == 10.0"),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_tagged_cell_that_may_change_what_a_test_reads_runs(tmp_path, name):
    cells, test = CHANGES[name]
    helper = B._code("def shuffle_in_place(xs):\n    xs.reverse()")
    plan, skip = _plan(tmp_path, [SETUP, helper, ANSWER, *map(experiment, cells), _test_cell(test)])
    assert skip == {}, f"{name}: skipped {_skipped_text(plan, skip)}"


def test_a_function_that_reads_the_namespace_dynamically_keeps_every_cell(tmp_path):
    answer = B._code("def lookup(name):\n    ### BEGIN SOLUTION\n    return globals()[name]\n    ### END SOLUTION",
                     grade_id="q1_norm", solution=True)
    plan, skip = _plan(tmp_path, [SETUP, answer, experiment("SCALE = 2"), _test_cell("assert lookup('SCALE') == 2")])
    assert skip == {}


def test_seeding_in_an_experiment_does_not_keep_it(tmp_path):
    # Documented: a training cell seeds its own run; tests never depend on the global random state.
    plan, skip = _plan(tmp_path, [SETUP, ANSWER, experiment("np.random.seed(0)\nrun = np.random.normal(size=3)"),
                                  _test_cell("assert norm(DATA) == 5.0")])
    assert len(skip) == 1


def test_a_local_name_in_a_function_is_not_a_read_of_the_global(tmp_path):
    # `history` inside the answer is a local variable: the global `history` is not needed.
    answer = B._code("def norm(v):\n    ### BEGIN SOLUTION\n    history = [x * x for x in v]\n"
                     "    return math.sqrt(sum(history))\n    ### END SOLUTION", grade_id="q1_norm", solution=True)
    plan, skip = _plan(tmp_path, [SETUP, answer, experiment("history = norm([6, 8])"),
                                  _test_cell("assert norm(DATA) == 5.0")])
    assert _skipped_text(plan, skip) == ["history = norm([6, 8])"]


def test_a_needed_experiment_keeps_what_it_reads(tmp_path):
    plan, skip = _plan(tmp_path, [SETUP, ANSWER, experiment("raw = [6, 8]"), experiment("HALF = [x / 2 for x in raw]"),
                                  _test_cell("assert norm(HALF) == 5.0")])
    assert skip == {}


def test_cells_the_student_edited_or_added_run_and_keep_what_they_read(tmp_path):
    cells = [SETUP, ANSWER, experiment("history = [norm([i]) for i in range(3)]"), experiment("other = 1"),
             _test_cell("assert norm(DATA) == 5.0")]
    submission = B.student_version(B._notebook(copy.deepcopy(cells)))
    submission.cells[1].source = ANSWER.source.replace("### BEGIN SOLUTION\n", "").replace("    ### END SOLUTION", "")
    submission.cells[3].source = "other = 2  # edited by the student"
    submission.cells.insert(4, nbformat.v4.new_code_cell("print(history)  # added by the student"))
    plan, skip = _plan(tmp_path, cells, submission)
    assert skip == {}


def test_names_are_scoped_as_python_scopes_them_and_unreadable_cells_are_never_skipped():
    assert not CellNames("def broken(:\n    pass").plain
    names = CellNames("x = f(y)\ngrid[r, :len(v)] = v\ndef g(z):\n    return z + w + len(z)\n[q for q in y]")
    assert (names.reads, names.deferred) == ({"f", "y", "grid", "r", "len", "v"}, {"w", "len"})
    assert names.binds == {"x", "g"} and names.mutates == {"grid"} and names.data == {"x", "grid"}
    assert names.functions == {"g": ({"w", "len"}, set())}
    loop = CellNames("for layer in model.layers:\n    layer.trainable = False\nalias = DATA\nnew = f(DATA)")
    assert loop.aliases == {"layer": {"model"}, "alias": {"DATA"}, "new": set()}


# ---------------------------------------------------------------------- the course's notebooks
COURSE = [p.stem for p in sorted((ROOT / "solutions").glob("*.ipynb"))
          if any(EXPERIMENT_TAG in c.metadata.get("tags", []) for c in nbformat.read(str(p), 4).cells)]


@pytest.mark.parametrize("name", COURSE)
def test_every_experiment_a_course_notebook_tags_is_one_the_grader_skips(name):
    source = load_source(ROOT / "solutions" / f"{name}.ipynb")
    for version in ("solutions", "notebooks"):
        nb, _ = read_notebook(ROOT / version / f"{name}.ipynb")
        plan, _ = restore(source, nb)
        skipped = {plan[k].source for k in skippable(plan, source)}
        kept = [text[:60] for text in source.experiments if text not in skipped]
        assert not kept, f"{version}/{name}: tagged `{EXPERIMENT_TAG}` but needed (or unreadable): {kept}"


def test_the_course_tags_its_experiments():
    assert len(COURSE) >= 5


# ---------------------------------------------------------------------- in a real kernel
LIMITS = dict(cell_timeout=10, total_timeout=60, memory_limit_mb=1500, check_modules=("coursechecks",))


@pytest.fixture
def env(tmp_path):
    return B.install_checks(tmp_path / "checks")


def test_skipping_changes_no_score_and_the_executed_notebook_says_what_was_skipped(tmp_path, env):
    cells = [SETUP, ANSWER, experiment("print('experiment ran')"), experiment("DATA.reverse()  # it may change DATA"),
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
        assert "[grader]" not in ran["DATA.reverse()  # it may change DATA"]  # tagged, but it may change DATA
