"""Running course notebooks headlessly, in a chosen mode, with a time per notebook.

Instructors use it to refresh the outputs stored in `solutions/` (full mode, so the
outputs they read are real results), and the tests use it to run notebooks top to
bottom. `rnn-course run NOTEBOOK` is the command-line face.

`run_in_process` runs the code cells in the calling Python process instead, with
no Jupyter at all: for machines that have the course's dependencies but no
kernel (a bare GPU box), and for timing without a kernel's overhead. With an
output folder it keeps what such a run produces: each cell's printed output and
time, every figure as a PNG, and the tables the notebook published
(`COURSE.publish`), in `<folder>/<notebook>/run.json`.
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
    "gpu-dry": {"RNN_COURSE_FAST": "0", "RNN_COURSE_SCALE": "gpu-dry"},
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
        mode: `"fast"`, `"full"`, `"gpu"` or `"gpu-dry"` (sets RNN_COURSE_FAST / RNN_COURSE_SCALE).
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


def run_in_process(path: str | Path, *, mode: str = "full", echo=print, out_dir: str | Path | None = None) -> RunResult:
    """Executes a notebook's code cells in order in this Python process, without Jupyter.

    Each cell runs in one shared namespace, as in a kernel; its printed output and
    its time go to `echo`. A failing cell is reported and the rest still run. The
    cells are registered in `linecache` as IPython does, so code that inspects a
    function's source (some checks do) works. The notebook itself is never changed.

    Args:
        path: the `.ipynb` file (read as plain JSON: nbformat is not needed).
        mode: `"fast"`, `"full"`, `"gpu"` or `"gpu-dry"`.
        echo: called with each line of the report.
        out_dir: if given, the run is kept in `out_dir/<notebook stem>/`: every matplotlib
            figure a cell leaves open as `cellNN_figK.png` (closed after the cell, as the
            inline backend does), and `run.json` with the notebook, mode, backend, device,
            date, total seconds, each code cell's seconds, output, error and figures, and the
            tables published with `COURSE.publish` (`tables`). It is written after every cell,
            so a run that is stopped keeps what it had.

    Raises:
        ValueError: an unknown mode, or a file that is not a readable notebook.
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
    keep = _RunRecord(path, mode, Path(out_dir)) if out_dir is not None else None
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
            failed = bool(errors) and errors[-1][0] == index
            seconds = time.perf_counter() - t0
            echo(f"--- code cell {index}: {seconds:.1f} s" + (" FAILED" if failed else ""))
            if text:
                echo(text)
            if keep is not None:
                keep.cell(index, seconds, text, errors[-1][1] if failed else None, namespace,
                          time.perf_counter() - start)
            sys.stdout.flush()
    if keep is not None:
        echo(f"kept in {keep.folder}: run.json and {keep.n_figures} figure(s)")
    return RunResult(path, mode, time.perf_counter() - start, None, errors)


class _RunRecord:
    """What `run_in_process(out_dir=...)` keeps: figures as PNG files and `run.json`."""

    def __init__(self, path: Path, mode: str, out_dir: Path):
        import datetime

        self.folder = out_dir / path.stem
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ValueError(f"cannot create the output folder {self.folder} ({err}). Expected a writable path.") from None
        self.n_figures = 0
        self.data = {"notebook": path.name, "mode": mode, "started": datetime.datetime.now(datetime.timezone.utc)
                     .isoformat(timespec="seconds"), "seconds": 0.0, "backend": None, "device": None,
                     "cells": [], "tables": {}}

    def cell(self, index: int, seconds: float, output: str, error: str | None, namespace: dict, total: float) -> None:
        figures = []
        plt = sys.modules.get("matplotlib.pyplot")
        if plt is not None:
            for number in plt.get_fignums():
                name = f"cell{index:02d}_fig{len(figures) + 1}.png"
                plt.figure(number).savefig(self.folder / name, dpi=100, bbox_inches="tight")
                figures.append(name)
            plt.close("all")
        self.n_figures += len(figures)
        course = namespace.get("COURSE")
        if course is not None and hasattr(course, "tables") and hasattr(course, "report"):
            self.data["tables"] = course.tables
            self.data["backend"] = getattr(course, "backend", None)
            report = course.report
            self.data["device"] = {"accelerator": getattr(report, "accelerator", None),
                                   "devices": [str(d) for d in getattr(report, "devices", [])]}
        self.data["cells"].append({"index": index, "seconds": round(seconds, 3), "output": output,
                                   "error": error, "figures": figures})
        self.data["seconds"] = round(total, 3)
        tmp = self.folder / "run.json.tmp"
        tmp.write_text(json.dumps(self.data, indent=1, allow_nan=True), encoding="utf-8")
        tmp.replace(self.folder / "run.json")
