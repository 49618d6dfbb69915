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
import time
from pathlib import Path
from typing import Callable, Iterable

from rnn_course.grading.grader import grade_notebook
from rnn_course.grading.naming import unique_students
from rnn_course.grading.results import GradeResult, write_atomic

FIXED_COLUMNS = ["submission", "student", "student_id", "notebook", "score", "max_score", "percent", "status",
                 "tests_passed", "seconds", "reason", "notes", "flags"]


def default_jobs() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


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


def grade_many(paths: Iterable[str | Path], out_csv: str | Path | None = None, jobs: int | None = None, *,
               progress: Callable[[str], None] | None = None, executed_dir: str | Path | None = None,
               **grade_kwargs) -> list[GradeResult]:
    """Grades many submissions in parallel and writes one CSV row per submission.

    Args:
        paths: the submitted `.ipynb` files.
        out_csv: where to write the grades (None: write nothing).
        jobs: how many submissions run at once (default: the CPU cores available).
        progress: called with one line per finished submission (score and seconds),
            then with one `warning: ...` line per group of submissions of one
            notebook that would have shared a student (see `naming.unique_students`).
        executed_dir: if given, each restored and executed notebook is saved
            there as `NNNN_<name>.ipynb` (results keep no outputs in memory).
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
    with concurrent.futures.ThreadPoolExecutor(max_workers=min(jobs, max(1, len(paths)))) as pool:
        folder = Path(executed_dir) if executed_dir is not None else None
        futures = {pool.submit(_grade_one, p, grade_kwargs, folder, i): i for i, p in enumerate(paths)}
        for n, future in enumerate(concurrent.futures.as_completed(futures), start=1):
            i = futures[future]
            results[i] = future.result()
            if progress is not None:
                progress(f"[{n}/{len(paths)}] {results[i].one_line()}")
    done = [r for r in results if r is not None]
    if progress is not None:
        for warning in unique_students([(r.submission, r.source) for r in done])[1]:
            progress(f"warning: {warning}")
    if out_csv is not None:
        write_csv(done, out_csv)
    return done


def write_csv(results: list[GradeResult], path: str | Path) -> Path:
    """Writes grades.csv: the fixed columns, then one column of points per test grade_id.

    The `student` of each row comes from `naming.unique_students`: rows of one
    notebook that would share a student are named apart, with a note.
    """
    test_ids: list[str] = []
    for r in results:
        for t in r.tests:
            if t.grade_id not in test_ids:
                test_ids.append(t.grade_id)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIXED_COLUMNS + test_ids, lineterminator="\n")
    writer.writeheader()
    submitters, _ = unique_students([(r.submission, r.source) for r in results])
    for r, who in zip(results, submitters):
        row = r.csv_row(who)
        row.update({gid: score for gid, score in r.scores.items()})
        writer.writerow(row)
    return write_atomic(path, buf.getvalue())
