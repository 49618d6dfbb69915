"""Every solution notebook also runs, without a failing cell, on the JAX backend (FAST mode).

The rest of the suite runs the notebooks on TensorFlow, the default; this proves the course
code is backend-agnostic end to end, not only in the unit tests. nbgrader is blocked in the
kernel, as on Colab: the self-checks pass on the solutions without it."""

from pathlib import Path

import pytest

from rnn_course.runner import run_notebook

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_runs_on_jax(path, tmp_path, without_nbgrader):
    work = tmp_path / path.name
    work.write_text(path.read_text())
    result = run_notebook(work, mode="fast", env={"KERAS_BACKEND": "jax", **without_nbgrader}, allow_errors=True,
                          cell_timeout=300)
    assert "on jax" in result.notebook.cells[0].outputs[0].text
    assert result.errors == []
