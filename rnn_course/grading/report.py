"""The class report: what a batch of grades says about the class (`rnn-course report`).

    rnn-course report grades.csv [more.csv ...] [--executed DIR] [--anonymise --key-file K] -o report.html

Reads the `grades.csv` files that `rnn-course grade --out` writes (older files,
with points but no per-test verdicts, too) and writes one self-contained HTML
page (figures embedded as base64 PNG, no script, nothing fetched from the
network) and, beside it, a JSON file of the same aggregates (`report.json` for
`report.html`):

- per notebook, the score distribution (histogram) and its summary (mean,
  median, quartiles, zeros, full marks);
- per exercise (test cell), the pass rate, the verdicts, and the most frequent
  mistakes by their stable code (`TestResult.mistake`), with count, share and
  one example hint (and, with `--executed`, an excerpt of one such answer);
- the submissions that were rejected, failed to grade, timed out, crashed the
  kernel, were flagged for review, or answered nothing, each with one line;
- the grading time per submission and in total.

Everything that came from a submission (names, paths, notes, hints, code) is
HTML-escaped. `--anonymise` replaces each student by a keyed hash
(HMAC-SHA256 with the instructor's secret key, so that nobody without the key
can map a roster onto the pseudonyms) in every string the report shows.

Bad input (a missing file, a CSV from another tool, an empty batch, a missing
`--executed` folder, a bad number) raises `GradingError` with one line; rows of
several notebooks get one section each.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import hashlib
import hmac
import html
import io
import json
import math
import os
import re
import secrets
import statistics
from collections import Counter
from pathlib import Path

from rnn_course.grading.errors import GradingError

#: The columns without which a CSV is not a grades.csv of `rnn-course grade`.
REQUIRED_COLUMNS = ("submission", "student", "notebook", "score", "max_score", "status")
_KNOWN_COLUMNS = {"submission", "student", "student_id", "notebook", "score", "max_score", "percent", "status",
                  "tests_passed", "seconds", "reason", "notes", "flags"}
_DETAILS = ("verdict", "mistake", "hint", "seconds")
VERDICTS = ("passed", "partial", "failed", "error", "timeout", "not run")
_DOCSTRING = re.compile(r'[ \t]*(?:"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\')[ \t]*\n?')
#: How many mistakes per exercise the report lists.
TOP_MISTAKES = 5


@dataclasses.dataclass
class Test:
    """One test cell of one row: points, and (files from this grader on) verdict, mistake code, hint, seconds."""

    grade_id: str
    points: float | None
    verdict: str = ""
    mistake: str = ""
    hint: str = ""
    seconds: float | None = None


@dataclasses.dataclass
class Row:
    """One row of a grades.csv."""

    file: str
    line: int
    index: int
    submission: str
    student: str
    student_id: str
    notebook: str
    score: float
    max_score: float
    status: str
    seconds: float | None
    reason: str
    notes: str
    flags: str
    tests: list[Test]
    detailed: bool


# ---------------------------------------------------------------------- reading
def _number(text: str, what: str, where: str, *, optional: bool = False) -> float | None:
    text = (text or "").strip()
    if not text and optional:
        return None
    try:
        value = float(text)
    except ValueError:
        raise GradingError(f"{where}: {what} is {text!r}; expected a number.") from None
    if not math.isfinite(value):
        raise GradingError(f"{where}: {what} is {text!r}; expected a finite number.")
    return value


def read_grades(path: str | Path) -> list[Row]:
    """Reads one grades.csv written by `rnn-course grade --out`.

    Accepts files from before per-test details were recorded: their tests have
    points only (`Row.detailed` is False).

    Raises:
        GradingError: the file is missing, unreadable, not a grades.csv (its
            header lacks `REQUIRED_COLUMNS`), has no rows, or holds a value that
            is not a number where one is expected.
    """
    path = Path(path)
    if not path.is_file():
        raise GradingError(f"{path} does not exist; expected a grades.csv written by `rnn-course grade --out`.")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise GradingError(f"{path} is not UTF-8 text; expected a grades.csv written by "
                           "`rnn-course grade --out`.") from None
    try:
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        records = list(reader)
    except csv.Error as err:
        raise GradingError(f"{path} is not a readable CSV ({err}); expected a grades.csv written by "
                           "`rnn-course grade --out`.") from None
    if header is None:
        raise GradingError(f"{path} is empty; expected a grades.csv with a header and one row per submission.")
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        shown = ", ".join(header[:6]) + (" ..." if len(header) > 6 else "")
        raise GradingError(f"{path} is not a grades.csv of `rnn-course grade`: its header ({shown}) lacks "
                           f"{', '.join(missing)}; expected columns {', '.join(REQUIRED_COLUMNS)}, ...")
    records = [r for r in records if any(x.strip() for x in r)]
    if not records:
        raise GradingError(f"{path} has a header but no rows: the batch is empty; grade some submissions first.")
    test_ids = [c for c in header if c not in _KNOWN_COLUMNS and ":" not in c]
    detailed = any(f"{gid}:verdict" in header for gid in test_ids)
    rows = []
    for n, record in enumerate(records):
        where = f"{path} line {n + 2}"
        if len(record) != len(header):
            raise GradingError(f"{where} has {len(record)} fields; the header has {len(header)}.")
        cell = dict(zip(header, record))
        tests = []
        for gid in test_ids:
            points = _number(cell[gid], f"the points of {gid}", where, optional=True)
            if points is None and not cell.get(f"{gid}:verdict"):
                continue  # this row's notebook has no such test
            tests.append(Test(gid, points, cell.get(f"{gid}:verdict", ""), cell.get(f"{gid}:mistake", ""),
                              cell.get(f"{gid}:hint", ""),
                              _number(cell.get(f"{gid}:seconds", ""), f"the seconds of {gid}", where,
                                      optional=True)))
        status = cell["status"].strip()
        if status not in ("graded", "rejected", "error"):
            raise GradingError(f"{where}: status is {status!r}; expected graded, rejected or error.")
        rows.append(Row(file=str(path), line=n + 2, index=n, submission=cell["submission"],
                        student=cell["student"], student_id=cell.get("student_id", ""),
                        notebook=cell["notebook"].strip(),
                        score=_number(cell["score"], "score", where), max_score=_number(cell["max_score"],
                                                                                        "max_score", where),
                        status=status, seconds=_number(cell.get("seconds", ""), "seconds", where, optional=True),
                        reason=cell.get("reason", ""), notes=cell.get("notes", ""), flags=cell.get("flags", ""),
                        tests=tests, detailed=detailed))
    return rows


# ---------------------------------------------------------------------- anonymising
def load_key(path: str | Path) -> tuple[bytes, bool]:
    """The instructor's secret key for `--anonymise`; creates one (32 random bytes, mode 0600) if missing.

    Returns:
        `(key, created)`.

    Raises:
        GradingError: the file exists but holds fewer than 16 bytes.
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32) + "\n")
        return path.read_bytes().strip(), True
    key = path.read_bytes().strip()
    if len(key) < 16:
        raise GradingError(f"--key-file {path} holds {len(key)} bytes; expected a secret of at least 16 "
                           "(delete it to have a new one made, which changes every pseudonym).")
    return key, False


