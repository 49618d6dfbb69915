"""Grading one submission: find its source, restore it, run it in the sandbox, score it.

A test cell is scored the way nbgrader scores it: all its points if it ran
without an error and without writing to stderr, 0 otherwise; a number displayed
as the cell's result is its partial credit. The grader is stricter than
nbgrader in two ways: a cell whose execute reply is an error scores 0 even if a
stray output came before the error, and a result is read as a number whatever
its numeric type (`np.float64(0.0)` is 0, where nbgrader gives full marks), and
a negative, non-finite or too large number earns 0, never full marks
(`results.partial_credit`).

Before each test cell the grader runs a hidden *reset* cell: it drops the check
modules (`rnn_course.checks` by default) from `sys.modules` and re-runs the
import statements of the instructor's cells, so the test cell calls freshly
imported checks even if an answer cell monkeypatched or shadowed them. If the
reset fails, the test scores 0 (it fails closed). The reset also restores a
snapshot of what the tests rely on, taken before any student code ran, and
ends with a deliberate error that must come back as an error: from the first
test cell where it does not, the kernel cannot be trusted and every test scores
0, with a review flag (`integrity`).
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import os
import re
import sys
import time
from pathlib import Path

import nbformat

from rnn_course.assignment import MARKERS
from rnn_course.grading import audit, integrity, pruning
from rnn_course.grading.errors import GradingError, SubmissionRejected
from rnn_course.grading.limits import (  # noqa: F401  (re-exported)
    DEFAULT_CELL_TIMEOUT, DEFAULT_CHECK_MODULES, DEFAULT_MEMORY_MB, DEFAULT_TOTAL_TIMEOUT)
from rnn_course.grading.restore import (
    ANSWER, FREE, GRADE, GUARD, LOCKED, MANUAL, STUDENT, PlanCell, SourceNotebook, defined_names, load_source,
    read_notebook, restore)
from rnn_course.grading.results import CellError, GradeResult, TestResult, partial_credit
from rnn_course.grading.sandbox_launcher import package_parent, run_cells

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
OUTPUT_CHARS = 3000


def default_solutions_dir() -> Path:
    """`$RNN_COURSE_SOLUTIONS`, else `./solutions`, else the checkout's `solutions/`.

    Raises:
        GradingError: none of them is a folder.
    """
    env = os.environ.get("RNN_COURSE_SOLUTIONS")
    candidates = ([Path(env)] if env else []) + [Path.cwd() / "solutions", Path(package_parent()) / "solutions"]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise GradingError("no solutions/ folder found (looked in " + ", ".join(map(str, candidates))
                       + "); expected the instructor notebooks there. Pass --source or set RNN_COURSE_SOLUTIONS.")


def find_source(submission: str | Path, solutions_dir: str | Path | None = None) -> Path:
    """The instructor notebook in `solutions/` that a submission's file name refers to.

    The name may carry a copy suffix or a student prefix, as long as exactly
    one source name fits: `02_rnn_language_models (3).ipynb`,
    `alice_02_rnn_language_models.ipynb`, `Copy of 02_rnn_language_models.ipynb`.

    Raises:
        GradingError: no source name, or more than one, is in the file name.
    """
    folder = Path(solutions_dir) if solutions_dir else default_solutions_dir()
    sources = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if not sources:
        raise GradingError(f"{folder} has no .ipynb files; expected the instructor notebooks (solutions/).")
    submission = Path(submission)
    if (folder / submission.name).is_file():
        return folder / submission.name
    stem = submission.stem.lower()
    matches = []
    for src in sources:
        for m in re.finditer(re.escape(src.stem.lower()), stem):
            before = m.start() == 0 or not stem[m.start() - 1].isalnum()
            after = m.end() == len(stem) or not stem[m.end()].isalnum()
            if before and after:
                matches.append(src)
                break
    if len(matches) > 1:
        longest = max(len(p.stem) for p in matches)
        matches = [p for p in matches if len(p.stem) == longest]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(p.name for p in (matches or sources)[:6])
    if matches:
        raise GradingError(f"{submission.name} fits more than one source notebook ({names}); pass --source.")
    raise GradingError(f"cannot tell which notebook {submission.name} is: its name contains none of "
                       f"{names}{' ...' if len(sources) > 6 else ''} (in {folder}); rename it or pass --source.")


# ---------------------------------------------------------------------- reset cells
def _trusted(stmt: ast.stmt, check_modules) -> bool:
    names = []
    if isinstance(stmt, ast.Import):
        names = [a.name for a in stmt.names]
    elif isinstance(stmt, ast.ImportFrom) and stmt.module:
        names = [stmt.module] + [f"{stmt.module}.{a.name}" for a in stmt.names]
    return any(n == m or n.startswith(m + ".") for n in names for m in check_modules)


def locate_module(name: str, search_path: list[str]) -> tuple[str, list[str] | None] | None:
    """Where the kernel would import `name` from, found without importing it.

    Returns:
        `(origin, package_folders)` (folders None for a plain module), or None
        if it is not found as a file.
    """
    from importlib.machinery import PathFinder

    parts = name.split(".")
    path, spec = list(search_path), None
    for i in range(len(parts)):
        spec = PathFinder.find_spec(".".join(parts[:i + 1]), path)
        if spec is None:
            return None
        if i < len(parts) - 1:
            if not spec.submodule_search_locations:
                return None
            path = list(spec.submodule_search_locations)
    if not spec.origin or not os.path.isfile(spec.origin):
        return None
    locations = list(spec.submodule_search_locations) if spec.submodule_search_locations else None
    return spec.origin, locations


def pin_check_modules(check_modules, env: dict[str, str] | None) -> list[tuple[str, str, list[str] | None]]:
    """The files the kernel's check modules must come from: `(name, origin, package_folders)`."""
    from rnn_course.grading.sandbox_launcher import kernel_environment

    kpath = kernel_environment(env, "-").get("PYTHONPATH", "")
    search = [p for p in kpath.split(os.pathsep) if p] + [p for p in sys.path if p and os.path.isdir(p)]
    pinned = []
    for name in check_modules:
        found = locate_module(name, search)
        if found is not None:
            pinned.append((name, found[0], found[1]))
    return pinned


