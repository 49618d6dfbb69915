"""Kernel integrity: code that rewires what the tests rely on, or how the kernel reports errors.

Before each test cell the grader restores a snapshot of what the tests rely on
(taken before any student code ran) and proves, with a deliberate error, that
the kernel still reports errors; a kernel that fails the proof scores 0 from
there on and is flagged (`rnn_course.grading.integrity`). The many spellings
are tried on the small fixture `90_fixture_sums` (10 points: q1 2, q2 3, q3 5);
one test grades the real notebook 01, where the trick was first seen to earn
11/11 with no review flag.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import audit, grade_notebook, integrity  # noqa: E402

SOURCE = B.SOLUTIONS / B.SUMS
LIMITS = dict(cell_timeout=10, total_timeout=90, memory_limit_mb=1500, check_modules=("coursechecks",))
ROOT = Path(__file__).resolve().parents[1]

#: Each rewires error reporting or a function a test relies on, in another spelling. With every
#: answer wrong, the old grader gave the score in the comment; the right score is 0.
TRICKS = {
    # 10/10, no flag: the trick of the issue, through `from ... import ...`
    "result-success": "from IPython.core.interactiveshell import ExecutionResult, InteractiveShell\n"
                      "ExecutionResult.success = property(lambda self: True)\n"
                      "InteractiveShell.showtraceback = lambda *a, **k: None\n",
    # 10/10: the shell instance's own run_cell_async, which also runs the grader's cells
    "instance-run-cell": "from IPython import get_ipython\nip = get_ipython()\n_orig = ip.run_cell_async\n"
                         "async def _quiet(*a, **k):\n    r = await _orig(*a, **k)\n    r.error_in_exec = None\n"
                         "    r.error_before_exec = None\n    return r\n"
                         "ip.run_cell_async = _quiet\nip.showtraceback = lambda *a, **k: None\n",
    # 5/10: abs() is what q3's hidden test compares with
    "builtin-abs": "import builtins\nbuiltins.abs = lambda x: 0\n",
    # 5/10: re-patches abs() at the start of every cell, after any reset
    "event-callback": "from IPython import get_ipython\nimport builtins\n_fake = lambda x: 0\n"
                      "get_ipython().events.register('pre_run_cell', lambda *a: setattr(builtins, 'abs', _fake))\n",
    # 5/10: strips every assert from the cells that follow
    "ast-transformer": "import ast\nfrom IPython import get_ipython\nclass _Strip(ast.NodeTransformer):\n"
                       "    def visit_Assert(self, node):\n        return ast.Pass()\n"
                       "get_ipython().ast_transformers.append(_Strip())\n",
    # 5/10: a timer's handler re-patches abs() every 5 ms, between the grader's reset and the test
    "signal-timer": "import builtins, signal\n_fake = lambda x: 0\n"
                    "signal.signal(signal.SIGALRM, lambda *a: setattr(builtins, 'abs', _fake))\n"
                    "signal.setitimer(signal.ITIMER_REAL, 0.005, 0.005)\n",
    # 0/10 already (the reply still says error), but the kernel's error messages are gone
    "custom-exc": "from IPython import get_ipython\n"
                  "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n",
}
#: What the static audit says about each (the old audit said nothing about result-success).
FLAGGED = {
    "result-success": "replaces ExecutionResult.success (ExecutionResult is imported from IPython.core",
    "instance-run-cell": "rewrites ip.run_cell_async",
    "builtin-abs": "replaces the module attribute builtins.abs",
    "event-callback": "registers an IPython event callback",
    "ast-transformer": "changes get_ipython().ast_transformers",
    "custom-exc": "installs a custom exception handler (set_custom_exc",
    "signal-timer": "installs a signal handler",
}
#: Ordinary IPython use: must not trip the restore, the proof or the audit.
LEGIT = {
    "matplotlib-magic": "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()\n",
    "display": "from IPython.display import display, HTML\ndisplay(HTML('<b>my answers</b>'))\n",
    "run-line-magic": "from IPython import get_ipython\nget_ipython().run_line_magic('precision', '3')\n",
}


@pytest.fixture
def env(tmp_path):
    return B.install_checks(tmp_path / "checks")


def with_cell(nb, code: str, before: str):
    """`nb` with a code cell added right before the cell with grade_id `before`."""
    nb.cells.insert(nb.cells.index(B.cell(nb, before)), nbformat.v4.new_code_cell(code))
    return nb


def grade(nb, tmp_path, env, source=SOURCE):
    path = B.write(nb, tmp_path / "submissions" / "alice" / Path(source).name)
    return grade_notebook(path, source, env=env, **LIMITS)


def scores(result):
    return {t.grade_id: t.score for t in result.tests}


# ---------------------------------------------------------------------- behaviour, on the fixture
@pytest.mark.parametrize("trick", list(TRICKS))
def test_rewiring_what_the_tests_rely_on_cannot_inflate_the_score(tmp_path, env, trick):
    result = grade(with_cell(B.submission(B.WRONG), TRICKS[trick], before="q1_add"), tmp_path, env)
    assert scores(result) == {"q1_add_tests": 0, "q2_mean_tests": 0, "q3_norm_tests": 0}, result.summary()
    assert any(FLAGGED[trick] in f for f in result.flags), result.flags


def test_restored_before_each_test_the_checks_hints_are_honest(tmp_path, env):
    # ExecutionResult.success and showtraceback are put back before each test cell: the tests fail for
    # the right reason, with the checks' hints, and the kernel passes the proof (no distrust).
    result = grade(with_cell(B.submission(B.WRONG), TRICKS["result-success"], before="q1_add"), tmp_path, env)
    assert result.score == 0, result.summary()   # the old grader gave 10/10
    assert "hint: mean([1, 2, 3, 6]) returned 0" in next(t.output for t in result.tests
                                                          if t.grade_id == "q2_mean_tests")
    assert not any("reporting errors honestly" in f for f in result.flags)


def test_a_kernel_that_hides_errors_scores_zero_from_there_on_and_is_flagged(tmp_path, env):
    # Correct answers; after q1's test the shell's own run_cell_async starts hiding errors. The grader's
    # cells run through it too, so it cannot be undone from inside: the deliberate error before q2's test
    # comes back as a success. q1 keeps its points, q2 and q3 cannot be trusted (the old grader gave 10/10).
    nb = with_cell(B.submission(B.RIGHT), TRICKS["instance-run-cell"], before="q2_intro")
    result = grade(nb, tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 0, "q3_norm_tests": 0}, result.summary()
    lost = [t for t in result.tests if t.grade_id != "q1_add_tests"]
    assert all("stopped reporting errors honestly before q2_mean_tests" in t.reason for t in lost)
    assert all(not t.public_passed for t in lost)
    assert any(f.startswith("the kernel stopped reporting errors honestly before q2_mean_tests")
               and "every test after it scored 0" in f for f in result.flags), result.flags
    assert "REVIEW: the kernel stopped reporting errors honestly" in result.summary()


@pytest.mark.parametrize("use", list(LEGIT))
def test_ordinary_ipython_use_is_neither_distrusted_nor_flagged(tmp_path, env, use):
    result = grade(with_cell(B.submission(B.RIGHT), LEGIT[use], before="q1_add"), tmp_path, env)
    assert result.score == 10, result.summary()
    assert result.flags == [] and result.error is None


# A source with a plain (metadata-free, so student-editable) import cell whose name a test relies on.
def _numpy_source(tmp_path) -> Path:
    nb = B.sums_solution()
    nb.cells.insert(1, nbformat.v4.new_code_cell("import numpy as np"))
    B.cell(nb, "q3_norm_tests").source = "assert np.isclose(norm([3, 4]), 5.0), 'norm([3, 4]) should be 5'"
    return B.write(nb, tmp_path / "solutions" / B.SUMS)


NUMPY_TRICKS = {
    # shadows the name the plain cell bound: the old reset re-ran only the locked and test cells' imports
    "shadow-name": "import numpy\nclass _Np:\n    def __getattr__(self, name):\n        return getattr(numpy, name)\n"
                   "    def isclose(self, *a, **k):\n        return True\nnp = _Np()\n",
    "module-attribute": "import numpy\nnumpy.isclose = lambda *a, **k: True\n",
    "from-import-module": "from importlib import import_module\n"
                          "import_module('numpy').isclose = lambda *a, **k: True\n",
}


@pytest.mark.parametrize("trick", list(NUMPY_TRICKS))
def test_a_comparison_function_a_test_calls_is_restored(tmp_path, env, trick):
    source = _numpy_source(tmp_path)
    nb = B.student_version(nbformat.read(str(source), 4))
    B.cell(nb, "q3_norm").source = B.WRONG["q3_norm"]
    result = grade(with_cell(nb, NUMPY_TRICKS[trick], before="q1_add"), tmp_path, env, source=source)
    assert scores(result)["q3_norm_tests"] == 0, result.summary()   # the old grader gave 5
    assert "norm([3, 4]) should be 5" in next(t.output for t in result.tests if t.grade_id == "q3_norm_tests")


# ---------------------------------------------------------------------- the pieces
def test_probe_verdicts():
    tok = "abc123"
    probe = {"output_type": "error", "ename": integrity.PROBE_NAME, "evalue": f"probe {tok}", "traceback": []}
    assert integrity.probe_verdict({"status": "error", "reply_status": "error", "outputs": [probe]}, tok) == ("ok", "")
    # the reply says ok: the error was hidden
    verdict, why = integrity.probe_verdict({"status": "ok", "reply_status": "ok", "outputs": [probe]}, tok)
    assert verdict == "untrusted" and "'ok'" in why
    # an error reply without its message (showtraceback silenced)
    verdict, why = integrity.probe_verdict({"status": "error", "reply_status": "error", "outputs": []}, tok)
    assert verdict == "untrusted" and "without its error message" in why
    # a probe from another run does not count
    other = {**probe, "evalue": "probe zzz"}
    assert integrity.probe_verdict({"status": "error", "reply_status": "error", "outputs": [other]}, tok)[0] != "ok"
    # the reset failed before the probe (a check module that does not import): that test's own 0
    failed = {"output_type": "error", "ename": "ModuleNotFoundError", "evalue": "No module named 'x'"}
    assert integrity.probe_verdict({"status": "error", "reply_status": "error", "outputs": [failed]}, tok) == \
        ("failed", "")
    assert integrity.probe_verdict({"status": "died", "outputs": []}, tok) == ("failed", "")
    gone = {"output_type": "error", "ename": "RuntimeError",
            "evalue": f"{integrity.BROKEN_MARK}:{tok}: the snapshot of what the tests rely on is gone"}
    verdict, why = integrity.probe_verdict({"status": "error", "reply_status": "error", "outputs": [gone]}, tok)
    assert verdict == "untrusted" and "snapshot" in why


def test_the_modules_the_tests_rely_on_come_from_the_instructors_cells_and_the_checks(tmp_path):
    checks = tmp_path / "mychecks.py"
    checks.write_text("import math\nimport inspect\nfrom scipy import stats\n")
    found = integrity.relied_on_modules(
        ["import numpy as _np\nimport keras as _keras\nx = _keras.ops.convert_to_numpy(_np.random.default_rng(0))",
         "from rnn_course.checks import ngram_lm as checks\nimport collections"],
        [checks], ("rnn_course.checks",))
    assert {"builtins", "math", "numpy", "numpy.random", "keras", "keras.ops", "collections", "inspect",
            "scipy", "scipy.stats"} <= set(found)
    assert not any(m.startswith("rnn_course.checks") for m in found)


def test_audit_flags_every_spelling_of_rewired_error_reporting_and_not_ordinary_use():
    modules = audit.imported_names(["import numpy as np"])
    for trick, expected in FLAGGED.items():
        assert any(expected in f for f in audit.scan(TRICKS[trick], modules)), trick
    for use, code in LEGIT.items():
        assert audit.scan(code, modules) == [], use
    assert audit.scan("from IPython.core.display import HTML\nimport IPython\nprint(IPython.__version__)",
                      modules) == []
    assert audit.scan("class Model:\n    def fit(self):\n        self.success = True\n", modules) == []
    assert any("kernel's internals" in f for f in audit.scan("import ipykernel.ipkernel", modules))
    assert any("run_cell" in f for f in audit.scan("shell = object()\nshell.run_cell = print", modules))


# ---------------------------------------------------------------------- the real notebook 01
@pytest.mark.notebook
def test_notebook_01_with_rewired_error_reporting_scores_zero_and_is_flagged(tmp_path):
    """The issue's case: the untouched student notebook 01 plus the trick scored 11/11 with no flag."""
    name = "01_ngram_language_models.ipynb"
    nb = nbformat.read(str(ROOT / "notebooks" / name), 4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(TRICKS["result-success"]))
    path = tmp_path / "alice" / name
    path.parent.mkdir()
    nbformat.write(nb, str(path))
    result = grade_notebook(path, ROOT / "solutions" / name)
    assert (result.score, result.max_score) == (0, 11), result.summary()
    assert all("NotImplementedError" in t.output for t in result.tests), result.summary()
    assert any("ExecutionResult.success" in f for f in result.flags), result.flags