def pseudonym(key: bytes, student: str) -> str:
    """`student-3fa9c1d2e0`: HMAC-SHA256 of the student's name under `key`, 10 hex digits.

    The same student gets the same pseudonym in every report made with the same key.
    """
    return "student-" + hmac.new(key, student.strip().encode("utf-8"), hashlib.sha256).hexdigest()[:10]


class Anonymiser:
    """Replaces every student's name, id and submission path components by their pseudonym in any text."""

    def __init__(self, rows: list[Row], key: bytes | None):
        self.key = key
        self.by_row: dict[int, str] = {}
        pairs: dict[str, str] = {}
        words: dict[str, str] = {}
        if key is None:
            self._pattern = None
            return
        parents = [Path(r.submission).parent.parts for r in rows]
        common = os.path.commonprefix(parents) if len(rows) > 1 else ()
        notebooks = {r.notebook for r in rows if r.notebook}
        for i, r in enumerate(rows):
            name = pseudonym(key, r.student or r.submission)
            self.by_row[i] = name
            for text in (r.submission, r.student, r.student_id):
                if text.strip():
                    pairs[text.strip()] = name
            parts = Path(r.submission).parts
            for k, part in enumerate(parts):
                if k < len(common) or part in notebooks or part in ("/", ".", ".."):
                    continue
                pairs[part] = name
                pairs[Path(part).stem] = name
            for word in re.split(r"[\s_,.'-]+", r.student):
                if len(word) >= 3 and not word.isdigit():
                    words[word.lower()] = name
        self._pairs = pairs
        self._words = words
        alternatives = sorted((re.escape(t) for t in pairs if t), key=len, reverse=True)
        # Not inside a longer word or number: a short id such as 42 must not eat other numbers.
        self._pattern = (re.compile(r"(?<![A-Za-z0-9])(?:" + "|".join(alternatives) + r")(?![A-Za-z0-9])",
                                    re.IGNORECASE) if alternatives else None)
        lowered = {k.lower(): v for k, v in pairs.items()}
        self._lookup = lowered
        self._word_pattern = (re.compile(r"\b(" + "|".join(sorted(map(re.escape, words), key=len, reverse=True))
                                         + r")\b", re.IGNORECASE) if words else None)

    @property
    def active(self) -> bool:
        return self.key is not None

    def __call__(self, text: str) -> str:
        if self.key is None or not text:
            return text
        if self._pattern is not None:
            text = self._pattern.sub(lambda m: self._lookup.get(m.group(0).lower(), "student-?"), text)
        if self._word_pattern is not None:
            text = self._word_pattern.sub(lambda m: self._words[m.group(0).lower()], text)
        return text

    def submission(self, i: int, row: Row) -> str:
        """How row `i` is named in the report: its path, or `<pseudonym>/<notebook>`."""
        if self.key is None:
            return row.submission
        return f"{self.by_row[i]}/{row.notebook or 'unknown notebook'}"

    def student(self, i: int, row: Row) -> str:
        return self.by_row[i] if self.key is not None else row.student