def fingerprint(pinned) -> dict[str, str]:
    """sha256 of every file of the pinned check modules (to notice a notebook rewriting them)."""
    files = set()
    for _, origin, locations in pinned:
        files.add(Path(origin))
        for folder in locations or []:
            files.update(p for p in Path(folder).rglob("*.py") if "__pycache__" not in p.parts)
    out = {}
    for f in sorted(files):
        try:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
        except OSError:
            out[str(f)] = "unreadable"
    return out


#: Runs first in the kernel: the scratch working folder is not an import
#: location, so a notebook cannot shadow a module by writing a file there.
PRELUDE = (
    "import os as __rnn_course_os, sys as __rnn_course_sys\n"
    "__rnn_course_sys.path[:] = [p for p in __rnn_course_sys.path\n"
    "                            if p not in ('', '.', __rnn_course_os.getcwd())]\n"
    "del __rnn_course_os, __rnn_course_sys\n"
)


def reset_source(check_modules, imports: list[str], pinned=()) -> str:
    """The hidden cell that runs before a test cell: fresh check modules, re-bound imports.

    Check modules are dropped from `sys.modules`; those in `pinned` are loaded
    again from the grader's own files (so nothing on the notebook's import path
    can stand in for them). Imports of check modules must succeed (else the
    test scores 0); the other imports of the instructor's cells are re-run if
    they can be, to undo shadowed names.
    """
    lines = [
        "def __rnn_course_grader_reset(names, pinned):",
        "    import importlib.util, sys",
        "    for key in list(sys.modules):",
        "        if any(key == n or key.startswith(n + '.') for n in names):",
        "            del sys.modules[key]",
        "    for name, origin, folders in pinned:",
        "        spec = importlib.util.spec_from_file_location(name, origin, submodule_search_locations=folders)",
        "        module = importlib.util.module_from_spec(spec)",
        "        sys.modules[name] = module",
        "        try:",
        "            spec.loader.exec_module(module)",
        "        except BaseException:",
        "            del sys.modules[name]",
        "            raise",
        "        parent, _, child = name.rpartition('.')",
        "        if parent in sys.modules:",
        "            setattr(sys.modules[parent], child, module)",
        f"__rnn_course_grader_reset({tuple(check_modules)!r}, {[tuple(p) for p in pinned]!r})",
        "del __rnn_course_grader_reset",
    ]
    for text in imports:
        stmt = ast.parse(text).body[0]
        if _trusted(stmt, check_modules):
            lines.append(text)
        else:
            lines += ["try:", f"    {text}", "except Exception:", "    pass"]
    return "\n".join(lines) + "\n"


