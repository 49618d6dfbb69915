"""The `rnn-course grade` and `rnn-course gradescope-zip` commands.

    rnn-course grade SUBMISSION.ipynb [more ...] [--source S] [--json results.json]
                     [--out grades.csv] [--cell-timeout N] [--timeout N] [--memory-mb N] [--jobs N]
    rnn-course gradescope-zip NOTEBOOK [-o autograder.zip]

`register_cli(subparsers)` adds both to the course CLI. Exit status: 0 when every
submission was graded (a rejected submission is graded 0 and says why), 1 when
grading failed for some submission (its row says why), 2 on bad usage or input
(one line on stderr, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnn_course.errors import CourseError
from rnn_course.grading.errors import GradingError
from rnn_course.grading.limits import (
    DEFAULT_CELL_TIMEOUT, DEFAULT_CHECK_MODULES, DEFAULT_MEMORY_MB, DEFAULT_TOTAL_TIMEOUT)
from rnn_course.grading.results import VISIBILITIES


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"got {text!r}; expected a positive number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"got {text!r}; expected a positive number")
        return value
    return parse


def _share(text: str):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a share between 0 and 1, like 0.6") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected a share between 0 and 1, like 0.6")
    return value


def _memory(text: str):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected megabytes (0 for no limit)") from None
    if value < 0 or 0 < value < 256:
        raise argparse.ArgumentTypeError(f"got {text!r}; expected at least 256 (MB), or 0 for no limit")
    return value or None


def _env_pair(text: str):
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"got {text!r}; expected NAME=VALUE, like RNN_COURSE_FAST=0")
    return tuple(text.split("=", 1))


def _limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cell-timeout", type=_positive(float), default=DEFAULT_CELL_TIMEOUT, metavar="N",
                   help=f"seconds one cell may run (default {DEFAULT_CELL_TIMEOUT})")
    p.add_argument("--timeout", type=_positive(float), default=DEFAULT_TOTAL_TIMEOUT, metavar="N",
                   help=f"seconds a whole notebook may run (default {DEFAULT_TOTAL_TIMEOUT})")
    p.add_argument("--memory-mb", type=_memory, default=DEFAULT_MEMORY_MB, metavar="N",
                   help=f"kernel address-space limit in MB, 0 for none (default {DEFAULT_MEMORY_MB})")
    p.add_argument("--visibility", choices=VISIBILITIES, default="visible",
                   help="Gradescope visibility of test cells without hidden tests (default visible)")
    p.add_argument("--hidden-visibility", choices=VISIBILITIES, default="after_published",
                   help="Gradescope visibility of test cells with hidden tests (default after_published)")


def register_cli(subparsers) -> None:
    """Adds the `grade` and `gradescope-zip` subcommands to an argparse subparsers object.

    Each sets `func`, which takes the parsed arguments and returns the exit status.
    """
    p = subparsers.add_parser(
        "grade", help="grade submitted notebooks (restored, sandboxed, scored like nbgrader)",
        description="Grade submitted notebooks against their instructor source in solutions/. "
                    "See docs/grading.md.")
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION.ipynb")
    p.add_argument("--source", help="the instructor notebook (default: found in solutions/ by file name)")
    p.add_argument("--solutions", metavar="DIR", help="where to look for sources (default: ./solutions)")
    p.add_argument("--json", metavar="results.json", help="write Gradescope results.json (one submission only)")
    p.add_argument("--out", metavar="grades.csv", help="write one CSV row per submission")
    p.add_argument("--jobs", type=_positive(int), default=None, metavar="N",
                   help="submissions graded at once (default: CPU cores + 1)")
    p.add_argument("--check-module", action="append", metavar="MODULE",
                   help="module re-imported before every test cell (repeatable; default rnn_course.checks)")
    p.add_argument("--env", action="append", type=_env_pair, metavar="NAME=VALUE",
                   help="environment variable for the kernel, e.g. RNN_COURSE_FAST=0 (repeatable)")
    p.add_argument("--executed", metavar="DIR", help="save each restored, executed notebook here")
    p.add_argument("--run-all", action="store_true",
                   help="run every cell (by default the instructor's experiment cells that no answer or test "
                        "needs are skipped: same scores, about half the time, but no outputs for those cells)")
    p.add_argument("--quiet", action="store_true", help="one line per submission")
    p.add_argument("--no-bar", action="store_true",
                   help="no progress bar (by default a batch shows one, with the ETA, on stderr when it is "
                        "a terminal; the per-submission lines are printed either way)")
    _limits(p)
    p.set_defaults(func=_guarded(_grade))

    p = subparsers.add_parser(
        "report", help="a class report (HTML + JSON) from grades.csv files: scores, mistakes, problems, time",
        description="Aggregate grades.csv files written by `rnn-course grade --out` into one self-contained HTML "
                    "page and a JSON file of the same numbers. See docs/grading.md.")
    p.add_argument("grades", nargs="+", metavar="grades.csv")
    p.add_argument("-o", "--out", required=True, metavar="report.html",
                   help="the HTML page to write; the JSON goes beside it (report.json)")
    p.add_argument("--executed", metavar="DIR",
                   help="the --executed folder of the batch, to show an excerpt of an answer per mistake")
    p.add_argument("--anonymise", "--anonymize", action="store_true",
                   help="show students as keyed pseudonyms (HMAC) everywhere; needs --key-file")
    p.add_argument("--key-file", metavar="K", help="the secret key for --anonymise (created if missing)")
    p.add_argument("--solutions", metavar="DIR",
                   help="where the sources are (pass rates for grades.csv files written by older graders)")
    p.set_defaults(func=_guarded(_report))

    p = subparsers.add_parser(
        "similarity", help="pairs of submissions whose own code is alike (copydetect): leads for a human",
        description="Compare what students wrote (answer cells and added cells, the instructor's starter code "
                    "removed) and list the most similar pairs with their matching lines side by side. "
                    "Similarity is a lead for a human, not a verdict. See docs/grading.md.")
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION.ipynb")
    p.add_argument("--source", help="the instructor notebook (default: found in solutions/ by file name)")
    p.add_argument("--solutions", metavar="DIR", help="where to look for sources (default: ./solutions)")
    p.add_argument("--threshold", type=_share, default=None, metavar="S",
                   help="report pairs whose similarity (the smaller side's share) is at least S, 0..1 "
                        "(default 0.6)")
    p.add_argument("--top", type=int, default=20, metavar="N", help="show the N most similar pairs (0: all)")
    p.add_argument("--json", metavar="pairs.json", help="also write every pair, with its matching lines, as JSON")
    p.set_defaults(func=_guarded(_similarity))

    p = subparsers.add_parser(
        "gradescope-zip", help="build a Gradescope autograder zip for one notebook",
        description="Build the Gradescope autograder zip (setup.sh, run_autograder, the package, the source).")
    p.add_argument("notebook", help="notebook name or number, e.g. 02 or 02_rnn_language_models")
    p.add_argument("-o", "--out", metavar="autograder.zip", help="default: autograder_<notebook>.zip")
    p.add_argument("--solutions", metavar="DIR", help="where the instructor notebooks are (default ./solutions)")
    _limits(p)
    p.add_argument("--run-all", action="store_true",
                   help="run every cell of each submission (by default the instructor's experiment cells that no "
                        "answer or test needs are skipped)")
    p.set_defaults(func=_guarded(_gradescope_zip))


def _guarded(handler):
    def run(args) -> int:
        name = getattr(args, "command", None) or handler.__name__.strip("_").replace("_", "-")
        try:
            return handler(args)
        except (CourseError, OSError) as err:
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            print(f"rnn-course {name}: error: {text}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"rnn-course {name}: interrupted", file=sys.stderr)
            return 130
    run.__name__ = handler.__name__
    return run


def _grade(args) -> int:
    from rnn_course.grading.batch import grade_many

    paths = [Path(p) for p in args.submissions]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise GradingError(f"no such submission file: {', '.join(missing[:3])}"
                           f"{' ...' if len(missing) > 3 else ''}; expected .ipynb files.")
    if args.json and len(paths) != 1:
        raise GradingError(f"--json writes one results.json but {len(paths)} submissions were given; "
                           "use --out grades.csv for many.")
    if args.source and not Path(args.source).is_file():
        raise GradingError(f"--source {args.source} does not exist; expected an instructor notebook.")
    kwargs = dict(source_path=args.source, solutions_dir=args.solutions, cell_timeout=args.cell_timeout,
                  total_timeout=args.timeout, memory_limit_mb=args.memory_mb, env=dict(args.env or []),
                  check_modules=tuple(args.check_module or DEFAULT_CHECK_MODULES), run_all=args.run_all)
    if len(paths) == 1:
        from rnn_course.grading.grader import grade_notebook

        results = [grade_notebook(paths[0], **kwargs)]
        if args.out:
            from rnn_course.grading.batch import write_csv

            write_csv(results, args.out)
    else:
        results = grade_many(paths, args.out, jobs=args.jobs, progress=lambda line: print(line, flush=True),
                             executed_dir=args.executed, progress_bar=False if args.no_bar else None, **kwargs)
    if len(results) == 1:
        print(results[0].one_line() if args.quiet else results[0].summary())
        if args.executed and results[0].notebook is not None:
            import nbformat

            Path(args.executed).mkdir(parents=True, exist_ok=True)
            nbformat.write(results[0].notebook, str(Path(args.executed) / paths[0].name))
    if args.json:
        results[0].write_gradescope(args.json, visibility=args.visibility,
                                    hidden_visibility=args.hidden_visibility)
        print(f"wrote {args.json}")
    if args.out:
        print(f"wrote {args.out} ({len(results)} row(s))")
    if len(results) > 1:
        graded = [r for r in results if r.status == "graded"]
        print(f"{len(graded)} graded, {sum(r.status == 'rejected' for r in results)} rejected, "
              f"{sum(r.status == 'error' for r in results)} failed; "
              f"{sum(r.elapsed for r in results):.0f} s of grading")
    return 1 if any(r.status == "error" for r in results) else 0


def _report(args) -> int:
    from rnn_course.grading.report import build_report

    created = bool(args.anonymise and args.key_file and not Path(args.key_file).exists())
    html_path, json_path, data = build_report(args.grades, args.out, executed=args.executed,
                                              key_file=args.key_file, anonymise=args.anonymise,
                                              solutions_dir=args.solutions)
    if created:
        print(f"created the secret key {args.key_file}: keep it (and keep it private) to get the same "
              "pseudonyms next time")
    print(f"wrote {html_path} and {json_path} ({data['submissions']} submission(s), "
          f"{len(data['notebooks'])} notebook section(s), {len(data['problems'])} problem(s) listed)")
    return 0


def _similarity(args) -> int:
    from rnn_course.grading import similarity as S

    if args.source and not Path(args.source).is_file():
        raise GradingError(f"--source {args.source} does not exist; expected an instructor notebook.")
    threshold = S.DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    pairs, skipped = S.similarity_report(args.submissions, source_path=args.source, solutions_dir=args.solutions,
                                         threshold=threshold)
    compared = len(args.submissions) - len(skipped)
    print(S.format_pairs(pairs, top=args.top or None))
    print(f"{compared} submission(s) compared, {len(pairs)} pair(s) at or above {threshold:.0%}.")
    for c in skipped:
        print(f"not compared: {c.submission}: {c.skipped}")
    if args.json:
        S.write_json(args.json, S.pairs_json(pairs, skipped, threshold))
        print(f"wrote {args.json}")
    return 0


def _gradescope_zip(args) -> int:
    from rnn_course.grading.gradescope import build_autograder_zip

    out = build_autograder_zip(args.notebook, args.out, solutions_dir=args.solutions,
                               cell_timeout=args.cell_timeout, total_timeout=args.timeout,
                               memory_limit_mb=args.memory_mb, visibility=args.visibility,
                               hidden_visibility=args.hidden_visibility, run_all=args.run_all)
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m rnn_course.grading grade ...`: the same commands without the rest of the course CLI."""
    parser = argparse.ArgumentParser(prog="rnn-course", description="Grade rnn-course notebooks.")
    sub = parser.add_subparsers(dest="command", required=True)
    register_cli(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)