# ---------------------------------------------------------------------- executed notebooks
def _executed_file(folder: Path, row: Row, single: bool) -> Path | None:
    name = Path(row.submission).name
    for candidate in (folder / f"{row.index:04d}_{name}", folder / name if single else None):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def answer_excerpt(notebook_path: Path, test_id: str, lines: int = 12) -> str | None:
    """The answer cell that `test_id` tests, in an executed notebook: the last answer cell before it.

    Reads the grader's cell metadata (`rnn_course_grader`: `role`, `grade_id`) or nbgrader's.

    Returns its first `lines` lines, or None when the notebook cannot be read or has no such cell.
    """
    try:
        data = json.loads(notebook_path.read_text(encoding="utf-8"))
        cells = data.get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    answer = None
    for cell in cells if isinstance(cells, list) else []:
        metadata = (cell.get("metadata") or {}) if isinstance(cell, dict) else {}
        grader = metadata.get("rnn_course_grader") or {}  # what `rnn-course grade --executed` writes
        meta = metadata.get("nbgrader") or {}              # a notebook in nbgrader's format
        if test_id in (grader.get("grade_id"), meta.get("grade_id")):
            break
        if grader.get("role") == "answer" or meta.get("solution"):
            answer = cell
    else:
        return None
    if answer is None:
        return None
    source = answer.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    source = _DOCSTRING.sub("", source)  # the starter's docstrings: the same for everyone
    shown = [line for line in source.splitlines() if line.strip()]
    return "\n".join(shown[:lines] + (["..."] if len(shown) > lines else []))


# ---------------------------------------------------------------------- aggregates
def _input_names(files) -> list[str]:
    """Each input CSV by its file name, or by `folder/name` where two inputs share a file name."""
    files = [Path(f) for f in dict.fromkeys(files)]
    names = [f.name for f in files]
    return [str(Path(*f.parts[-2:])) if names.count(f.name) > 1 else f.name for f in files]


def _quantiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {}
    q1, median, q3 = (statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1
                      else (values[0],) * 3)
    return {"n": len(values), "mean": round(statistics.fmean(values), 3), "median": round(median, 3),
            "q1": round(q1, 3), "q3": round(q3, 3), "min": values[0], "max": values[-1]}


def _verdict_of(test: Test, max_points: float | None) -> str:
    if test.verdict:
        return test.verdict
    if test.points is None or max_points is None:
        return "unknown"
    if test.points >= max_points > 0:
        return "passed"
    return "partial" if test.points > 0 else "failed"


def _source_points(notebook: str, solutions_dir: str | Path | None) -> dict[str, float] | None:
    """The points of each test cell of a notebook, from its source in solutions/, or None if not found."""
    try:
        from rnn_course.grading.grader import find_source
        from rnn_course.grading.restore import load_source

        source = load_source(find_source(notebook, solutions_dir))
    except Exception:  # no source: the report says the pass rates are unknown
        return None
    return {c.grade_id: float(c.points) for c in source.grade_cells}