#: The line that starts a test cell's hidden part (nbgrader's marker).
HIDDEN_MARK = "### BEGIN HIDDEN TESTS"


def scrub_source(names: list[str]) -> str:
    """The hidden cell that runs after a test cell: what its hidden tests left in the kernel goes.

    A later cell of the submission could otherwise read them and show them, in its printed output
    or an error, before the hidden tests are published: the names the hidden part binds (`names`),
    the cell's source in `linecache` (IPython puts every cell there, for tracebacks), the last
    exception (its frames hold the hidden tests' code and values) and the last results (`_`).
    The test cell itself runs with `store_history=False`, so it is not in `In`, `_i` or `Out`.
    """
    return "\n".join([
        "def __rnn_course_grader_scrub(names):",
        "    import linecache, sys",
        "    namespace = globals()",
        "    for name in names:",
        "        namespace.pop(name, None)",
        "    for key, entry in list(linecache.cache.items()):",
        f"        if len(entry) > 2 and any({HIDDEN_MARK!r} in line for line in entry[2] or ()):",
        "            del linecache.cache[key]",
        "    sys.last_type = sys.last_value = sys.last_traceback = None",
        "    if hasattr(sys, 'last_exc'):",
        "        sys.last_exc = None",
        "    shell = globals().get('get_ipython', lambda: None)()",
        "    hook = getattr(shell, 'displayhook', None)",
        "    for name in ('_', '__', '___'):",
        "        namespace.pop(name, None)",
        "        if hook is not None and hasattr(hook, name):",
        "            setattr(hook, name, '')",
        f"__rnn_course_grader_scrub({sorted(names)!r})",
        "del __rnn_course_grader_scrub",
    ]) + "\n"


def build_run(plan: list[PlanCell], check_modules, pinned=(), *, source: SourceNotebook | None = None,
              token: str | None = None, modules=(), skip=()) -> tuple[list[dict], list[int | None]]:
    """The code cells to run: the prelude, then the plan with a reset cell before every test cell.

    Each test cell runs out of the kernel's history, and a scrub cell (`scrub_source`) after it
    removes what its hidden part left behind. With a `token` (see `integrity`), a hidden snapshot
    cell runs right before
    the first cell whose text the submission supplies; each reset cell then
    starts by restoring that snapshot of `modules` and the kernel's
    error reporting, and ends with the deliberate error that proves the kernel
    still reports errors. With a `source`, each reset also re-runs the imports
    of the source's plain code cells before that test (students can edit those cells).
    The plan cells in `skip` (`pruning.skippable`) do not run.

    Returns:
        `(cells, owners)`: the cells for the sandbox and, for each, the index of
        its plan cell (None for the grader's own cells).
    """
    cells = [{"source": PRELUDE, "replay": True, "silent": True, "role": GUARD}]
    owners: list[int | None] = [None]
    imports: list[str] = []
    snapshot_due = token is not None
    for k, pc in enumerate(plan):
        if pc.cell_type != "code" or k in skip:
            continue
        if snapshot_due and (pc.origin != "instructor" or pc.role == GRADE):
            cells.append({"source": integrity.snapshot_source(token, list(modules)), "replay": True,
                          "silent": True, "role": GUARD, "kind": "snapshot"})
            owners.append(None)
            snapshot_due = False
        if pc.role == GRADE:
            before = list(imports)
            if source is not None and pc.grade_id in source.by_id:
                before += source.plain_imports_before(source.by_id[pc.grade_id].position)
            text = reset_source(check_modules, list(dict.fromkeys(before)), pinned)
            if token is not None:
                text = integrity.restore_source(token) + text + integrity.probe_source(token)
            cells.append({"source": text, "replay": False, "silent": True, "role": GUARD, "kind": "reset"})
            owners.append(None)
        cells.append({"source": pc.source, "replay": True, "role": pc.role, "silent": pc.role == GRADE})
        owners.append(k)
        if pc.role in (LOCKED, GRADE):
            imports += audit.top_level_imports(pc.source)
        if pc.role == GRADE:
            hidden = defined_names(pc.source)
            if source is not None and pc.grade_id in source.by_id:
                hidden -= defined_names(source.by_id[pc.grade_id].student_source)
            cells.append({"source": scrub_source(sorted(hidden)), "replay": True, "silent": True, "role": GUARD,
                          "kind": "scrub"})
            owners.append(None)
    return cells, owners


