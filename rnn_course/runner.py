"""Running course notebooks headlessly, in a chosen mode, with a time per notebook.

Instructors use it to refresh the outputs stored in `solutions/` (full mode, so the
outputs they read are real results), and the tests use it to run notebooks top to
bottom. `rnn-course run NOTEBOOK` is the command-line face.

`run_in_process` runs the code cells in the calling Python process instead, with
no Jupyter at all: for machines that have the course's dependencies but no
kernel (a bare GPU box), and for timing without a kernel's overhead.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import linecache
import os
import sys
import time
import traceback
from pathlib import Path

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
    notebook: object  # the executed nbformat notebook (None after run_in_process)
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
    import nbformat
    from nbclient import NotebookClient

    if mode not in MODE_ENV:
        raise ValueError(f"Unknown mode: {mode!r}. Expected one of {list(MODE_ENV)}.")
    path = Path(path)
    nb = nbformat.read(str(path), as_version=4)
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3", allow_errors=allow_errors,
                            record_timing=False,  # no timestamps in the saved notebook: they only make diffs
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    start = time.perf_counter()
    with _environ({**MODE_ENV[mode], **(env or {})}):
        client.execute()
    seconds = time.perf_counter() - start
    if save:
        nbformat.write(nb, str(path))
    return RunResult(path, mode, seconds, nb, cell_errors(nb))


def run_in_process(path: str | Path, *, mode: str = "full", echo=print) -> RunResult:
    """Executes a notebook's code cells in order in this Python process, without Jupyter.

    Each cell runs in one shared namespace, as in a kernel; its printed output and
    its time go to `echo`. A failing cell is reported and the rest still run. The
    cells are registered in `linecache` as IPython does, so code that inspects a
    function's source (some checks do) works. Nothing is saved.

    Args:
        path: the `.ipynb` file (read as plain JSON: nbformat is not needed).
        mode: `"fast"`, `"full"` or `"gpu"`.
        echo: called with each line of the report.
    """
    if mode not in MODE_ENV:
        raise ValueError(f"Unknown mode: {mode!r}. Expected one of {list(MODE_ENV)}.")
    path = Path(path)
    try:
        cells = [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a readable notebook ({err}). Expected an .ipynb file.") from None
    errors: list[tuple[int, str]] = []
    namespace = {"__name__": "__main__"}
    start = time.perf_counter()
    with _environ(MODE_ENV[mode]):
        import matplotlib

        matplotlib.use("Agg")  # no display: figures are drawn and dropped
        for index, cell in enumerate(cells):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            name = f"<{path.name} code cell {index}>"
            linecache.cache[name] = (len(source), None, source.splitlines(True), name)
            printed = io.StringIO()
            t0 = time.perf_counter()
            try:
                with contextlib.redirect_stdout(printed):
                    exec(compile(source, name, "exec"), namespace)
            except Exception as err:  # noqa: BLE001: report it and go on, as a kernel would
                errors.append((index, f"{type(err).__name__}: {err}"))
                printed.write(traceback.format_exc())
            text = printed.getvalue().rstrip()
            echo(f"--- code cell {index}: {time.perf_counter() - t0:.1f} s"
                 + (" FAILED" if errors and errors[-1][0] == index else ""))
            if text:
                echo(text)
            sys.stdout.flush()
    return RunResult(path, mode, time.perf_counter() - start, None, errors)