def _problems(row: Row) -> list[tuple[str, str]]:
    """The reasons this row needs a human: (kind, one line)."""
    out = []
    if row.status == "rejected":
        out.append(("rejected", row.reason or "rejected"))
    elif row.status == "error":
        out.append(("grading failed", row.reason or "the grader failed"))
    timeouts = [t for t in row.tests if t.verdict == "timeout"]
    if timeouts:
        out.append(("timed out", f"{', '.join(t.grade_id for t in timeouts)}: {timeouts[0].hint}".rstrip(": ")))
    crashes = [n for n in row.notes.split(" | ") if re.search(r"\bkernel died\b|\bkilled by SIG|\bdied\b", n)]
    crashes += [f"{t.grade_id}: {t.hint}" for t in row.tests if t.mistake.endswith("/kernel-died")]
    if crashes:
        out.append(("crashed the kernel", crashes[0]))
    if row.flags.strip():
        flags = [f for f in row.flags.split(" | ") if f.strip()]
        out.append(("flagged for review", flags[0] + (f" (+{len(flags) - 1} more)" if len(flags) > 1 else "")))
    if row.status == "graded" and row.tests and row.detailed and all(
            t.mistake.endswith("/NotImplementedError") for t in row.tests):
        out.append(("answered nothing", "every exercise raised NotImplementedError (the unanswered stub)"))
    return out