def kernel_verdicts(plan: list[PlanCell], owners: list[int | None], cells: list[dict], results: list[dict],
                    token: str) -> tuple[dict[int, dict], tuple[int, str] | None, str | None]:
    """Reads the reset cells' probes: what each test cell's reset means, and where trust was lost.

    Returns:
        `(resets, distrust, broken)`: for each test cell's plan index, its reset
        result as `score_test` reads it (status `ok` when the probe came back
        as it must); `(plan index, why)` of the first test cell whose probe
        said the kernel cannot be trusted, or None; and a grader-side problem
        (the snapshot cell itself failed), or None.
    """
    resets: dict[int, dict] = {}
    distrust = None
    broken = None
    for j, cell in enumerate(cells):
        if cell.get("kind") == "snapshot" and results[j]["status"] not in ("ok", "not_run"):
            broken = ("the grader's snapshot cell failed ("
                      + (_cell_problem(results[j]) or results[j]["status"]) + "); the scores cannot be trusted")
        if cell.get("kind") != "reset":
            continue
        k = next((owners[i] for i in range(j + 1, len(owners)) if owners[i] is not None), None)
        if k is None:
            continue
        verdict, why = integrity.probe_verdict(results[j], token)
        if verdict == "ok":
            resets[k] = {**results[j], "status": "ok", "outputs": [], "reply_status": "ok"}
        else:
            resets[k] = results[j]
            if verdict == "untrusted" and distrust is None and broken is None:
                distrust = (k, why)
    return resets, distrust, broken


# ---------------------------------------------------------------------- scoring
def _clean(text: str) -> str:
    return _ANSI.sub("", text)


def _stream(outputs: list[dict], name: str) -> str:
    return _clean("".join(o.get("text", "") for o in outputs
                          if o.get("output_type") == "stream" and o.get("name") == name))


def _error_line(outputs: list[dict]) -> str:
    for o in reversed(outputs):
        if o.get("output_type") == "error":
            evalue = _clean(str(o.get("evalue", ""))).strip().splitlines()
            return f"{o.get('ename', 'Error')}: {evalue[-1] if evalue else ''}".rstrip(": ").strip()
    return ""


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= OUTPUT_CHARS else "[...]\n" + text[-OUTPUT_CHARS:]


def _cell_problem(res: dict) -> str:
    """One line saying why a cell did not run cleanly ('' if it did)."""
    if res["status"] in ("not_run", "timeout", "died"):
        return res["reason"]
    if res["status"] == "error":
        return _error_line(res["outputs"]) or "the cell failed"
    return ""


