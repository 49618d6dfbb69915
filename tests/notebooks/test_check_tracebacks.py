"""What a student sees when a check fails, read from a real kernel (issue 9, part 2).

The student notebooks' own cells run in an IPython kernel, as in JupyterLab: the setup
cell, an unanswered answer cell and its test cell, for exercises 1.1 and 2.1, plus a
cell whose bug raises deep inside Keras. Each failing test cell must show, in at most
15 lines: the test cell's line, the line of the student's code that raised, and the
hint last; no frame of the package, no chained "During handling of the above
exception" copy, nothing on stderr. The grader's visible/hidden verdict, which reads
the test cell's frame from that text, must still place the error on the right line.
"""

import os
import re
from pathlib import Path

import nbformat
import pytest

from rnn_course.grading.grader import public_verdict
from rnn_course.runner import run_notebook

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_LINES = 15
# What the import cell of notebook 02 gives the answer cells (the rest of it loads corpora).
PRELUDE_02 = "import keras\nimport numpy as np\nfrom keras import ops\n"
# The check called inside a hidden-test region: an error there leaves the visible part passed.
HIDDEN_CHECK = ("from rnn_course.checks import rnn_lm as checks\n"
                "### BEGIN HIDDEN TESTS\n"
                "checks.check_rnn_cell(ElmanCell)\n"
                "### END HIDDEN TESTS\n")


def _cells(folder: str, name: str) -> dict[str, nbformat.NotebookNode]:
    nb = nbformat.read(str(ROOT / folder / name), as_version=4)
    cells = {c.metadata.get("nbgrader", {}).get("grade_id", f"cell {i}"): c for i, c in enumerate(nb.cells)}
    return cells


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The executed mini-notebook: {label: executed cell}."""
    nb02 = _cells("notebooks", "02_rnn_language_models.ipynb")
    nb01 = _cells("notebooks", "01_ngram_language_models.ipynb")
    solution = _cells("solutions", "02_rnn_language_models.ipynb")["q2_1_rnn_cell"].source
    deep_bug = solution.replace("ops.matmul(inputs, self.W_e)", "ops.matmul(inputs, self.W_h)")
    assert deep_bug != solution
    labelled = [("setup", nb02["setup"].source), ("prelude", PRELUDE_02),
                ("answer 2.1", nb02["q2_1_rnn_cell"].source), ("test 2.1", nb02["q2_1_rnn_cell_tests"].source),
                ("answer 1.1", nb01["q1_1_count_ngrams"].source), ("test 1.1", nb01["q1_1_count_ngrams_tests"].source),
                ("hidden check", HIDDEN_CHECK),
                ("buggy answer 2.1", deep_bug), ("test of the buggy 2.1", nb02["q2_1_rnn_cell_tests"].source)]
    assert "raise NotImplementedError()" in labelled[2][1] and "raise NotImplementedError()" in labelled[4][1]
    path = tmp_path_factory.mktemp("tracebacks") / "mini.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(src) for _, src in labelled])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(path))
    # The kernel starts with the environment a student's has: ipykernel stops capturing file-descriptor output
    # under pytest, and TensorFlow, once imported by this process, sets TF_CPP_MIN_LOG_LEVEL=1, which would
    # override the setup cell's default of 3 and let TensorFlow's C++ warnings through to stderr.
    saved = {name: os.environ.pop(name, None) for name in ("PYTEST_CURRENT_TEST", "TF_CPP_MIN_LOG_LEVEL")}
    try:
        result = run_notebook(path, mode="fast", allow_errors=True, cell_timeout=300)
    finally:
        os.environ.update({name: value for name, value in saved.items() if value is not None})
    return {label: cell for (label, _), cell in zip(labelled, result.notebook.cells)}


def _error(cell) -> dict:
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1, cell.outputs
    return errors[0]


def _shown(cell) -> str:
    """The error as the student sees it, colours removed."""
    return ANSI.sub("", "\n".join(_error(cell).traceback)).rstrip("\n")


FAILING = [("test 2.1", "answer 2.1", "ElmanCell.__init__", "raise NotImplementedError()", "NotImplementedError"),
           ("test 1.1", "answer 1.1", "count_ngrams", "raise NotImplementedError()", "NotImplementedError"),
           ("test of the buggy 2.1", "buggy answer 2.1", "ElmanCell.call", "ops.matmul(inputs, self.W_h)", "Check the shapes")]


@pytest.mark.parametrize("test, answer, function, raising_line, hint", FAILING, ids=[f[0] for f in FAILING])
def test_a_failed_check_shows_the_cell_line_the_students_line_and_the_hint_in_15_lines(run, test, answer, function,
                                                                                     raising_line, hint):
    for label in ("setup", "prelude", answer):
        assert not [o for o in run[label].outputs if o.output_type == "error" and label != answer], label
    cell = run[test]
    error = _error(cell)
    assert error.ename == "CheckFailed" and hint in error.evalue  # the cell fails: nbgrader scores it 0
    assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"], cell.outputs
    shown = _shown(cell)
    lines = shown.splitlines()
    assert len(lines) <= MAX_LINES, shown
    assert lines[-1] == f"CheckFailed: {ANSI.sub('', error.evalue)}", shown  # the hint, last and whole
    assert "During handling" not in shown and "direct cause" not in shown, shown
    assert "rnn_course" not in shown.replace("from rnn_course.checks import", ""), shown  # no package frame
    assert "site-packages" not in shown, shown
    frames = re.findall(r"^Cell In\[(\d+)\], line (\d+)(?:, in (\S+))?", shown, flags=re.M)
    assert [int(n) for n, _, _ in frames] == [cell.execution_count, run[answer].execution_count], shown
    assert frames[1][2].startswith(function), shown
    assert f"----> {frames[0][1]} checks.check_" in shown, shown  # the test cell's line
    assert raising_line in shown, shown  # the student's line


def test_the_graders_verdict_reads_the_test_cells_line(run):
    """The visible check failed in the student's test cell; a check inside a hidden region leaves it passed."""
    def verdict(label):
        res = {"status": "error", "outputs": [dict(o) for o in run[label].outputs]}
        return public_verdict(run[label].source, res, None)

    passed, why = verdict("test 2.1")
    assert not passed and why.startswith("CheckFailed: ElmanCell(units=4) raised NotImplementedError"), why
    assert verdict("hidden check") == (True, "")