def aggregate(rows: list[Row], *, anonymiser: Anonymiser | None = None, executed: Path | None = None,
              solutions_dir: str | Path | None = None) -> dict:
    """The report's aggregates, as JSON-ready data (what report.json holds and report.html shows).

    Args:
        rows: the rows of every grades.csv, in order (`read_grades`).
        anonymiser: replaces names in every string (default: none).
        executed: the `--executed` folder of the batch, for answer excerpts.
        solutions_dir: where to find sources, for the pass rates of older
            grades.csv files that lack per-test verdicts.

    Returns:
        `{"notebooks": [...], "problems": [...], "timing": {...}, "warnings": [...], "anonymised": bool}`.
    """
    anon = anonymiser or Anonymiser(rows, None)
    warnings = []
    seen: dict[str, int] = {}
    for i, r in enumerate(rows):
        if r.submission in seen:
            warnings.append(f"{anon(r.submission)} appears more than once ({anon(rows[seen[r.submission]].file)} "
                            f"line {rows[seen[r.submission]].line} and {anon(r.file)} line {r.line}); "
                            "each row is counted")
        seen.setdefault(r.submission, i)
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.notebook, []).append(i)
    notebooks = []
    single = len({r.file for r in rows}) == 1 and len(rows) == 1
    for notebook in sorted(groups, key=lambda n: (n == "", n)):
        idx = groups[notebook]
        nb_rows = [rows[i] for i in idx]
        section: dict = {"notebook": notebook or None, "submissions": len(idx),
                         "graded": sum(r.status == "graded" for r in nb_rows),
                         "rejected": sum(r.status == "rejected" for r in nb_rows),
                         "failed_to_grade": sum(r.status == "error" for r in nb_rows), "notes": []}
        if not notebook:
            section["notes"].append("these submissions were not matched to any notebook (the grader failed "
                                    "before it found their source), so they have no scores to show")
            notebooks.append(section)
            continue
        maxima = Counter(r.max_score for r in nb_rows if r.status != "error" and r.max_score > 0)
        max_score = maxima.most_common(1)[0][0] if maxima else 0.0
        if len(maxima) > 1:
            section["notes"].append(
                "rows disagree on the maximum score (" + ", ".join(f"{m:g} in {c} row(s)" for m, c in
                                                                    sorted(maxima.items()))
                + f"): the notebook changed between gradings; the summary uses {max_score:g}")
        scored = [r for r in nb_rows if r.status in ("graded", "rejected")]
        scores = [r.score for r in scored]
        section["max_score"] = max_score
        section["scores"] = scores
        summary = _quantiles(scores)
        summary["zeros"] = sum(s == 0 for s in scores)
        summary["full_marks"] = sum(s >= max_score > 0 for s in scores)
        section["summary"] = summary
        if section["failed_to_grade"]:
            section["notes"].append(f"{section['failed_to_grade']} submission(s) failed to grade (the grader's "
                                    "fault) and are left out of the distribution; see the problems below")
        if section["rejected"]:
            section["notes"].append(f"{section['rejected']} rejected submission(s) count as 0 in the distribution "
                                    "and are left out of the exercise pass rates")
        # exercises
        ran = [r for r in nb_rows if r.status == "graded"]
        test_ids: list[str] = []
        for r in ran:
            for t in r.tests:
                if t.grade_id not in test_ids:
                    test_ids.append(t.grade_id)
        detailed = all(r.detailed for r in ran)
        source_points = None if detailed else _source_points(notebook, solutions_dir)
        if not detailed:
            section["notes"].append(
                "this grades.csv was written before the grader recorded each test's verdict and mistake: "
                + ("pass rates come from the points and the source notebook's points; mistakes are not known"
                   if source_points else "the source notebook was not found, so pass rates and mistakes are "
                                         "not known; only the mean points are shown"))
        exercises = []
        for gid in test_ids:
            tests = [(i, t) for i, r in zip(idx, nb_rows) if r.status == "graded" for t in r.tests
                     if t.grade_id == gid]
            top = (source_points or {}).get(gid)
            verdicts = Counter(_verdict_of(t, top) for _, t in tests)
            mistakes = Counter(t.mistake for _, t in tests if t.mistake)
            n = len(tests)
            entries = []
            for code, count in mistakes.most_common(TOP_MISTAKES):
                example = next((i, t) for i, t in tests if t.mistake == code)
                entry = {"code": anon(code), "count": count, "share": round(count / n, 4) if n else 0.0,
                         "example_hint": anon(example[1].hint)}
                if executed is not None and not code.endswith("/NotImplementedError"):  # the stub: nothing to see
                    path = _executed_file(executed, rows[example[0]], single)
                    excerpt = answer_excerpt(path, gid) if path is not None else None
                    entry["example_submission"] = anon.submission(example[0], rows[example[0]])
                    entry["example_code"] = anon(excerpt) if excerpt is not None else None
                entries.append(entry)
            points = [t.points for _, t in tests if t.points is not None]
            seconds = [t.seconds for _, t in tests if t.seconds is not None]
            known = n - verdicts.get("unknown", 0)
            exercises.append({
                "grade_id": gid, "submissions": n,
                "pass_rate": round(verdicts.get("passed", 0) / known, 4) if known else None,
                "verdicts": dict(verdicts), "mean_points": round(statistics.fmean(points), 3) if points else None,
                "mistakes": entries, "distinct_mistakes": len(mistakes),
                "mean_seconds": round(statistics.fmean(seconds), 3) if seconds else None})
        section["exercises"] = exercises
        notebooks.append(section)
    problems = []
    for i, r in enumerate(rows):
        for kind, line in _problems(r):
            problems.append({"kind": kind, "submission": anon.submission(i, r), "student": anon.student(i, r),
                             "notebook": r.notebook, "reason": anon(line)})
    times = [(i, r.seconds) for i, r in enumerate(rows) if r.seconds is not None]
    timing = {"total_seconds": round(sum(s for _, s in times), 1), "submissions_timed": len(times),
              **({k: v for k, v in _quantiles([s for _, s in times]).items() if k != "n"} if times else {}),
              "slowest": [{"submission": anon.submission(i, rows[i]), "seconds": s}
                          for i, s in sorted(times, key=lambda x: -x[1])[:5]],
              "per_submission": [{"submission": anon.submission(i, rows[i]), "seconds": s} for i, s in times]}
    return {"anonymised": anon.active, "inputs": [anon(name) for name in _input_names(r.file for r in rows)],
            "submissions": len(rows), "notebooks": notebooks, "problems": problems, "timing": timing,
            "warnings": warnings}