def score_test(pc: PlanCell, res: dict, reset: dict | None, answer: tuple[str, dict] | None) -> TestResult:
    """Scores one test cell from what the sandbox reported (nbgrader's rule, see the module docstring)."""
    points = float(pc.points)
    outputs = res.get("outputs", [])
    hint = _stream(outputs, "stdout").strip()
    why = ""
    score = 0.0
    if res["status"] == "not_run":
        why = res["reason"]
    elif reset is not None and reset["status"] != "ok":
        why = ("0 points: the grader could not re-import the check modules before this test ("
               + (_cell_problem(reset) or "it failed") + ")")
    elif res["status"] in ("timeout", "died", "error") or _error_line(outputs):
        why = _cell_problem(res) or _error_line(outputs)
    elif res.get("stderr") or _stream(outputs, "stderr"):
        first = (_stream(outputs, "stderr").strip().splitlines() or ["(truncated)"])[0][:200]
        why = f"0 points: this test cell wrote to stderr, which nbgrader scores as a failure: {first!r}"
    else:
        # As nbgrader's determine_grade: the first execute_result is the partial credit, else all the points.
        result = next((o for o in outputs if o.get("output_type") == "execute_result"), None)
        if result is None:
            score = points
        else:
            text = result.get("data", {}).get("text/plain")
            text = "".join(text) if isinstance(text, list) else text
            if isinstance(text, str):
                score, why = partial_credit(text, points)
            else:
                why = "0 points: the cell's result has no text/plain form to read a partial score from"
    reason = why.strip().splitlines()[0] if why.strip() else ""
    if why and answer is not None and _cell_problem(answer[1]):
        # The answer's own failure (a timeout, a dead kernel, NotImplementedError) is the real cause:
        # it leads the one-line reason; the test's error follows in the output.
        reason = f"answer cell {answer[0]}: {_cell_problem(answer[1])}".splitlines()[0]
        why += f"\n(answer cell {answer[0]}: {_cell_problem(answer[1])})"
    text = "\n".join(x for x in (hint, why) if x) or "passed"
    if pc.hidden:
        public_passed, public_why = public_verdict(pc.source, res, reset)
    else:
        public_passed, public_why = score >= points > 0, reason
    public_text = "\n".join(x for x in (hint, "" if public_passed else public_why) if x)
    return TestResult(grade_id=pc.grade_id, score=score, max_score=points, output=_clip(text),
                      hidden=pc.hidden, execution_time=float(res.get("elapsed", 0.0)), reason=reason,
                      public_passed=public_passed, public_output=_clip(public_text))


_CELL_FRAME = re.compile(r"Cell In\[\d+\], line (\d+)")


def hidden_lines(source: str) -> list[tuple[int, int]]:
    """The 1-based line ranges (first, last) of the hidden-test regions of a test cell."""
    begin, end = MARKERS["hidden"]
    regions, start = [], None
    for number, line in enumerate(source.splitlines(), 1):
        if line.strip() == begin:
            start = number
        elif line.strip() == end and start is not None:
            regions.append((start, number))
            start = None
    return regions


def public_verdict(source: str, res: dict, reset: dict | None) -> tuple[bool, str]:
    """Whether the visible part of a test cell with hidden tests passed, and why not.

    The visible part is everything outside the hidden-test regions: the checks
    students can run in their notebook. It passed if the cell ran cleanly, or if
    the error was raised on a line inside a hidden region (the cell's own frame
    comes first in IPython's traceback of the raised exception: `Cell In[7], line 12`).
    """
    if res["status"] == "not_run" or (reset is not None and reset["status"] != "ok"):
        return False, res.get("reason") or "the grader could not run this test"
    if res["status"] in ("timeout", "died"):
        return False, res["reason"]
    outputs = res.get("outputs", [])
    error = next((o for o in reversed(outputs) if o.get("output_type") == "error"), None)
    if error is None:
        return res["status"] != "error", _cell_problem(res)
    # Chained exceptions print the cause first: the raised one's traceback is the last.
    last = _clean("\n".join(error.get("traceback", []))).split("Traceback (most recent call last)")[-1]
    frame = _CELL_FRAME.search(last)
    if frame is None:
        return False, _error_line(outputs)
    line = int(frame.group(1))
    inside_hidden = any(lo <= line <= hi for lo, hi in hidden_lines(source))
    return inside_hidden, "" if inside_hidden else _error_line(outputs)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _previous_grade_id(plan: list[PlanCell], k: int) -> str | None:
    """The grade id of the nearest graded cell before plan cell `k` (None at the top)."""
    return next((plan[i].grade_id for i in range(k - 1, -1, -1) if plan[i].grade_id), None)


