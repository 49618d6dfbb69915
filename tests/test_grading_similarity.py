"""Answer similarity (rnn_course/grading/similarity.py) on the small fixture notebook 90_fixture_sums.

No kernel runs: the notebooks are only read. The students below answer q3 (the
Euclidean norm) and add a cell of helper functions; one pair is a copy disguised
by renamed variables, reordered helpers and rewritten comments; the others are
written independently, in different structures.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import similarity as S  # noqa: E402
from rnn_course.grading.cli import main as grading_main  # noqa: E402

SOURCE = B.SOLUTIONS / B.SUMS

ORIGINAL_NORM = '''def norm(v):
    total = 0.0
    for value in v:
        total += value * value
    result = math.sqrt(total)
    return result
'''
ORIGINAL_HELPERS = '''def dot(u, w):
    """Sum of the products of matching entries."""
    acc = 0.0
    for left, right in zip(u, w):
        acc = acc + left * right
    return acc


def scale(v, factor):
    # multiply every entry by the factor
    return [factor * item for item in v]


def unit(v):
    length = norm(v)
    if length == 0:
        raise ValueError("cannot normalise the zero vector")
    return scale(v, 1.0 / length)
'''
# The copy: every local name renamed, the helpers in another order, comments rewritten.
DISGUISED_NORM = '''def norm(v):
    s = 0.0
    for x in v:
        s += x * x
    out = math.sqrt(s)
    return out
'''
DISGUISED_HELPERS = '''def unit_vector(vec):
    size = norm(vec)
    if size == 0:
        raise ValueError("cannot normalise the zero vector")
    return times(vec, 1.0 / size)


def times(vec, k):
    # scale each element
    return [k * elem for elem in vec]


def inner(a, c):
    """Sum of the products of matching entries."""
    running = 0.0
    for p, q in zip(a, c):
        running = running + p * q
    return running
'''
INDEPENDENT = [
    ('''def norm(v):
    return math.sqrt(sum(x * x for x in v))
''', '''import functools
import operator


def dot(u, w):
    return functools.reduce(operator.add, map(operator.mul, u, w), 0.0)


def normalised(v):
    n = norm(v)
    return [x / n for x in v] if n else list(v)
'''),
    ('''def norm(v):
    squares = [component ** 2 for component in v]
    return sum(squares) ** 0.5
''', '''def dot(u, w):
    i = 0
    result = 0
    while i < len(u):
        result += u[i] * w[i]
        i += 1
    return result


class Vector:
    def __init__(self, items):
        self.items = list(items)

    def length(self):
        return norm(self.items)
'''),
]


def _student(tmp_path, who, norm, helpers=None, *, name=B.SUMS):
    nb = B.submission({"q1_add": "def add(a, b):\n    return a + b\n", "q3_norm": norm})
    if helpers is not None:
        at = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "q3_norm")
        nb.cells.insert(at + 1, nbformat.v4.new_code_cell(helpers))
    return B.write(nb, tmp_path / who / name)


@pytest.fixture(scope="module")
def starter():
    return S.Starter(SOURCE)


@pytest.fixture
def cohort(tmp_path):
    paths = {"orig": _student(tmp_path, "orig", ORIGINAL_NORM, ORIGINAL_HELPERS),
             "copy": _student(tmp_path, "copy", DISGUISED_NORM, DISGUISED_HELPERS)}
    for i, (norm, helpers) in enumerate(INDEPENDENT):
        paths[f"indep{i}"] = _student(tmp_path, f"indep{i}", norm, helpers)
    paths["untouched1"] = B.write(B.student_version(B.load()), tmp_path / "untouched1" / B.SUMS)
    paths["untouched2"] = B.write(B.student_version(B.load()), tmp_path / "untouched2" / B.SUMS)
    return paths


def test_the_disguised_copy_ranks_first_and_independent_answers_stay_below(cohort, starter):
    codes = [S.student_code(p, starter) for p in cohort.values()]
    pairs = S.compare(codes, starter.text, threshold=0.0)
    top = pairs[0]
    assert {top.a.submission.parent.name, top.b.submission.parent.name} == {"orig", "copy"}
    assert top.similarity >= 0.9
    others = [p for p in pairs if p is not top]
    assert all(p.similarity < S.DEFAULT_THRESHOLD for p in others), [(p.a.submission, p.b.submission,
                                                                      p.similarity) for p in others]
    # the matching lines are aligned: the renamed loop of the copy faces the original's
    a_lines, b_lines = top.a.text.splitlines(), top.b.text.splitlines()
    texts = [(a_lines[a0:a1 + 1], b_lines[b0:b1 + 1]) for (a0, a1), (b0, b1) in top.blocks]
    assert any(any("total += value * value" in x for x in a) and any("s += x * x" in y for y in b)
               or any("s += x * x" in x for x in a) and any("total += value * value" in y for y in b)
               for a, b in texts)


def test_only_what_students_wrote_is_compared(cohort, starter):
    """The instructor's starter code never counts: two untouched notebooks are not a pair."""
    untouched = S.student_code(cohort["untouched1"], starter)
    assert untouched.skipped and "no code of the student's" in untouched.skipped
    orig = S.student_code(cohort["orig"], starter)
    kept = orig.text
    assert "total += value * value" in kept and "def dot(u, w):" in kept
    assert "def norm(v):" not in kept  # the starter's signature
    assert "import math" not in kept and "check_add" not in kept  # locked and test cells
    assert {label for label, _ in orig.origins} == {"q1_add", "q3_norm", "a cell added after q3_norm"}
    pairs = S.compare([untouched, S.student_code(cohort["untouched2"], starter)], starter.text, threshold=0.0)
    assert pairs == []


def test_cli_lists_pairs_side_by_side_with_the_disclaimer(cohort, tmp_path, capsys):
    bad = tmp_path / "zed" / B.SUMS
    bad.parent.mkdir()
    bad.write_text("{not json")
    out_json = tmp_path / "pairs.json"
    args = ["similarity", *map(str, cohort.values()), str(bad), "--source", str(SOURCE), "--json", str(out_json)]
    assert grading_main(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("Similarity is a lead for a human to read, not a verdict")
    assert "#1 " in out and "#2 " not in out and "│" in out
    assert f"A: {cohort['orig']}" in out or f"B: {cohort['orig']}" in out
    assert f"not compared: {bad}:" in out and "not compared: " + str(cohort["untouched1"]) in out
    data = json.loads(out_json.read_text())
    assert len(data["pairs"]) == 1 and data["pairs"][0]["blocks"] and "not a verdict" in data["disclaimer"]


def test_bad_input_is_one_line(tmp_path, capsys):
    assert grading_main(["similarity", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such submission file" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exit_info:
        grading_main(["similarity", str(SOURCE), "--threshold", "1.5"])
    assert exit_info.value.code == 2
    assert "expected a share between 0 and 1" in capsys.readouterr().err
    other = B.write(B.submission(), tmp_path / "x" / "homework.ipynb")
    assert grading_main(["similarity", str(other), "--solutions", str(B.SOLUTIONS)]) == 0
    assert "not compared: " in capsys.readouterr().out
