"""Benchmark: grading a notebook against executing it, for every graded course notebook.

The anchor is a plain headless run of the solution notebook in FAST mode
(`rnn_course.runner.run_notebook`: one fresh kernel, nbclient, the cells in
order), which is what a student's notebook costs to execute. The measured side is
`rnn_course.grading.grade_notebook` on the same notebook: find the source,
restore every locked and test cell, start the sandboxed kernel under its limits,
run the prelude and a check reset before every test cell, score, and build the
results. Both start a fresh kernel, so the ratio is the grader's overhead. The
goal is a ratio of at most 1.5.

The two are interleaved, round by round, and the median of each is reported,
because the course's reference machine (2 shared CPU cores) is noisy.

Usage:
    python bench/grading.py                          # every graded notebook in solutions/, 3 rounds
    python bench/grading.py 01_ngram_language_models --rounds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.5


def graded_notebooks() -> list[Path]:
    import nbformat

    return [p for p in sorted((ROOT / "solutions").glob("*.ipynb"))
            if any(c.metadata.get("nbgrader", {}).get("grade") for c in nbformat.read(str(p), 4).cells)]


def time_execution(source: Path, scratch: Path) -> float:
    from rnn_course.runner import run_notebook

    work = scratch / source.name  # a copy: run_notebook writes nothing, but keep solutions/ untouched
    shutil.copy(source, work)
    start = time.perf_counter()
    result = run_notebook(work, mode="fast", allow_errors=True, cell_timeout=600)
    seconds = time.perf_counter() - start
    if result.errors:
        raise SystemExit(f"{source.name}: the solution failed to execute: {result.errors[:2]}")
    return seconds


def time_grading(source: Path) -> float:
    from rnn_course.grading import grade_notebook

    start = time.perf_counter()
    result = grade_notebook(source, source)
    seconds = time.perf_counter() - start
    if result.score != result.max_score:
        raise SystemExit(f"{source.name}: the solution did not get full marks:\n{result.summary()}")
    return seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook names in solutions/ (default: every graded one)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the median is reported")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds={args.rounds}; expected at least 1.")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    everything = graded_notebooks()
    if args.notebooks:
        by_name = {p.stem: p for p in everything}
        unknown = [n for n in args.notebooks if Path(n).stem not in by_name]
        if unknown:
            parser.error(f"unknown notebook(s) {unknown}; expected some of {sorted(by_name)}.")
        sources = [by_name[Path(n).stem] for n in args.notebooks]
    else:
        sources = everything

    print(f"bench/grading.py: FAST mode, median of {args.rounds} interleaved rounds "
          f"({os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.2f} at the start)")
    status = 0
    with tempfile.TemporaryDirectory() as tmp:
        for source in sources:
            executed, graded = [], []
            for r in range(args.rounds):
                executed.append(time_execution(source, Path(tmp)))
                graded.append(time_grading(source))
                print(f"  {source.stem} round {r + 1}: execute {executed[-1]:6.1f} s, grade {graded[-1]:6.1f} s",
                      flush=True)
            run_s, grade_s = statistics.median(executed), statistics.median(graded)
            ratio = grade_s / run_s
            verdict = "ok" if ratio <= GOAL else "ABOVE GOAL"
            status |= ratio > GOAL
            print(f"{source.stem:28s} execute {run_s:6.1f} s   grade {grade_s:6.1f} s   "
                  f"ratio {ratio:.2f}x   (goal <= {GOAL}x: {verdict})")
    return int(status)


if __name__ == "__main__":
    sys.exit(main())