# ---------------------------------------------------------------------- what the hidden tests leave behind
#: A cell after q3's test that looks everywhere the hidden tests could have left a trace, and reports what it
#: found in its error (which `cell_errors` shows instructors in full): the hidden part's names, the kernel's
#: history (`In`, `_i...`), IPython's `linecache` entries, the last exception and the last result.
PROBE = '''import linecache, sys
mark = "BEGIN " + "HIDDEN"
found = [name for name in ("_v", "_ref") if name in globals()]
found += ["In"] if any(mark in text for text in In) else []
found += ["_i"] if any(name.startswith("_i") and isinstance(value, str) and mark in value
                       for name, value in list(globals().items())) else []
found += ["linecache"] if any(len(entry) > 2 and any(mark in line for line in entry[2] or ())
                              for entry in list(linecache.cache.values())) else []
found += ["last_traceback"] if getattr(sys, "last_traceback", None) is not None else []
raise RuntimeError(f"found {found}")
'''


def test_the_hidden_tests_leave_nothing_a_later_cell_can_show(tmp_path, env):
    # norm answers 5 everywhere: its visible check passes, its hidden test fails with an exception whose
    # frames hold the hidden values. The cell after the test must find nothing of them.
    nb = B.submission({**B.RIGHT, "q3_norm": "def norm(v):\n    return 5.0\n"})
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    result = grade(nb, tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 3, "q3_norm_tests": 0}, result.summary()
    assert [str(e).rsplit(": ", 1)[-1] for e in result.cell_errors] == ["found []"], result.cell_errors