# ---------------------------------------------------------------------- HTML
def _histogram_png(scores: list[float], max_score: float, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 2.8), dpi=100)
    top = max(max_score, max(scores, default=0.0), 1.0)
    integral = all(float(s).is_integer() for s in scores) and top <= 60
    bins = [x - 0.5 for x in range(int(math.ceil(top)) + 2)] if integral else 20
    ax.hist(scores, bins=bins, color="#4c72b0", edgecolor="white")
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.set_title(title, fontsize=10)
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _e(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.0f}%"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1100px;color:#222;
line-height:1.4;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.5em 0 1em}td,th{border:1px solid #ddd;padding:.25em .6em;
vertical-align:top;text-align:left;overflow-wrap:break-word}th{background:#f3f3f3}
td.id{white-space:nowrap}details summary{cursor:pointer;color:#555;font-size:.9em}td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.4em .8em;margin:.5em 0}
.bar{display:inline-block;height:.8em;background:#4c72b0;vertical-align:middle}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f7f7f7;padding:.5em;overflow-x:auto;margin:.2em 0;max-width:560px}
.small{color:#666;font-size:.9em}
"""


def render_html(data: dict) -> str:
    """The report page for `aggregate`'s data: self-contained, every string escaped."""
    from datetime import datetime, timezone

    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; '
           'style-src \'unsafe-inline\'">',
           "<title>Class report</title>", f"<style>{_CSS}</style></head><body>",
           "<h1>Class report</h1>",
           f"<p class=small>{data['submissions']} submission(s) from {_e(', '.join(data['inputs']))}; made "
           f"{_e(datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC'))} by <code>rnn-course report</code>"
           + ("; students are shown as keyed pseudonyms (<code>--anonymise</code>)" if data["anonymised"] else "")
           + ".</p>"]
    for w in data["warnings"]:
        out.append(f"<p class=note>Warning: {_e(w)}.</p>")
    for nb in data["notebooks"]:
        title = nb["notebook"] or "Submissions with an unknown notebook"
        out.append(f"<h2>{_e(title)}</h2>")
        out.append(f"<p>{nb['submissions']} submission(s): {nb['graded']} graded, {nb['rejected']} rejected, "
                   f"{nb['failed_to_grade']} failed to grade.</p>")
        for note in nb["notes"]:
            out.append(f"<p class=note>{_e(note)}.</p>")
        if "summary" not in nb:
            continue
        s = nb["summary"]
        if nb["scores"]:
            png = _histogram_png(nb["scores"], nb["max_score"], f"{title}: score distribution")
            out.append(f'<img alt="histogram of the scores of {_e(title)}" src="data:image/png;base64,{png}">')
            out.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in (
                "scored", "mean", "median", "quartiles (Q1–Q3)", "min–max", "zeros", "full marks")) + "</tr><tr>"
                + f"<td class=n>{s['n']}</td><td class=n>{s['mean']:.2f} / {nb['max_score']:g}</td>"
                + f"<td class=n>{s['median']:g}</td><td class=n>{s['q1']:g}–{s['q3']:g}</td>"
                + f"<td class=n>{s['min']:g}–{s['max']:g}</td><td class=n>{s['zeros']}</td>"
                + f"<td class=n>{s['full_marks']}</td></tr></table>")
        else:
            out.append("<p class=note>No submission of this notebook was scored, so there is no distribution.</p>")
        if not nb["exercises"]:
            continue
        out.append("<h3>Exercises</h3><table><tr><th>test cell</th><th>pass rate</th><th>verdicts</th>"
                   "<th>most frequent mistakes (count, share of the graded submissions)</th>"
                   "<th>mean time</th></tr>")
        for ex in nb["exercises"]:
            rate = ex["pass_rate"]
            bar = f'<span class=bar style="width:{0 if rate is None else round(80 * rate)}px"></span> '
            verdicts = ", ".join(f"{_e(k)} {v}" for k, v in sorted(ex["verdicts"].items(),
                                                                   key=lambda kv: -kv[1]))
            mistakes = []
            for m in ex["mistakes"]:
                item = (f"<b><code>{_e(m['code'])}</code></b>: {m['count']} ({_pct(m['share'])})"
                        + (f"<br><span class=small>e.g. {_e(m['example_hint'])}</span>" if m["example_hint"] else ""))
                if m.get("example_code"):
                    item += (f"<details><summary>the answer of {_e(m['example_submission'])}</summary>"
                             f"<pre>{_e(m['example_code'])}</pre></details>")
                mistakes.append(item)
            more = ex["distinct_mistakes"] - len(ex["mistakes"])
            if more > 0:
                mistakes.append(f"<span class=small>and {more} other code(s)</span>")
            seconds = "—" if ex["mean_seconds"] is None else f"{ex['mean_seconds']:.2f} s"
            out.append(f"<tr><td class=id><code>{_e(ex['grade_id'])}</code><br><span class=small>{ex['submissions']} "
                       f"graded</span></td><td>{bar}{_pct(rate)}</td><td>{verdicts}</td>"
                       f"<td>{'<br>'.join(mistakes) or '—'}</td><td class=n>{seconds}</td></tr>")
        out.append("</table>")
    out.append("<h2>Submissions that need a look</h2>")
    if data["problems"]:
        out.append("<table><tr><th>what</th><th>submission</th><th>notebook</th><th>why</th></tr>")
        for p in sorted(data["problems"], key=lambda p: p["kind"]):
            out.append(f"<tr><td>{_e(p['kind'])}</td><td>{_e(p['submission'])}</td><td>{_e(p['notebook'])}</td>"
                       f"<td>{_e(p['reason'])}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>None: no submission was rejected, failed to grade, timed out, crashed the kernel, was "
                   "flagged or answered nothing.</p>")
    t = data["timing"]
    out.append("<h2>Grading time</h2>")
    if t["submissions_timed"]:
        out.append(f"<p>{t['total_seconds']:g} s in total for {t['submissions_timed']} submission(s) (the sum "
                   f"of each submission's time; with parallel jobs the wall time is shorter); per submission: "
                   f"mean {t['mean']:.1f} s, median {t['median']:.1f} s, max {t['max']:.1f} s.</p>")
        out.append("<table><tr><th>slowest submissions</th><th>seconds</th></tr>" + "".join(
            f"<tr><td>{_e(x['submission'])}</td><td class=n>{x['seconds']:g}</td></tr>" for x in t["slowest"])
            + "</table>")
        out.append("<details><summary>every submission</summary><table>" + "".join(
            f"<tr><td>{_e(x['submission'])}</td><td class=n>{x['seconds']:g}</td></tr>" for x in t["per_submission"])
            + "</table></details>")
    else:
        out.append("<p class=note>The CSV records no grading times.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def build_report(csv_paths: list[str | Path], out_html: str | Path, *, executed: str | Path | None = None,
                 key_file: str | Path | None = None, anonymise: bool = False,
                 solutions_dir: str | Path | None = None) -> tuple[Path, Path, dict]:
    """Reads grades.csv files and writes the HTML report and the JSON of its aggregates beside it.

    Args:
        csv_paths: one or more grades.csv files of `rnn-course grade --out`.
        out_html: the page to write; the JSON goes to the same name with `.json`.
        executed: the `--executed` folder of the batch that wrote the (single) CSV.
        key_file: the secret key for `anonymise` (created if missing).
        anonymise: replace students by keyed pseudonyms everywhere.
        solutions_dir: where sources are, for older CSVs without verdicts.

    Returns:
        `(html_path, json_path, data)`.

    Raises:
        GradingError: no CSV, a bad CSV (see `read_grades`), a missing
            `--executed` folder or one given with several CSVs, `anonymise`
            without `key_file`, or an output path that is not `.html`.
    """
    if not csv_paths:
        raise GradingError("no grades.csv given; expected at least one file written by `rnn-course grade --out`.")
    out_html = Path(out_html)
    if out_html.suffix.lower() not in (".html", ".htm"):
        raise GradingError(f"-o {out_html}: expected a file name ending in .html (the JSON is written beside it).")
    if anonymise and key_file is None:
        raise GradingError("--anonymise needs --key-file K: the secret that makes the pseudonyms irreversible "
                           "(created if K does not exist; keep it to get the same pseudonyms next time).")
    folder = None
    if executed is not None:
        folder = Path(executed)
        if not folder.is_dir():
            raise GradingError(f"--executed {folder} is not a folder; expected the one given to "
                               "`rnn-course grade --executed` for this batch.")
        if len(csv_paths) > 1:
            raise GradingError(f"--executed goes with the one grades.csv of its batch; got {len(csv_paths)} CSV "
                               "files (make one report per batch to see answer excerpts).")
    rows = [row for p in csv_paths for row in read_grades(p)]
    key = load_key(key_file)[0] if anonymise else None
    data = aggregate(rows, anonymiser=Anonymiser(rows, key), executed=folder, solutions_dir=solutions_dir)
    from rnn_course.grading.results import write_atomic

    json_path = out_html.with_suffix(".json")
    write_atomic(out_html, render_html(data))
    write_atomic(json_path, json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    return out_html, json_path, data