def _label(plan: list[PlanCell], k: int | None, owners: list[int | None], j: int) -> str:
    if k is None:
        if j == 0:
            return "the grader's prelude"
        nxt = next((plan[owners[i]].grade_id for i in range(j + 1, len(owners)) if owners[i] is not None), "?")
        return f"the grader's check reset before {nxt}"
    pc = plan[k]
    if pc.role == STUDENT:
        prev = _previous_grade_id(plan, k)
        return f"a cell you added{f' after {prev}' if prev else ' at the top'}"
    kind = {LOCKED: "locked cell", GRADE: "test cell", ANSWER: "answer cell", MANUAL: "answer cell",
            FREE: "cell"}.get(pc.role, "cell")
    return f"{kind} {pc.grade_id}"


def _where(plan: list[PlanCell], k: int) -> str:
    """A plan cell as a student finds it in their notebook: its grade id, else its first line of code."""
    pc = plan[k]
    if pc.grade_id:
        return f"{'answer cell' if pc.role in (ANSWER, MANUAL) else 'cell'} {pc.grade_id}"
    lines = [line.strip() for line in pc.source.splitlines() if line.strip()]
    first = next((line for line in lines if not line.startswith("#")), lines[0] if lines else "")
    first = first if len(first) <= 50 else first[:47] + "..."
    prev = _previous_grade_id(plan, k)
    return f"the cell {f'after {prev} ' if prev else ''}that starts {first!r}"


#: Exception names that may be shown to a student as they are: any other name is text the submission
#: chose (a class made at run time can be named after anything), so it is shown as "an exception".
SHOWN_ERRORS = frozenset(name for name, value in vars(builtins).items()
                         if isinstance(value, type) and issubclass(value, BaseException)) | {"CheckFailed"}


def _failure(where: str, result: dict) -> CellError | None:
    """The failure of a cell that raised, was stopped or killed the kernel; None if it ran."""
    if result["status"] == "error":
        err = next((o for o in result.get("outputs", []) if o.get("output_type") == "error"), {})
        name = str(err.get("ename", "Error"))
        line = _error_line([err]) or name
        return CellError(where, line if len(line) <= 160 else line[:157] + "...",
                         name if name in SHOWN_ERRORS else "an exception")
    if result["status"] in ("timeout", "died"):
        why = result.get("reason") or result["status"]
        return CellError(where, why, "stopped by the time limit" if result["status"] == "timeout"
                         else "the kernel died")
    return None


