"""The Gradescope autograder for one course notebook.

`build_autograder_zip("02", "autograder.zip")` writes a zip for Gradescope's
"programming assignment" autograder. Its root holds:

- `setup.sh`: run once, as root, when Gradescope builds the image. It makes a
  virtualenv at `/autograder/venv`, installs the package from `package/` with
  its dependencies, and creates the unprivileged user `rnngrader`;
- `run_autograder`: run for every submission. It calls
  `python -m rnn_course.grading.gradescope run`, which takes the notebook from
  `/autograder/submission`, grades it with `rnn_course.grading.grade_notebook`
  against `solutions/<notebook>` and writes `/autograder/results/results.json`;
- `autograder.json`: the notebook's name and the grading limits;
- `solutions/<notebook>`: the instructor notebook (locked to root before the
  student's code runs, which runs as `rnngrader`);
- `package/`: the `rnn-course` source tree (pyproject.toml and `rnn_course/`).

Set `RNN_COURSE_AUTOGRADER_ROOT` to use another folder than `/autograder` and
`RNN_COURSE_AUTOGRADER_PYTHON` to use another interpreter than the virtualenv's
(the tests unpack the zip into a temporary folder and run `run_autograder` there).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

from rnn_course.grading.errors import GradingError, SubmissionRejected

ROOT_ENV = "RNN_COURSE_AUTOGRADER_ROOT"
PYTHON_ENV = "RNN_COURSE_AUTOGRADER_PYTHON"
KERNEL_USER = "rnngrader"
CONFIG_NAME = "autograder.json"
#: Gradescope stops an autograder after its own limit (10 minutes by default),
#: so the defaults leave room for the kernel's start and the replays.
DEFAULT_TOTAL_TIMEOUT = 480
DEFAULT_CELL_TIMEOUT = 240
_SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache", ".mypy_cache"}
_STORED = (".gz", ".xz", ".zip", ".bz2", ".npz", ".png", ".jpg")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
# It installs rnn-course (with its dependencies) into /autograder/venv and
# creates the unprivileged user that student code runs as.
set -euxo pipefail
SRC=/autograder/source
if ! python3 -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    apt-get update
    apt-get install -y python3 python3-venv python3-pip
fi
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install "$SRC/package{extras}" nbclient ipykernel nbgrader
id -u {user} >/dev/null 2>&1 || useradd --system --create-home --shell /usr/sbin/nologin {user}
chmod 700 "$SRC/solutions"
/autograder/venv/bin/python -c "import rnn_course.grading, rnn_course.grading.gradescope; print('rnn-course autograder ready')"
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. It grades the notebook in
# /autograder/submission and writes /autograder/results/results.json.
# {root_env} / {python_env} override /autograder and its Python (for tests).
set -u
ROOT="${{{root_env}:-/autograder}}"
PY="${{{python_env}:-$ROOT/venv/bin/python}}"
export PYTHONPATH="$ROOT/source/package${{PYTHONPATH:+:$PYTHONPATH}}"
cd "$ROOT"
exec "$PY" -m rnn_course.grading.gradescope run --root "$ROOT"
"""


def resolve_notebook(name_or_number: str | int, solutions_dir: str | Path | None = None) -> Path:
    """The instructor notebook a name or number refers to.

    Accepts `2`, `"02"`, `"02_rnn_language_models"`, `"02_rnn_language_models.ipynb"`
    or a path to a notebook.

    Raises:
        GradingError: nothing, or more than one notebook, fits.
    """
    from rnn_course.grading.grader import default_solutions_dir

    text = str(name_or_number).strip()
    as_path = Path(text)
    if as_path.suffix == ".ipynb" and as_path.is_file():
        return as_path
    folder = Path(solutions_dir) if solutions_dir else default_solutions_dir()
    sources = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    stem = text[:-6] if text.endswith(".ipynb") else text
    if stem.isdigit():
        fits = [p for p in sources if re.match(rf"0*{int(stem)}_", p.name)]
    else:
        fits = [p for p in sources if p.stem == stem]
    if len(fits) == 1:
        return fits[0]
    names = ", ".join(p.name for p in (fits or sources)[:8]) or "none"
    if fits:
        raise GradingError(f"{text!r} fits several notebooks in {folder} ({names}); give the full name.")
    raise GradingError(f"no notebook {text!r} in {folder}; expected a number like 02 or a name among: {names}.")


