"""Partial credit: the number a test cell displays, for every numeric type Python and NumPy produce.

nbgrader reads a test cell's displayed result as partial credit with
`float(text/plain)`, so `np.float64(0.0)` (NumPy >= 2 shows scalars that way),
a wrong answer, earns full marks there, and so do negative numbers and NaN.
Our grader reads the number whatever its type and never gives full marks for a
value that is not a valid score. One fixture notebook holds a 2-point test cell
per value; it is graded once, in a real kernel (a few seconds).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import grade_notebook  # noqa: E402
from rnn_course.grading.results import partial_credit, result_number  # noqa: E402

LIMITS = dict(cell_timeout=10, total_timeout=120, memory_limit_mb=2000, check_modules=("coursechecks",))

#: The last expression of a 2-point test cell -> the points it earns, and a word of the reason.
CASES = {
    "0.0": (0, "partial credit"),
    "0": (0, "partial credit"),
    "1.5": (1.5, "partial credit"),
    "2": (2, ""),
    "np.float64(0.0)": (0, "partial credit"),           # nbgrader: 2
    "np.float64(1.0)": (1, "partial credit"),           # nbgrader: 2
    "np.float32(0.5)": (0.5, "partial credit"),
    "np.float16(1.5)": (1.5, "partial credit"),
    "np.longdouble('0.25')": (0.25, "partial credit"),
    "np.int64(1)": (1, "partial credit"),
    "np.int8(-1)": (0, "negative"),
    "np.uint8(7)": (0, "more than"),
    "np.array(0.5)": (0.5, "partial credit"),
    "np.array(1, dtype=np.int32)": (1, "partial credit"),
    "np.True_": (2, ""),
    "np.False_": (0, "False"),
    "np.array(False)": (0, "False"),
    "True": (2, ""),
    "False": (0, "False"),
    "-1": (0, "negative"),                              # nbgrader: 2
    "-0.5": (0, "negative"),
    "-0.0": (0, "partial credit"),
    "float('nan')": (0, "not a finite number"),         # nbgrader: 2
    "np.float64('nan')": (0, "not a finite number"),
    "float('inf')": (0, "not a finite number"),
    "-np.inf": (0, "not a finite number"),
    "2.5": (0, "more than"),                            # nbgrader: an error
    "10 ** 400": (0, "more than"),
    "fractions.Fraction(1, 2)": (0.5, "partial credit"),
    "decimal.Decimal('1.5')": (1.5, "partial credit"),
    "decimal.Decimal('NaN')": (0, "not a finite number"),
    "3 + 0j": (0, "complex"),
    "'0.0 is the answer'": (2, ""),                     # not a number: nbgrader's rule, all the points
    "None": (2, ""),                                    # displays nothing
}


def _fixture():
    cells = [nbformat.v4.new_code_cell(
        "import decimal\nimport fractions\nimport numpy as np",
        metadata={"nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": True,
                               "grade_id": "setup"}})]
    for k, expr in enumerate(CASES):
        cells.append(nbformat.v4.new_code_cell(
            f"assert 1 + 1 == 2\n{expr}",
            metadata={"nbgrader": {"schema_version": 3, "grade": True, "solution": False, "locked": True,
                                   "points": 2, "grade_id": f"t{k:02d}_tests"}}))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scores")
    env = B.install_checks(folder / "checks")
    path = B.write(_fixture(), folder / "92_fixture_scores.ipynb")
    result = grade_notebook(path, path, env=env, **LIMITS)
    return {expr: test for expr, test in zip(CASES, result.tests)}, result


@pytest.mark.parametrize("expr", list(CASES))
def test_each_numeric_result_earns_the_right_points(graded, expr):
    tests, _ = graded
    want, why = CASES[expr]
    test = tests[expr]
    assert test.score == want, (expr, test.score, test.output)
    assert 0 <= test.score <= test.max_score == 2
    assert why in test.reason, (expr, test.reason)
    assert test.status == ("passed" if want == 2 else "failed")


def test_no_invalid_value_earns_full_marks_and_the_total_adds_up(graded):
    tests, result = graded
    assert result.score == sum(want for want, _ in CASES.values())
    invalid = [e for e, (_, why) in CASES.items() if why in ("negative", "not a finite number", "more than", "complex")]
    assert len(invalid) == 12 and all(tests[e].score == 0 for e in invalid)


def test_nbgrader_gives_full_marks_where_we_do_not():
    """Where our grader differs from nbgrader (docs/grading.md lists these)."""
    from nbgrader.utils import get_partial_grade

    def nbgrader(text):
        return get_partial_grade({"data": {"text/plain": text}}, 2.0)

    for text in ("np.float64(0.0)", "np.int64(1)", "np.False_", "False", "-1", "nan", "Fraction(1, 2)"):
        assert nbgrader(text) == 2.0, text
        assert partial_credit(text, 2.0)[0] < 2.0, text
    for text in ("0.0", "0.5", "1"):  # plain numbers: the same partial credit
        assert nbgrader(text) == partial_credit(text, 2.0)[0] == float(text)


@pytest.mark.parametrize("text, value", [
    ("<tf.Tensor: shape=(), dtype=float32, numpy=0.0>", 0.0),
    ("<tf.Variable 'v:0' shape=() dtype=float32, numpy=1.5>", 1.5),
    ("Array(0.5, dtype=float32, weak_type=True)", 0.5),
    ("tensor(0.5000)", 0.5),
    ("np.complex128(1+0j)", 1 + 0j),
    ("array([0.5])", None),
    ("<tf.Tensor: shape=(2,), dtype=float32, numpy=array([0., 1.], dtype=float32)>", None),
    ("np.timedelta64(1,'s')", None),
    ("Point(3)", None),
    ("[1]", None),
])
def test_backend_scalars_are_numbers_and_containers_are_not(text, value):
    assert result_number(text) == value
