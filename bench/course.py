"""Benchmark: every solution notebook's wall time, in FAST and in full mode, against the course's goals.

Goals (`docs/authoring.md`, README): FAST mode at most 90 s per notebook and 10 minutes for all of
them together (CI and the grader run it several times); full mode at most 10 minutes per notebook
on a 2-core CPU. Each notebook runs top to bottom in a fresh kernel (`rnn_course.runner.run_notebook`,
as `rnn-course run` does), or in this process with `--in-process` (a machine without Jupyter).
Nothing is saved into the notebooks.

Beside the times it prints the backend, the device and the machine's reference speed: the
`SimpleRNN` train step of `bench/cells.py` (batch 64 x 100 steps, hidden 256), measured first
in a subprocess, so that times from different machines can be compared.

Usage:
    python bench/course.py                          # FAST and full, every notebook in solutions/
    python bench/course.py --modes fast --json build/course.json   # FAST only (about 4 minutes)
    python bench/course.py 02_rnn_language_models 05_stacked_and_bidirectional --modes full
    KERAS_BACKEND=jax python bench/course.py --modes fast --in-process
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOALS = {"fast": {"each": 90, "total": 600}, "full": {"each": 600, "total": None}, "gpu": {"each": 360, "total": None}}


def reference_speed(backend: str) -> float | None:
    """The SimpleRNN train step of bench/cells.py in ms (a subprocess), or None if it failed."""
    cmd = [sys.executable, str(ROOT / "bench" / "cells.py"), "--json", "--cases", "simple_rnn", "--rounds", "3"]
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"})
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return float(json.loads(line[len("BENCH_JSON "):])[0]["builtin_ms"])
    return None


def run_one(path: Path, mode: str, in_process: bool) -> tuple[float, int]:
    """Seconds and failing cells of one run of `path` in `mode`; the notebook is never changed."""
    from rnn_course.runner import run_in_process, run_notebook

    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        copy.write_bytes(path.read_bytes())
        start = time.perf_counter()
        if in_process:
            result = run_in_process(copy, mode=mode, echo=lambda line: None)
        else:
            result = run_notebook(copy, mode=mode, cell_timeout=1800, allow_errors=True)
        return time.perf_counter() - start, len(result.errors)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names in solutions/ (default: all)")
    parser.add_argument("--modes", nargs="+", choices=sorted(GOALS), default=["fast", "full"])
    parser.add_argument("--in-process", action="store_true", help="run without Jupyter (rnn-course run --in-process)")
    parser.add_argument("--json", metavar="PATH", help="also write the times as JSON (bench/suite.py --fast-runs reads it)")
    args = parser.parse_args(argv)
    everything = sorted((ROOT / "solutions").glob("*.ipynb"))
    if args.notebooks:
        by_name = {p.stem: p for p in everything}
        unknown = [n for n in args.notebooks if Path(n).stem not in by_name]
        if unknown:
            parser.error(f"unknown notebook(s) {unknown}; expected some of {sorted(by_name)}.")
        everything = [by_name[Path(n).stem] for n in args.notebooks]
    if args.json:  # before the runs: a fresh clone has no build/, and minutes of runs must not be lost to it
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    ref = reference_speed(backend)
    from rnn_course import device

    rep = device.report(backend)
    print(f"bench/course.py, {datetime.date.today()}: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}; backend {backend}, "
          f"{rep.accelerator} x{len(rep.devices)}; {'in this process' if args.in_process else 'a fresh kernel each'}")
    print("reference speed (SimpleRNN train step, bench/cells.py): "
          + (f"{ref:.1f} ms/step" if ref is not None else "not measured (bench/cells.py failed)"), flush=True)
    times: dict[str, dict[str, tuple[float, int]]] = {m: {} for m in args.modes}
    for mode in args.modes:
        for path in everything:
            seconds, failed = run_one(path, mode, args.in_process)
            times[mode][path.stem] = (seconds, failed)
            print(f"  {mode:5s} {path.stem:36s} {seconds:7.1f} s{f'  ({failed} failing cell(s))' if failed else ''}",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "date": str(datetime.date.today()), "backend": backend, "reference_ms": ref,
            "seconds": {m: {n: s for n, (s, _) in t.items()} for m, t in times.items()}}, indent=1))
    print()
    header = f"{'notebook':36s}" + "".join(f"{m + ' (s)':>12s}" for m in args.modes)
    print(header)
    for path in everything:
        print(f"{path.stem:36s}" + "".join(f"{times[m][path.stem][0]:>12.1f}" for m in args.modes))
    status = 0
    for mode in args.modes:
        goal = GOALS[mode]
        total = sum(s for s, _ in times[mode].values())
        over = [n for n, (s, _) in times[mode].items() if s > goal["each"]]
        failed = [n for n, (_, f) in times[mode].items() if f]
        verdict = []
        verdict.append(f"each <= {goal['each']} s: " + ("met" if not over else f"NOT met ({', '.join(over)})"))
        if goal["total"]:
            verdict.append(f"total {total:.0f} s <= {goal['total']} s: " + ("met" if total <= goal["total"] else "NOT met"))
        else:
            verdict.append(f"total {total:.0f} s")
        if failed:
            verdict.append(f"failing cells in {', '.join(failed)}")
        print(f"{mode}: " + "; ".join(verdict))
        status |= bool(over or failed or (goal["total"] and total > goal["total"]))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