def _package_files(project_root: Path):
    yield project_root / "pyproject.toml", "package/pyproject.toml"
    for extra in ("README.md", "README.rst", "LICENSE", "LICENSE.md", "LICENSE.txt"):
        if (project_root / extra).is_file():
            yield project_root / extra, f"package/{extra}"
    pkg = project_root / "rnn_course"
    for dirpath, dirnames, filenames in os.walk(pkg, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_PARTS and not d.endswith(".egg-info"))
        for name in sorted(filenames):
            if name.endswith((".pyc", ".pyo")):
                continue
            full = Path(dirpath) / name
            yield full, "package/rnn_course/" + full.relative_to(pkg).as_posix()


def _extras(project_root: Path) -> str:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        return ""
    try:
        data = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    extras = data.get("project", {}).get("optional-dependencies", {})
    return "[instructor]" if "instructor" in extras else ""


def build_autograder_zip(notebook_name_or_number: str | int, out_path: str | Path | None = None, *,
                         solutions_dir: str | Path | None = None, project_root: str | Path | None = None,
                         cell_timeout: float = DEFAULT_CELL_TIMEOUT,
                         total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
                         memory_limit_mb: int | None = 8192, visibility: str = "visible",
                         hidden_visibility: str = "after_published",
                         check_modules=("rnn_course.checks",), run_all: bool = False) -> Path:
    """Builds the Gradescope autograder zip for one notebook.

    Args:
        notebook_name_or_number: `2`, `"02"`, `"02_rnn_language_models"` or a path.
        out_path: the zip to write (default `autograder_<notebook stem>.zip`).
        solutions_dir: where the instructor notebooks are (default: see
            `rnn_course.grading.grader.default_solutions_dir`).
        project_root: the source checkout to package (default: the folder that
            holds this `rnn_course`); it must have a pyproject.toml.
        cell_timeout, total_timeout, memory_limit_mb: the grading limits.
        visibility, hidden_visibility: Gradescope visibility of test cells
            without and with hidden tests.
        check_modules: modules re-imported before every test cell.
        run_all: run every cell of each submission, the instructor's experiments too (by
            default those that no answer or test needs are skipped, see
            `rnn_course.grading.pruning`): the same scores, more time, and every cell that
            fails listed in `results.json` (`extra_data.cell_errors`).

    Returns:
        The path of the zip.

    Raises:
        GradingError: the notebook cannot be found or read, or the checkout
            has no pyproject.toml.
    """
    from rnn_course.grading.grader import _check_options
    from rnn_course.grading.restore import load_source
    from rnn_course.grading.results import VISIBILITIES
    from rnn_course.grading.sandbox_launcher import package_parent

    _check_options(cell_timeout, total_timeout, memory_limit_mb)
    for name, value in (("visibility", visibility), ("hidden_visibility", hidden_visibility)):
        if value not in VISIBILITIES:
            raise GradingError(f"{name}={value!r}; expected one of {', '.join(VISIBILITIES)}.")
    source = resolve_notebook(notebook_name_or_number, solutions_dir)
    load_source(source)  # fails now, not on Gradescope, if the source is broken
    root = Path(project_root) if project_root else Path(package_parent())
    if not (root / "pyproject.toml").is_file():
        raise GradingError(f"{root} has no pyproject.toml; expected a source checkout of rnn-course "
                           "(the autograder installs the package from it).")
    if not (root / "rnn_course").is_dir():
        raise GradingError(f"{root} has no rnn_course/ package folder; expected a source checkout of rnn-course.")
    out = Path(out_path) if out_path else Path(f"autograder_{source.stem}.zip")
    config = {
        "notebook": source.name, "cell_timeout": cell_timeout, "total_timeout": total_timeout,
        "memory_limit_mb": memory_limit_mb, "visibility": visibility, "hidden_visibility": hidden_visibility,
        "check_modules": list(check_modules), "kernel_user": KERNEL_USER, "run_all": bool(run_all),
        "built": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            def add_text(name: str, text: str, mode: int = 0o644) -> None:
                info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
                info.external_attr = (0o100000 | mode) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, text)

            add_text("setup.sh", SETUP_SH.format(extras=_extras(root), user=KERNEL_USER), 0o755)
            add_text("run_autograder", RUN_AUTOGRADER.format(root_env=ROOT_ENV, python_env=PYTHON_ENV), 0o755)
            add_text(CONFIG_NAME, json.dumps(config, indent=2) + "\n")
            zf.write(source, f"solutions/{source.name}")
            for full, arc in _package_files(root):
                compress = zipfile.ZIP_STORED if full.suffix in _STORED else zipfile.ZIP_DEFLATED
                zf.write(full, arc, compress_type=compress)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


