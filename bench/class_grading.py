"""Benchmark: grading a class of submissions with `rnn-course grade`, before and after skipping.

The class (of notebook 02 by default) is generated from the course's own
material, in a fixed mix that repeats: the solution, the untouched student
version, the one plausible mistake of `tests/course_submissions.py`, and wrong
variants, each a notebook with all answers right but one: for notebook 02 every
wrong variant of its mutation tests (`tests/test_checks_rnn_lm.py`), for
notebook 01 the text edits in `NB01_WRONG` below (its mutation tests are
functions, not cell text).
Every submission's expected scores are known: full marks for every test cell but
the wrong answer's (and those of the answers that call it, `CALLED_BY`), which must score 0.

1. **before**: the first `--sample` submissions graded as the grader did before
   it skipped experiments: every cell run (`--run-all`), one job per core
   (`--before-jobs`, the old default);
   the time for the whole class is extrapolated from it and labelled so;
2. **after**: the whole class graded as `rnn-course grade` does by default
   (the experiment cells no answer or test needs are skipped);
3. the scores: every submission's per-test scores must equal the expected ones,
   and the sample's must be the same before and after.

Both use `grade_many`, each submission in its own sandboxed kernel, as
`rnn-course grade submissions/*/*.ipynb --jobs N` does.
Report the machine's reference speed (`bench/cells.py --cases simple_rnn`)
beside the times.

Usage:
    python bench/class_grading.py                      # 300 after, a sample of 30 before, cores + 1 jobs
    python bench/class_grading.py --n 40 --sample 10 --jobs 2 --keep DIR
    python bench/class_grading.py --notebook 01 --n 9 --sample 0 --keep DIR --out DIR/grades.csv
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]  # the mutation tests import their helpers by name
NOTEBOOKS = {"01": "01_ngram_language_models", "02": "02_rnn_language_models"}
GOAL_SECONDS = 20 * 60
#: Answers another exercise calls: 2.5's perplexity is exp of the student's own 2.4 loss, so a wrong
#: loss fails 2.5's tests too (as it would in nbgrader).
CALLED_BY = {"q2_4_sequence_loss": ["q2_5_perplexity"]}
#: Notebook 01's plausible mistakes as text edits of the solution's answer cells: grade_id -> label -> edits.
NB01_WRONG = {
    "q1_1_count_ngrams": {
        "pads with n <s>, not n - 1": [("[BOS] * (n - 1) + list(sentence)", "[BOS] * n + list(sentence)")],
        "forgets </s>": [("list(sentence) + [EOS]", "list(sentence)")],
    },
    "q1_2_mle_prob": {
        "divides by every n-gram, not the context's": [(
            "total = sum(c for gram, c in counts.items() if gram[:-1] == context)\n"
            "    return counts.get(context + (word,), 0) / total",
            "total = sum(counts.values())\n    return counts.get(context + (word,), 0) / total")],
    },
    "q1_3_add_k_prob": {
        "k added once to the denominator, not k |V|": [("/ (total + k * vocab_size)", "/ (total + k)")],
    },
    "q1_4_interpolated_prob": {
        "every shorter order added, no back-off": [("                prob += lambdas[n] * counts_by_order[m].get(ctx + (word,), 0) / total\n"
                                                    "                break",
                                                    "                prob += lambdas[n] * counts_by_order[m].get(ctx + (word,), 0) / total")],
    },
    "q1_6_temperature": {
        "multiplies by the temperature": [("scores = (scores - scores.max()) / temperature",
                                           "scores = (scores - scores.max()) * temperature")],
    },
}


def variants(name: str) -> list[tuple[str, str | None, str | None]]:
    """The mix: `(label, wrong answer grade_id, its text)`; `(label, None, None)` for the solution and
    `(label, "*", None)` for the untouched version."""
    from tests.course_submissions import WRONG

    mix = [("solution", None, None), ("untouched", "*", None), (f"wrong {WRONG[name][0]}", *WRONG[name])]
    if name == NOTEBOOKS["02"]:
        from tests.test_checks_rnn_lm import ANSWER_CELLS, MUTANTS

        for gid, cases in MUTANTS.items():
            for label, (edits, _hint) in cases.items():
                mix.append((f"{gid}: {label}", gid, ANSWER_CELLS.mutate(gid, edits)))
    else:
        from gradecells import AnswerCells

        cells = AnswerCells(f"{name}.ipynb", tuple(NB01_WRONG), "")
        for gid, cases in NB01_WRONG.items():
            for label, edits in cases.items():
                mix.append((f"{gid}: {label}", gid, cells.mutate(gid, edits)))
    return mix


def write_class(folder: Path, n: int, name: str, mix: list) -> list[tuple[Path, str, dict[str, float]]]:
    """Writes `n` submissions of notebook `name`, cycling through `mix` (`variants`), as `folder/student_NNN/<name>.ipynb`.

    Returns:
        `(path, label, expected per-test scores)` for each.
    """
    import nbformat

    from tests.course_submissions import expected_scores

    solution = nbformat.read(str(ROOT / "solutions" / f"{name}.ipynb"), 4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    points = expected_scores(name, "")
    out = []
    for i in range(n):
        label, wrong_id, wrong_text = mix[i % len(mix)]
        nb = nbformat.read(str(ROOT / "notebooks" / f"{name}.ipynb"), 4)
        if wrong_id != "*":
            for cell in nb.cells:
                gid = cell.metadata.get("nbgrader", {}).get("grade_id")
                if gid in answers:
                    cell.source = wrong_text if gid == wrong_id else answers[gid]
        failing = {f"{g}_tests" for g in [wrong_id, *CALLED_BY.get(wrong_id, [])]}
        expected = {gid: 0.0 if wrong_id == "*" or gid in failing else p for gid, p in points.items()}
        path = folder / f"student_{i:03d}" / f"{name}.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(nb, str(path))
        out.append((path, label, expected))
    return out


def grade(paths: list[Path], jobs: int, run_all: bool, title: str) -> tuple[float, list]:
    from rnn_course.grading import grade_many

    print(f"{title}: grading {len(paths)} submissions, {jobs} at a time"
          f"{' (every cell run)' if run_all else ''} ...", flush=True)
    done = [0]

    def progress(line: str) -> None:
        done[0] += 1
        if done[0] % 10 == 0 or done[0] == len(paths):
            print(f"  {line}", flush=True)

    start = time.perf_counter()
    results = grade_many(paths, None, jobs=jobs, progress=progress, run_all=run_all,
                         solutions_dir=ROOT / "solutions")
    return time.perf_counter() - start, results


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", choices=sorted(NOTEBOOKS), default="02", help="the graded notebook")
    parser.add_argument("--n", type=int, default=300, help="submissions in the class (after)")
    parser.add_argument("--sample", type=int, default=30, help="submissions graded before, every cell run (0: none)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="submissions graded at once (default: rnn-course grade's, CPU cores + 1)")
    parser.add_argument("--before-jobs", type=int, default=None,
                        help="submissions graded at once before (default: the CPU cores, the old default)")
    parser.add_argument("--keep", metavar="DIR", help="write the class here and keep it (default: a temporary folder)")
    parser.add_argument("--out", metavar="grades.csv", help="write the after run's grades.csv here (for rnn-course report)")
    args = parser.parse_args(argv)
    if args.jobs is None or args.before_jobs is None:
        from rnn_course.grading.batch import default_jobs

        args.jobs = args.jobs or default_jobs()
        args.before_jobs = args.before_jobs or default_jobs() - 1
    if args.n < 1 or args.jobs < 1 or not 0 <= args.sample <= args.n:
        parser.error(f"--n {args.n} --sample {args.sample} --jobs {args.jobs}; expected n >= 1, jobs >= 1, "
                     "0 <= sample <= n.")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="class_grading_"))
    folder.mkdir(parents=True, exist_ok=True)
    name = NOTEBOOKS[args.notebook]
    mix = variants(name)
    submissions = write_class(folder, args.n, name, mix)
    labels = {p: label for p, label, _ in submissions}
    expected = {p: e for p, _, e in submissions}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.n} submissions of {name} in {folder}: a mix of {len(mix)} kinds that repeats "
          "(solution, untouched, wrong variants)", flush=True)

    wrong: list[str] = []

    def scores_of(results) -> dict[Path, dict[str, float]]:
        got = {Path(r.submission): {t.grade_id: t.score for t in r.tests} for r in results}
        for path, s in got.items():
            if s != expected[path]:
                bad = {g: (s.get(g), e) for g, e in expected[path].items() if s.get(g) != e}
                wrong.append(f"{path.parent.name} ({labels[path]}): (got, expected) {bad}")
        return got

    before = None
    if args.sample:
        seconds, results = grade([p for p, _, _ in submissions[:args.sample]], args.before_jobs, True, "before")
        before = (seconds, scores_of(results), [r.elapsed for r in results])
    seconds, results = grade([p for p, _, _ in submissions], args.jobs, False, "after")
    after = (seconds, scores_of(results), [r.elapsed for r in results])
    if args.out:
        from rnn_course.grading.batch import write_csv

        print(f"wrote {write_csv(results, args.out)}")

    print()
    print(f"\njobs: before {args.before_jobs}, after {args.jobs}")
    print(f"{'':28s} {'submissions':>11s} {'wall time':>18s} {'per submission':>15s} {'one grade (median)':>19s}")
    if before:
        print(f"{'before (every cell run)':28s} {args.sample:>11d} {_minutes(before[0]):>18s} "
              f"{before[0] / args.sample:>14.1f}s {statistics.median(before[2]):>18.1f}s")
        extrapolated = before[0] / args.sample * args.n
        print(f"{'  extrapolated to the class':28s} {args.n:>11d} {_minutes(extrapolated):>18s}   "
              "(an extrapolation, not a measurement)")
    print(f"{'after (experiments skipped)':28s} {args.n:>11d} {_minutes(after[0]):>18s} "
          f"{after[0] / args.n:>14.1f}s {statistics.median(after[2]):>18.1f}s")
    print(f"goal: {args.n} in at most {_minutes(GOAL_SECONDS)} -> "
          f"{'met' if after[0] <= GOAL_SECONDS * args.n / 300 else 'NOT met'}"
          + (f" (scaled to {args.n})" if args.n != 300 else ""))
    if before:
        same = all(before[1][p] == after[1][p] for p in before[1])
        print(f"the sample's scores before and after: {'identical' if same else 'DIFFERENT'}")
        if not same:
            wrong.append("the sample's scores differ before and after")
    print(f"every submission's scores equal the expected ones: {'yes' if not wrong else 'NO'}")
    for line in wrong[:20]:
        print("  " + line)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
