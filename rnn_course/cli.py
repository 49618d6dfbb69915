"""The `rnn-course` command.

    rnn-course doctor            environment, device and data report to paste into a help forum
    rnn-course assign            regenerate notebooks/ from solutions/ (setup cells and Colab links from course.toml)
    rnn-course assign --check    fail if notebooks/ is stale or leaks solutions / hidden tests
    rnn-course run NB --save     execute a notebook (full mode by default), store outputs, print its time
    rnn-course data --verify     check the bundled corpora's sha256
    rnn-course grade ...         grade submissions (see docs/grading.md)

Bad input gives one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

from rnn_course.errors import CourseError


def _import_notices_report() -> list[str]:
    """The doctor's lines on what guarded imports printed (`rnn_course.quiet_imports`).

    Run before anything imports TensorFlow for the first part (captures left by
    processes that died while importing it, so their text is shown once, then
    removed), and after for the second (what this process's imports printed).
    """
    from rnn_course import quiet_imports

    lines = []
    for module, pid, path in quiet_imports.abandoned_logs():
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
            path.unlink()
        except OSError as err:
            lines.append(f"died during: an import of {module} in process {pid} ({path}: {err})")
            continue
        kept = [line for line in text.splitlines() if line.strip()]
        lines.append(f"died during: an import of {module} in process {pid}, which printed "
                     f"{len(kept)} line(s) (shown once; {path} removed):")
        lines += [f"               | {line}" for line in kept]
    return lines


def _doctor(args) -> int:
    from rnn_course import corpora, device, notebook, quiet_imports

    abandoned = _import_notices_report()
    notebook.silence_logs()
    device.select_backend(args.backend)
    print("rnn-course doctor")
    print("=================")
    rep = device.report()
    tf_error = None
    if importlib.util.find_spec("tensorflow") is not None:
        try:  # under any backend Keras imports it too (seeding): report what it printed
            import tensorflow  # noqa: F401
        except ImportError as err:
            tf_error = err

    print(rep)
    notices = quiet_imports.notices()
    if not quiet_imports.installed():
        print(f"imports      : not guarded ({quiet_imports.ENV_SWITCH}="
              f"{os.environ.get(quiet_imports.ENV_SWITCH, '')!r}): TensorFlow's import notices went to stderr")
    elif not notices and tf_error is None:
        print("imports      : nothing printed to stderr while TensorFlow was imported"
              if "tensorflow" in sys.modules else "imports      : TensorFlow is not installed")
    if tf_error is not None:
        print(f"imports      : importing tensorflow failed: {tf_error}")
    for notice in notices:
        print(f"imports      : {notice.summary()}")
        for line in notice.lines:
            print(f"               | {line}")
    for line in abandoned:
        print(line)
    print(f"mode         : {notebook.mode_from_env().upper()} "
          f"(RNN_COURSE_FAST={os.environ.get('RNN_COURSE_FAST', '')!r}, "
          f"RNN_COURSE_SCALE={os.environ.get('RNN_COURSE_SCALE', '')!r})")
    print(f"package      : {Path(__file__).resolve().parent}")
    print("\ndata (sha256 of the original file, checked now):")
    bad = 0
    for row in corpora.verify_all():
        status = "ok" if row["ok"] else "FAILED"
        bad += not row["ok"]
        print(f"  {status:6s} {row['corpus']:17s} {row['file']:27s} {row['bytes'] or 0:>11,d} B  "
              f"sha256 {row['sha256'][:16]}…")
        if row["error"]:
            print(f"         {row['error']}")
    extras = {name: importlib.util.find_spec(name) is not None for name in ("nbgrader", "nbval", "jax", "torch")}
    print("\noptional   : " + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in extras.items()))
    return 1 if bad else 0


def _assign(args) -> int:
    from rnn_course import assignment

    report = assignment.assign(Path(args.root) if args.root else None, check=args.check, names=args.names or None)
    if args.check:
        for path in report.stale:
            print(f"STALE   {path}: differs from what solutions/ generates. Fix: run `rnn-course assign`.")
        for item in report.leaked:
            print(f"LEAK    {item}")
        for path in report.orphans:
            print(f"ORPHAN  {path}: has no source in solutions/. Fix: delete it or add its solution.")
        for item in report.unsynced:
            print(f"STALE   {item}. Fix: run `rnn-course assign`.")
        print("notebooks/ is up to date and leaks nothing." if report.ok else "assign --check FAILED")
        return 0 if report.ok else 1
    for path in report.written:
        print(f"wrote {path}")
    for path in report.orphans:
        print(f"warning: {path} has no source in solutions/")
    return 0


def _data(args) -> int:
    from rnn_course import corpora

    if args.bundle:
        manifest = corpora.bundle(args.bundle)
        print(f"bundled {sum(len(v) for v in manifest.values())} files into {corpora.DATA_DIR}")
        return 0
    rows = corpora.verify_all()
    for row in rows:
        print(f"{'ok' if row['ok'] else 'FAILED':6s} {row['corpus']:17s} {row['file']} {row['error']}")
    return 0 if all(r["ok"] for r in rows) else 1


def _run(args) -> int:
    from rnn_course.runner import run_in_process, run_notebook

    if args.in_process and args.save:
        raise CourseError("--in-process runs without a kernel and keeps no outputs, so it cannot --save. "
                          "Drop one of the two (--out DIR keeps an in-process run's outputs in a folder).")
    if args.out and not args.in_process:
        raise CourseError("--out DIR keeps the outputs of an --in-process run; a kernel run keeps them in the "
                          "notebook with --save. Add --in-process or use --save.")
    status = 0
    for path in args.notebooks:
        if args.in_process:
            result = run_in_process(path, mode=args.mode, out_dir=args.out)
        else:
            result = run_notebook(path, mode=args.mode, cell_timeout=args.cell_timeout,
                                  allow_errors=True, save=args.save)
        print(f"{path}: {result.seconds:.1f} s in {args.mode.upper()} mode, "
              f"{len(result.errors)} failing cell(s){' (outputs saved)' if args.save else ''}")
        for index, message in result.errors:
            print(f"  cell {index}: {message}")
        status |= bool(result.errors)
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rnn-course", description="The recurrent-neural-network course helper.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="print an environment, device and data report")
    p.add_argument("--backend", help="Keras backend to report on (default: KERAS_BACKEND or tensorflow)")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("assign", help="generate notebooks/ from solutions/ with nbgrader's preprocessors")
    p.add_argument("names", nargs="*", help="only these notebooks (file names or stems)")
    p.add_argument("--check", action="store_true", help="write nothing; fail if notebooks/ is stale or leaks")
    p.add_argument("--root", help="repository root (default: found from the current directory)")
    p.set_defaults(func=_assign)

    p = sub.add_parser("run", help="execute notebooks headlessly and report the time each took")
    p.add_argument("notebooks", nargs="+")
    p.add_argument("--mode", choices=["fast", "full", "gpu", "gpu-dry"], default="full",
                   help="FAST (CI, the grader), full (2-core CPU), gpu (GPU scale) or gpu-dry (the GPU-scale "
                        "sizes with FAST step counts: proves the GPU configuration on a CPU)")
    p.add_argument("--save", action="store_true", help="store the outputs in the notebook (instructors: solutions/)")
    p.add_argument("--cell-timeout", type=int, default=900)
    p.add_argument("--in-process", action="store_true",
                   help="run the code cells in this Python process, without Jupyter (prints each cell's "
                        "output and time; for machines without a kernel)")
    p.add_argument("--out", metavar="DIR",
                   help="with --in-process: keep the run in DIR/<notebook>/ (run.json with each cell's output and "
                        "time and the tables the notebook published, and every figure as a PNG)")
    p.set_defaults(func=_run)

    p = sub.add_parser("data", help="verify (or, for maintainers, bundle) the corpora")
    p.add_argument("--verify", action="store_true", help="check every file's sha256 (the default)")
    p.add_argument("--bundle", metavar="SHARED_DATA", help="compress a shared/data folder into the package")
    p.set_defaults(func=_data)

    from rnn_course import grading

    grading.register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CourseError, FileNotFoundError) as err:
        print(f"rnn-course {args.command}: error: {err}", file=sys.stderr)
        return 2
    except ImportError as err:
        print(f"rnn-course {args.command}: error: {err}. Expected the instructor extra: "
              "`pip install -e '.[instructor]'`.", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
