"""bench/suite.py charges each JUnit test case to the notebook and the run it belongs to.

Its figures decide whether a notebook fits the suite's budget (issue 9: about 3x its FAST run), so a
test charged to the wrong notebook or part would misstate them. Here a hand-made report with one case
of each kind, whose totals are worked out below."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench_suite", ROOT / "bench" / "suite.py")
suite = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite)

# (classname, name, seconds), in the TensorFlow pass's report: nbval's cells of 02, its JAX run, its student run and
# its mutation tests; 03's one Gradescope grade; two grading tests of 01 from the suite before issue 9
# (test_grading_baselines, and test_nbgrader_course when it was parametrized by notebook); a unit test and the
# unparametrized nbgrader test of today's suite (shared). Own times add up to 24 s; the report's wall time is 6 s, so
# every share is a quarter.
CASES = [
    ("solutions.02_rnn_language_models.ipynb", "Cell 3", 2.0),
    ("solutions.02_rnn_language_models.ipynb", "Cell 5", 1.0),
    ("tests.notebooks.test_other_backends", "test_solution_runs_on_jax[02_rnn_language_models]", 4.0),
    ("tests.notebooks.test_student_notebooks", "test_student_notebook_runs[02_rnn_language_models.ipynb]", 1.5),
    ("tests.test_checks_rnn_lm", "test_wrong_variant_is_rejected[q2_1_rnn_cell: sigmoid instead of tanh]", 0.5),
    ("tests.notebooks.test_gradescope_course",
     "test_run_autograder_grades_a_tampered_wrong_submission[03_vanishing_exploding_gradients]", 3.0),
    ("tests.notebooks.test_grading_baselines", "test_solution_gets_full_marks[01_ngram_language_models]", 3.0),
    ("tests.notebooks.test_nbgrader_course",
     "test_nbgrader_generates_our_student_notebook_and_autogrades_it[01_ngram_language_models]", 1.0),
    ("tests.test_vocab", "test_build", 6.0),
    ("tests.notebooks.test_nbgrader_course", "test_nbgrader_generates_our_student_notebooks", 2.0),
]
# The JAX pass's report, written with a <testsuite> root (no <testsuites> around it): a mutation test of 02 and a
# unit test, 6 s of own time in 3 s of wall time, so every share is a half.
CASES_JAX = [
    ("tests.test_checks_rnn_lm", "test_wrong_variant_is_rejected[q2_1_rnn_cell: W_h and W_e swapped]", 2.0),
    ("tests.test_vocab", "test_build", 4.0),
]


def _cases(cases) -> str:
    return "".join(f'<testcase classname="{c}" name="{n}" time="{t}"/>' for c, n, t in cases)


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "test-tf.xml"
    path.write_text(f'<testsuites><testsuite name="pytest" time="6.0">{_cases(CASES)}</testsuite></testsuites>')
    return path


@pytest.fixture
def report_jax(tmp_path):
    path = tmp_path / "test-jax.xml"
    path.write_text(f'<testsuite name="pytest" time="3.0">{_cases(CASES_JAX)}</testsuite>')
    return path


def test_each_case_is_charged_to_its_notebook_and_run(report):
    costs, shared, walls = suite.charge([report])
    assert walls == {"test-tf.xml": 6.0}
    assert costs["02_rnn_language_models"] == {"FAST run (nbval)": 3.0, "JAX run": 4.0, "student run": 1.5,
                                               "grading run": 0.0, "mutation tests": 0.5}
    assert costs["03_vanishing_exploding_gradients"] == {"FAST run (nbval)": 0.0, "JAX run": 0.0, "student run": 0.0,
                                                         "grading run": 3.0, "mutation tests": 0.0}
    assert costs["01_ngram_language_models"]["grading run"] == 4.0  # 3 s of baselines + 1 s of nbgrader
    assert sum(costs["01_ngram_language_models"].values()) == 4.0
    assert shared == 8.0


def test_the_wall_share_scales_by_the_reports_wall_time_over_its_test_times(report):
    costs, shared, _ = suite.charge([report], wall_share=True)
    assert costs["02_rnn_language_models"]["JAX run"] == pytest.approx(1.0)
    assert costs["02_rnn_language_models"]["FAST run (nbval)"] == pytest.approx(0.75)
    assert shared == pytest.approx(2.0)


def test_two_reports_each_with_its_own_scale_and_a_testsuite_root(report, report_jax):
    costs, shared, walls = suite.charge([report, report_jax])
    assert walls == {"test-tf.xml": 6.0, "test-jax.xml": 3.0}
    assert costs["02_rnn_language_models"]["mutation tests"] == pytest.approx(2.5)
    assert shared == pytest.approx(12.0)
    costs, shared, _ = suite.charge([report, report_jax], wall_share=True)
    assert costs["02_rnn_language_models"]["mutation tests"] == pytest.approx(0.5 / 4 + 2.0 / 2)
    assert shared == pytest.approx(8.0 / 4 + 4.0 / 2)


def test_the_table_divides_by_the_fast_run(report, capsys):
    costs, shared, _ = suite.charge([report])
    suite.table({"02_rnn_language_models": costs["02_rnn_language_models"]}, {"02_rnn_language_models": 3.0}, shared)
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("02_"))
    assert row.split()[-2:] == ["3.0", "2.8"]  # (3 + 4 + 1.5 + 0.5) / 3 and without the mutation tests 8.5 / 3
