"""Grading many submissions at once, in parallel, into one CSV.

Each submission is graded by `grade_notebook`, which runs it in its own sandbox
process; `jobs` of them run at the same time. A submission that cannot be
graded gets a row that says why, and the batch goes on. The CSV is written once,
atomically, after every sandbox has finished, so no notebook can write into it.
Its `student` column comes from `naming.unique_students`: no two rows of one
notebook share a student.
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import os
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

from rnn_course.grading.grader import grade_notebook
from rnn_course.grading.naming import unique_students
from rnn_course.grading.results import GradeResult, write_atomic

FIXED_COLUMNS = ["submission", "student", "student_id", "notebook", "score", "max_score", "percent", "status",
                 "tests_passed", "seconds", "reason", "notes", "flags"]
#: What grades.csv records of each test cell besides its points (column `<grade_id>`): columns
#: `<grade_id>:verdict`, `<grade_id>:mistake`, `<grade_id>:hint` and `<grade_id>:seconds`, after all the
#: points columns, so that a reader of older files (points only) finds its columns where they were.
TEST_DETAIL_COLUMNS = ("verdict", "mistake", "hint", "seconds")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """A CSV cell that a spreadsheet shows as text, never runs as a formula.

    Text that students control (file names, hints, notes) may start with `=`, `+`,
    `-`, `@`, a tab or a carriage return, which Excel, LibreOffice and Google Sheets
    read as a formula (`=HYPERLINK(...)`, `=cmd|' /C calc'!A0`); such text gets a
    leading `'`, as OWASP's "CSV injection" advice says. Numbers pass unchanged.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def default_jobs() -> int:
    """One more than the CPU cores this process may use.

    A grade leaves a core idle part of the time (the kernel starting, the messages between
    the sandbox and the kernel), so one extra submission fills it: on 2 cores, 51
    notebook-02 submissions took 151 s with 3 jobs against 187 s with 2
    (`bench/class_grading.py --n 51 --sample 0`, 2026-11-30).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores) + 1


def _grade_one(path: Path, kwargs: dict, executed_dir: Path | None, index: int) -> GradeResult:
    start = time.monotonic()
    try:
        result = grade_notebook(path, **kwargs)
        if executed_dir is not None and result.notebook is not None:
            import nbformat

            executed_dir.mkdir(parents=True, exist_ok=True)
            nbformat.write(result.notebook, str(executed_dir / f"{index:04d}_{path.name}"))
        result.notebook = None  # a batch keeps no outputs in memory
        return result
    except Exception as err:  # one bad submission never stops the batch
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if not isinstance(err, ValueError):
            message = f"{type(err).__name__}: {message}"
        return GradeResult(submission=path, source=kwargs.get("source_path"), score=0.0, max_score=0.0,
                           tests=[], error=message, elapsed=time.monotonic() - start)


def _progress_bar(total: int, enabled: bool | None):
    """A tqdm bar on stderr (submissions done, rate, ETA), or None when not wanted.

    `enabled=None` shows it only when stderr is a terminal, so logs and pipes get
    no carriage-return noise.
    """
    if enabled is False or total < 2:
        return None
    if enabled is None and not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit="nb", desc="grading", dynamic_ncols=True,
                bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {elapsed} elapsed, ETA {remaining}{postfix}")


def grade_many(paths: Iterable[str | Path], out_csv: str | Path | None = None, jobs: int | None = None, *,
               progress: Callable[[str], None] | None = None, executed_dir: str | Path | None = None,
               progress_bar: bool | None = False, **grade_kwargs) -> list[GradeResult]:
    """Grades many submissions in parallel and writes one CSV row per submission.

    Args:
        paths: the submitted `.ipynb` files.
        out_csv: where to write the grades (None: write nothing).
        jobs: how many submissions run at once (default: `default_jobs`, one more than the CPU cores).
        progress: called with one line per finished submission (score and seconds),
            then with one `warning: ...` line per group of submissions of one
            notebook that would have shared a student (see `naming.unique_students`).
        executed_dir: if given, each restored and executed notebook is saved
            there as `NNNN_<name>.ipynb` (results keep no outputs in memory).
        progress_bar: a progress bar with the ETA on stderr (tqdm), updated as
            each submission finishes; the `progress` lines are printed above it.
            None: only when stderr is a terminal. Default False.
        **grade_kwargs: passed to `grade_notebook` (`source_path`, `cell_timeout`, ...).

    Returns:
        One `GradeResult` per path, in the order given. A submission that could
        not be graded has `status == "error"` and `error` says why.

    Raises:
        GradingError: `jobs` is not a positive integer.
    """
    from rnn_course.grading.errors import GradingError

    paths = [Path(p) for p in paths]
    jobs = default_jobs() if jobs is None else jobs
    if not isinstance(jobs, int) or jobs < 1:
        raise GradingError(f"jobs={jobs!r}; expected a positive integer (or None for one per CPU core).")
    results: list[GradeResult | None] = [None] * len(paths)
    bar = _progress_bar(len(paths), progress_bar)
    say = progress
    if bar is not None and progress is not None:
        def say(line: str) -> None:  # printed above the bar, which is redrawn below it
            bar.clear()
            progress(line)
            bar.refresh()
    counts = {"rejected": 0, "error": 0}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=min(jobs, max(1, len(paths)))) as pool:
            folder = Path(executed_dir) if executed_dir is not None else None
            futures = {pool.submit(_grade_one, p, grade_kwargs, folder, i): i for i, p in enumerate(paths)}
            for n, future in enumerate(concurrent.futures.as_completed(futures), start=1):
                i = futures[future]
                results[i] = future.result()
                if say is not None:
                    say(f"[{n}/{len(paths)}] {results[i].one_line()}")
                if bar is not None:
                    if results[i].status in counts:
                        counts[results[i].status] += 1
                        bar.set_postfix_str(f"{counts['rejected']} rejected, {counts['error']} failed",
                                            refresh=False)
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    done = [r for r in results if r is not None]
    if progress is not None:
        for warning in unique_students([(r.submission, r.source) for r in done])[1]:
            progress(f"warning: {warning}")
    if out_csv is not None:
        write_csv(done, out_csv)
    return done


def write_csv(results: list[GradeResult], path: str | Path) -> Path:
    """Writes grades.csv: the fixed columns, one column of points per test grade_id, then each test's details.

    The details of test `<grade_id>` (see `TEST_DETAIL_COLUMNS`) are
    `<grade_id>:verdict` (`TestResult.verdict`: passed, partial, failed, error,
    timeout, not run), `<grade_id>:mistake` (`TestResult.mistake`, a stable code
    such as `2.5/CheckFailed`; empty when passed), `<grade_id>:hint` (the one-line
    reason it lost points) and `<grade_id>:seconds`. They come after every points
    column, so files written before them read the same. The `student` of each row
    comes from `naming.unique_students`: rows of one notebook that would share a
    student are named apart, with a note. Text cells that a spreadsheet would run
    as a formula are defused (`csv_safe`).
    """
    test_ids: list[str] = []
    for r in results:
        for t in r.tests:
            if t.grade_id not in test_ids:
                test_ids.append(t.grade_id)
    details = [f"{gid}:{what}" for gid in test_ids for what in TEST_DETAIL_COLUMNS]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIXED_COLUMNS + test_ids + details, lineterminator="\n")
    writer.writeheader()
    submitters, _ = unique_students([(r.submission, r.source) for r in results])
    for r, who in zip(results, submitters):
        row = r.csv_row(who)
        row.update({gid: score for gid, score in r.scores.items()})
        for t in r.tests:
            row.update({f"{t.grade_id}:verdict": t.verdict, f"{t.grade_id}:mistake": t.mistake,
                        f"{t.grade_id}:hint": "" if t.verdict == "passed" else t.reason,
                        f"{t.grade_id}:seconds": round(t.execution_time, 2)})
        writer.writerow({k: csv_safe(v) for k, v in row.items()})
    return write_atomic(path, buf.getvalue())