# ---------------------------------------------------------------------- inside Gradescope
def find_submission(folder: Path, notebook: str) -> Path:
    """The submitted notebook: the only `.ipynb`, else the one whose name fits `notebook`.

    Raises:
        SubmissionRejected: none, or several that cannot be told apart.
    """
    found = sorted(p for p in folder.rglob("*.ipynb")
                   if p.is_file() and not any(part in _SKIP_PARTS or part == "__MACOSX" for part in p.parts))
    if not found:
        others = sorted(p.name for p in folder.rglob("*") if p.is_file())[:5]
        raise SubmissionRejected(f"no .ipynb file in the submission (got {', '.join(others) or 'nothing'}); "
                                 f"expected {notebook}.")
    if len(found) == 1:
        return found[0]
    stem = Path(notebook).stem.lower()
    exact = [p for p in found if p.name == notebook]
    fits = exact or [p for p in found if stem in p.stem.lower()]
    if len(fits) == 1:
        return fits[0]
    raise SubmissionRejected(f"the submission has {len(found)} notebooks ({', '.join(p.name for p in found[:4])}); "
                             f"expected one, named {notebook}.")


def _kernel_user(name: str | None) -> str | None:
    if not name or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return None
    return name


def run_autograder(root: str | Path | None = None) -> int:
    """Grades `<root>/submission` and writes `<root>/results/results.json` (what `run_autograder` calls).

    Returns:
        0 when a results.json with a grade was written, 1 when grading failed
        (results.json then says so, with score 0).
    """
    from rnn_course.grading.grader import grade_notebook, rejected_result
    from rnn_course.grading.restore import load_source
    from rnn_course.grading.results import GradeResult, write_atomic

    root = Path(root or os.environ.get(ROOT_ENV) or "/autograder")
    results_path = root / "results" / "results.json"
    start = time.monotonic()
    try:
        config = json.loads((root / "source" / CONFIG_NAME).read_text(encoding="utf-8"))
        source_path = root / "source" / "solutions" / config["notebook"]
        vis = {"visibility": config.get("visibility", "visible"),
               "hidden_visibility": config.get("hidden_visibility", "after_published")}
        source = load_source(source_path)
        user = _kernel_user(config.get("kernel_user"))
        if user:  # student code runs as `user`: keep it away from the solutions and the results
            os.chmod(source_path.parent, 0o700)
            results_path.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(results_path.parent, 0o700)
        try:
            submitted = find_submission(root / "submission", config["notebook"])
        except SubmissionRejected as err:
            result = rejected_result(root / "submission", source, str(err), elapsed=time.monotonic() - start)
        else:
            work = Path(tempfile.mkdtemp(prefix="rnn-autograder-"))
            copy = work / submitted.name
            shutil.copyfile(submitted, copy)
            result = grade_notebook(copy, source_path, cell_timeout=config["cell_timeout"],
                                    total_timeout=config["total_timeout"],
                                    memory_limit_mb=config.get("memory_limit_mb"),
                                    check_modules=tuple(config.get("check_modules", ("rnn_course.checks",))),
                                    kernel_user=user, run_all=bool(config.get("run_all", False)))
            result.submission = Path(submitted.relative_to(root / "submission"))
            shutil.rmtree(work, ignore_errors=True)
        print(result.summary())
        result.write_gradescope(results_path, **vis)
        return 0
    except Exception as err:
        print("The autograder failed:\n" + traceback.format_exc())
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        failed = GradeResult(submission=root / "submission", source=None, score=0.0, max_score=0.0, tests=[],
                             error=message, elapsed=time.monotonic() - start)
        write_atomic(results_path, json.dumps(failed.to_gradescope(), indent=2) + "\n")
        return 1


def main(argv: list[str] | None = None) -> int:
    """`python -m rnn_course.grading.gradescope run [--root DIR]` (what `run_autograder` calls)."""
    parser = argparse.ArgumentParser(prog="python -m rnn_course.grading.gradescope")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="grade /autograder/submission into /autograder/results/results.json")
    p.add_argument("--root", help=f"the autograder folder (default ${ROOT_ENV} or /autograder)")
    args = parser.parse_args(argv)
    return run_autograder(args.root)


if __name__ == "__main__":
    sys.exit(main())