# ---------------------------------------------------------------------- the API
def _check_options(cell_timeout, total_timeout, memory_limit_mb) -> None:
    for name, value in (("cell_timeout", cell_timeout), ("total_timeout", total_timeout)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise GradingError(f"{name}={value!r}; expected a positive number of seconds.")
    if memory_limit_mb is not None and (not isinstance(memory_limit_mb, (int, float)) or memory_limit_mb < 256):
        raise GradingError(f"memory_limit_mb={memory_limit_mb!r}; expected at least 256 (MB) or None for no limit.")


def grade_notebook(submission_path: str | Path, source_path: str | Path | None = None, *,
                   cell_timeout: float = DEFAULT_CELL_TIMEOUT, total_timeout: float = DEFAULT_TOTAL_TIMEOUT,
                   memory_limit_mb: int | None = DEFAULT_MEMORY_MB, env: dict[str, str] | None = None,
                   solutions_dir: str | Path | None = None, check_modules=DEFAULT_CHECK_MODULES,
                   kernel_user: str | None = None, max_restarts: int = 3, run_all: bool = False) -> GradeResult:
    """Grades one submitted notebook against its instructor source.

    Args:
        submission_path: the student's `.ipynb`.
        source_path: the instructor notebook; by default the notebook in
            `solutions_dir` whose name the submission's file name contains.
        cell_timeout: seconds one cell may run before it is stopped (it scores 0,
            the rest of the notebook goes on).
        total_timeout: seconds the whole notebook may run; cells not reached score 0.
        memory_limit_mb: the kernel's address-space limit (RLIMIT_AS) in MB, or None.
        env: extra environment variables for the kernel. `RNN_COURSE_FAST=1` is
            set unless `env` overrides it.
        solutions_dir: where to look for the source (default: see `default_solutions_dir`).
        check_modules: modules re-imported fresh before every test cell.
        kernel_user: run the kernel as this unprivileged user (needs root; used
            by the Gradescope autograder).
        max_restarts: how many times a kernel that died or hung is replaced.
        run_all: run every cell. By default the instructor's experiment cells
            that no answer or test needs are skipped (`pruning`): the scores
            are the same, in about half the time, but those cells have no
            outputs in the executed notebook.

    Returns:
        A `GradeResult`. A submission that cannot be run (not a notebook, the
        wrong assignment) gets score 0 and `rejected` set to the reason.

    Raises:
        GradingError: the submission file does not exist, the source cannot be
            found or read, an option is invalid, or the kernel cannot start.

    Example:

    >>> result = grade_notebook("submissions/alice/02_rnn_language_models.ipynb")  # doctest: +SKIP
    >>> print(result.summary())  # doctest: +SKIP
    >>> result.write_gradescope("results.json")  # doctest: +SKIP
    """
    start = time.monotonic()
    submission = Path(submission_path)
    if not submission.is_file():
        raise GradingError(f"submission {submission} does not exist or is not a file; expected a .ipynb file.")
    _check_options(cell_timeout, total_timeout, memory_limit_mb)
    check_modules = (check_modules,) if isinstance(check_modules, str) else tuple(check_modules)
    if not all(isinstance(m, str) and m for m in check_modules):
        raise GradingError(f"check_modules={check_modules!r}; expected module names like 'rnn_course.checks'.")
    src_path = Path(source_path) if source_path else find_source(submission, solutions_dir)
    source: SourceNotebook = load_source(src_path)
    try:
        nb, notes = read_notebook(submission)
        plan, restore_notes = restore(source, nb)
    except SubmissionRejected as err:
        return rejected_result(submission, source, str(err), elapsed=time.monotonic() - start)
    notes += restore_notes
    manual = [pc for pc in plan if pc.role == MANUAL]
    if manual:
        notes.append("graded by hand, not here: " + ", ".join(pc.grade_id for pc in manual))

    pinned = pin_check_modules(check_modules, env)
    before = fingerprint(pinned)
    token = integrity.new_token()
    relied_on = integrity.relied_on_modules(
        [c.source for c in source.cells if c.cell_type == "code" and c.role in (LOCKED, GRADE)]
        + [text for _, text in source.plain_code], [p[1] for p in pinned] + [
            str(f) for _, _, folders in pinned for d in folders or [] for f in Path(d).rglob("*.py")],
        check_modules)
    skip = {} if run_all else pruning.skippable(plan, source)
    cells, owners = build_run(plan, check_modules, pinned, source=source, token=token, modules=relied_on,
                              skip=skip)
    modules = audit.imported_names([PRELUDE] + [pc.source for pc in plan if pc.cell_type == "code"])
    flags = []
    for j, k in enumerate(owners):
        if k is not None and plan[k].role in (ANSWER, FREE, MANUAL, STUDENT):
            flags += [f"{_label(plan, k, owners, j)}: {f}" for f in audit.scan(plan[k].source, modules)]

    report = run_cells(cells, cell_timeout=cell_timeout, total_timeout=total_timeout,
                       memory_limit_mb=memory_limit_mb, env=env, kernel_user=kernel_user,
                       max_restarts=max_restarts)
    results = report["cells"]
    changed = [f for f, digest in fingerprint(pinned).items() if before.get(f) != digest]
    by_plan = {k: j for j, k in enumerate(owners) if k is not None}
    resets, distrust, broken = kernel_verdicts(plan, owners, cells, results, token)
    distrust_from, distrust_why = distrust if distrust else (None, "")
    tests = []
    for k, pc in enumerate(plan):
        if pc.role != GRADE:
            continue
        j = by_plan[k]
        reset = resets.get(k, results[j - 1] if j > 0 and owners[j - 1] is None else None)
        answer_id = pc.grade_id[:-len("_tests")] if pc.grade_id.endswith("_tests") else None
        answer = None
        if answer_id:
            ka = next((i for i, p in enumerate(plan) if p.grade_id == answer_id and p.cell_type == "code"), None)
            if ka is not None:
                answer = (answer_id, results[by_plan[ka]])
        tests.append(score_test(pc, results[j], reset, answer))
        if distrust_from is not None and k >= distrust_from:
            tests[-1] = untrusted_test(tests[-1], plan[distrust_from].grade_id, distrust_why)

    def relabel(event: str) -> str:
        return re.sub(r"cell (\d+)", lambda m: _label(plan, owners[int(m.group(1))], owners, int(m.group(1)))
                      if int(m.group(1)) < len(owners) else m.group(0), event)

    executed = _executed_notebook(plan, owners, results, tests, skip)
    cell_errors = [failure for k, j in by_plan.items() if plan[k].role in (LOCKED, ANSWER, MANUAL, FREE, STUDENT)
                   and (failure := _failure(_where(plan, k), results[j]))]
    score = round(sum(t.score for t in tests), 6)
    error = None
    if changed:
        error = (f"the check module file {changed[0]} changed while this notebook ran"
                 f"{f' (and {len(changed) - 1} more)' if len(changed) > 1 else ''}; its scores cannot be "
                 "trusted. Restore the file and grade it again, as an unprivileged user (kernel_user).")
        flags.append("rewrote a check module's file on disk: " + ", ".join(changed[:3]))
    if broken and not error:
        error = broken
    if distrust_from is not None:
        first = plan[distrust_from].grade_id
        flags.append(f"the kernel stopped reporting errors honestly before {first} ({distrust_why}): "
                     f"{first} and every test after it scored 0")
    return GradeResult(submission=submission, source=src_path, score=score, max_score=source.max_score,
                       tests=tests, notes=notes, events=[relabel(e) for e in report["events"]], flags=flags,
                       error=error, elapsed=time.monotonic() - start, notebook=executed,
                       cell_errors=cell_errors)


def untrusted_test(test: TestResult, first: str, why: str) -> TestResult:
    """`test` scored 0 because the kernel failed the honest-error proof before `first` (see `integrity`)."""
    import dataclasses

    reason = (f"0 points: the kernel stopped reporting errors honestly before {first} ({why}); no test from "
              "there on can be trusted")
    return dataclasses.replace(test, score=0.0, reason=reason, output=_clip(f"{test.output}\n{reason}"),
                               public_passed=False, public_output=_clip(reason))


def rejected_result(submission: str | Path, source: SourceNotebook, reason: str, *,
                    elapsed: float = 0.0) -> GradeResult:
    """The result of a submission that could not be run: 0 on every test, with the reason."""
    tests = [TestResult(grade_id=c.grade_id, score=0.0, max_score=c.points, hidden=c.hidden,
                        output=f"not run: {reason}") for c in source.grade_cells]
    return GradeResult(submission=Path(submission), source=source.path, score=0.0, max_score=source.max_score,
                       tests=tests, rejected=reason, elapsed=elapsed)


def _executed_notebook(plan, owners, results, tests, skip):
    """The restored notebook with its outputs and each test's score in its metadata.

    A skipped cell (`skip`: plan index to reason) has one output that says why.
    """
    by_plan = {k: j for j, k in enumerate(owners) if k is not None}
    scores = {t.grade_id: t for t in tests}
    cells = []
    for k, pc in enumerate(plan):
        meta = {"rnn_course_grader": {"role": pc.role, "origin": pc.origin}}
        if pc.grade_id:
            meta["rnn_course_grader"]["grade_id"] = pc.grade_id
        if pc.grade_id in scores:
            meta["rnn_course_grader"].update(score=scores[pc.grade_id].score, points=pc.points)
        if pc.cell_type == "code":
            cell = nbformat.v4.new_code_cell(pc.source, metadata=meta)
            if k in skip:
                meta["rnn_course_grader"]["skipped"] = True
                cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"[grader] {skip[k]}\n")]
                cells.append(cell)
                continue
            res = results[by_plan[k]]
            cell.outputs = [nbformat.from_dict(o) for o in res.get("outputs", [])]
            if res["status"] in ("timeout", "died", "not_run"):
                cell.outputs.append(nbformat.v4.new_output("stream", name="stdout",
                                                           text=f"[grader] {res['reason']}\n"))
        else:
            cell = nbformat.v4.new_markdown_cell(pc.source, metadata=meta)
        cells.append(cell)
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
