"""Every student notebook in notebooks/ runs top to bottom in FAST mode.

An untouched student notebook has unanswered exercises (`raise NotImplementedError()`),
so errors are allowed exactly where they must happen: in answer cells, in the graded
test cells, and in cells tagged `uses-answers` (experiments that call the student's
code). Every other cell must work, and no cell may write to stderr (nbgrader would
score a test cell with stderr output as 0).

The notebook runs with nbgrader blocked, as on Colab: the self-checks in the test cells must
still give their verdict (NotImplementedError) for every unanswered exercise. That verdict is
also why the untouched student version earns 0 from the grader: it restores each test cell from
the source, whose visible part (the check that fails here) comes first.
"""

from pathlib import Path

import nbformat
import pytest

from rnn_course.assignment import USES_ANSWERS_TAG
from rnn_course.runner import run_notebook

ROOT = Path(__file__).resolve().parents[2]


def _code(path: Path) -> list[str]:
    return [c.source for c in nbformat.read(str(path), 4).cells if c.cell_type == "code"]


#: A student notebook whose code is the solution's (no exercise, e.g. 00) runs in nbval already.
STUDENT_NOTEBOOKS = [p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
                     if _code(p) != _code(ROOT / "solutions" / p.name)]


def _may_fail(cell) -> bool:
    meta = cell.metadata.get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade") or USES_ANSWERS_TAG in cell.metadata.get("tags", []))


@pytest.mark.parametrize("path", STUDENT_NOTEBOOKS, ids=[p.name for p in STUDENT_NOTEBOOKS])
def test_student_notebook_runs_and_its_ungraded_cells_work(path, tmp_path, without_nbgrader):
    work = tmp_path / path.name  # run a copy: the repo's student notebooks stay output-free
    work.write_text(path.read_text())
    result = run_notebook(work, mode="fast", allow_errors=True, cell_timeout=300, env=without_nbgrader)
    unexpected = [(i, msg) for i, msg in result.errors if not _may_fail(result.notebook.cells[i])]
    assert not unexpected, f"ungraded cells failed: {unexpected}"
    stderr = [(i, out.text[:200]) for i, cell in enumerate(result.notebook.cells) if cell.cell_type == "code"
              for out in cell.outputs if out.get("output_type") == "stream" and out.get("name") == "stderr"]
    assert not stderr, f"cells wrote to stderr: {stderr}"
    if not any(_may_fail(c) for c in result.notebook.cells[1:]):
        assert result.errors == []
    errors = dict(result.errors)
    for i, cell in enumerate(result.notebook.cells):
        if cell.metadata.get("nbgrader", {}).get("grade"):  # a test cell: its public check answers
            assert errors.get(i, "").startswith("CheckFailed") and "NotImplementedError" in errors[i], (i, errors.get(i))
