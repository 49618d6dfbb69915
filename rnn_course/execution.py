"""Running course notebooks headlessly, in a chosen mode, with a time per notebook.

Instructors use it to refresh the outputs stored in `solutions/` (full mode, so the
outputs they read are real results), and the tests use it to run notebooks top to
bottom. `rnn-course run NOTEBOOK` is the command-line face.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path

import nbformat

MODE_ENV = {
    "fast": {"RNN_COURSE_FAST": "1", "RNN_COURSE_SCALE": ""},
    "full": {"RNN_COURSE_FAST": "0", "RNN_COURSE_SCALE": ""},
    "gpu": {"RNN_COURSE_FAST": "0", "RNN_COURSE_SCALE": "gpu"},
}


@contextlib.contextmanager
def _environ(overrides: dict[str, str]):
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclasses.dataclass
class RunResult:
    path: Path
    mode: str
    seconds: float
    notebook: nbformat.NotebookNode
    errors: list[tuple[int, str]]  # (cell index, "ErrorName: message")


def cell_errors(nb) -> list[tuple[int, str]]:
    """(index, 'ename: evalue') for every code cell whose outputs hold an error."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if out.get("output_type") == "error":
                found.append((i, f"{out.get('ename')}: {out.get('evalue')}"))
    return found


def run_notebook(path: str | Path, *, mode: str = "full", cell_timeout: int = 900,
                 allow_errors: bool = False, save: bool = False, env: dict | None = None) -> RunResult:
    """Executes a notebook in a fresh kernel, in the notebook's own folder.

    Args:
        path: the `.ipynb` file.
        mode: `"fast"`, `"full"` or `"gpu"` (sets RNN_COURSE_FAST / RNN_COURSE_SCALE).
        cell_timeout: seconds one cell may take.
        allow_errors: keep going after a failing cell (errors are returned).
        save: write the executed notebook (with outputs) back to `path`.
        env: further environment variables for the kernel.
    """
    from nbclient import NotebookClient

    if mode not in MODE_ENV:
        raise ValueError(f"Unknown mode: {mode!r}. Expected one of {list(MODE_ENV)}.")
    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.perf_counter()
    with _environ({**MODE_ENV[mode], **(env or {})}):
        client.execute()
    seconds = time.perf_counter() - start
    if save:
        nbformat.write(nb, str(path))
    return RunResult(path, mode, seconds, nb, cell_errors(nb))
