"""Grade results: per-test scores, the terminal summary, Gradescope's results.json and CSV rows.

The Gradescope format follows the autograder specification
(https://gradescope-autograders.readthedocs.io/en/latest/specs/): a top-level
`score`, `execution_time`, `output`, `visibility`, `stdout_visibility`,
`extra_data` and a `tests` list whose entries have `name`, `number`, `score`,
`max_score`, `status` (`passed`/`failed`), `output`, `visibility`, `tags` and
`extra_data`. `RESULTS_SCHEMA` is that specification as a JSON schema.
"""

from __future__ import annotations

import ast
import dataclasses
import decimal
import fractions
import json
import math
import os
import re
import tempfile
from pathlib import Path

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")

_VIS = {"enum": list(VISIBILITIES)}
_FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
#: The Gradescope results.json specification as a JSON schema (draft 7).
RESULTS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "anyOf": [{"required": ["score"]}, {"required": ["tests"]}],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": _FORMAT,
        "test_output_format": _FORMAT,
        "test_name_format": _FORMAT,
        "visibility": _VIS,
        "stdout_visibility": _VIS,
        "extra_data": {"type": "object"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": _FORMAT,
                    "number": {"type": "string"},
                    "output": {"type": "string"},
                    "output_format": _FORMAT,
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": _VIS,
                    "extra_data": {"type": "object"},
                },
            },
        },
        "leaderboard": {
            "type": "array",
            "items": {"type": "object", "required": ["name", "value"],
                      "properties": {"name": {"type": "string"}, "order": {"enum": ["asc", "desc"]}}},
        },
    },
}

_NUMBER = re.compile(r"^q(\d+)(?:_(\d+))?")
#: How a check gives its hint a stable code: the last line of the `CheckFailed` message ends in
#: `[mistake: <code>]`, where <code> is letters, digits and `_ - . +` (see `TestResult.mistake`).
_MISTAKE_MARK = re.compile(r"\[mistake: ([A-Za-z0-9][A-Za-z0-9_.+-]{0,63})\]")
#: The grader's one-line reason when the answer cell itself failed: "answer cell q1_1: <its problem>".
_ANSWER_PREFIX = re.compile(r"^answer cell \S+: ")
_ERROR_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*)(?::\s|:?$)")
#: Exceptions that mean "a check judged the answer wrong", as opposed to code that broke.
_FAILED_ERRORS = {"CheckFailed", "AssertionError", "rnn_course.checks.CheckFailed"}
_REASON_CODES = (("kernel died", "kernel-died"), ("wrote to stderr", "wrote-to-stderr"),
                 ("stopped reporting errors honestly", "untrusted-kernel"),
                 ("could not re-import the check modules", "checks-not-reloaded"),
                 ("partial credit", "partial-credit"), ("not a partial score", "invalid-score"),
                 ("the cell's result", "invalid-score"))


def hint_template_digest(message: str) -> str:
    """Six hex digits that identify a hint's template: equal for hints that differ only in measured values.

    Quoted strings, bracketed values (innermost first), and numbers are blanked,
    whitespace is collapsed, and the result is hashed (SHA-1).
    """
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "S", message)
    for _ in range(5):
        text = re.sub(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}", "B", text)
    text = re.sub(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", "N", text)
    text = " ".join(text.split())
    import hashlib

    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]


def _error_name(line: str) -> str:
    """`CheckFailed: received ...` -> `CheckFailed`; '' when the line does not start with an exception's name."""
    m = _ERROR_NAME.match(line.strip())
    if not m:
        return ""
    name = m.group(1)
    last = name.rsplit(".", 1)[-1]
    return name if (last.endswith(("Error", "Exception", "Failed", "Interrupt", "Exit", "Warning"))
                    or last in ("StopIteration",)) else ""


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclasses.dataclass
class TestResult:
    """The result of one autograded test cell.

    Attributes:
        grade_id: the test cell's nbgrader `grade_id`.
        score: points awarded (nbgrader's rule: all of them if the cell ran
            without an error and without writing to stderr, else 0; a numeric
            result of the cell gives partial credit).
        max_score: the cell's points.
        output: the hint the check printed and the error's last line, or why
            the cell scored 0 without running.
        hidden: True if the cell has hidden tests.
        execution_time: seconds the cell ran.
        reason: one line saying why the cell lost points ('' if it did not).
        public_passed: whether the cell's visible checks (everything but its
            hidden tests: what students can run in their notebook) passed.
        public_output: what those visible checks printed, and their error.
    """

    __test__ = False  # not a pytest test class

    grade_id: str
    score: float
    max_score: float
    output: str
    hidden: bool = False
    execution_time: float = 0.0
    reason: str = ""
    public_passed: bool = False
    public_output: str = ""

    @property
    def status(self) -> str:
        """`passed` if the cell earned all its points, else `failed`."""
        return "passed" if self.max_score > 0 and self.score >= self.max_score else "failed"

    def _core_reason(self) -> str:
        """The one-line reason, without the grader's "answer cell …: " prefix."""
        line = self.reason or (self.output.strip().splitlines() or [""])[-1]
        return _ANSWER_PREFIX.sub("", line.strip())

    @property
    def verdict(self) -> str:
        """What happened to this test cell, for the class report (`rnn-course report`).

        One of `passed` (all its points), `partial` (some), `failed` (a check or
        assertion found the answer wrong, the cell wrote to stderr, or its result
        was not a valid score), `error` (another exception, in the test or in the
        answer it tests, such as `NotImplementedError` for an unanswered exercise;
        or the kernel died), `timeout` (the cell or its answer ran past a time
        limit) or `not run` (never reached: the submission was rejected, the total
        time limit was reached, the kernel could not be recovered). Read from
        `score`, `reason` and `output`.
        """
        if self.max_score > 0 and self.score >= self.max_score:
            return "passed"
        if self.score > 0:
            return "partial"
        core = self._core_reason()
        if core.startswith("not run"):
            return "not run"
        if core.startswith(("timed out", "stopped: the total time limit")):
            return "timeout"
        name = _error_name(core)
        if "NotImplementedError" in core:  # the unanswered stub, raised in the answer or caught by a check
            return "error"
        if name in _FAILED_ERRORS or (not name and core.startswith(("0 points", "partial credit"))):
            return "failed"
        return "error"

    @property
    def mistake(self) -> str:
        """A stable code for why this test cell lost points ('' when it passed), to count across a class.

        `<number>/<code>`, where `<number>` is the exercise (`2.1`, else the
        grade_id) and `<code>` is, in this order:

        - the code a check gave its hint: a `CheckFailed` whose message ends in
          `[mistake: W_h-W_e-swapped]` gives `2.1/W_h-W_e-swapped`;
        - `hidden-test-failed` when the visible checks passed and a hidden test's
          bare `assert` failed;
        - `NotImplementedError` when the answer is the unanswered stub (raised
          in the answer cell, or caught by a check and named in its hint);
        - for a `CheckFailed` or `AssertionError` with a message, its name and a
          digest of the message's template (`2.5/CheckFailed-3fa2c1`): the message
          with every number, quoted string and bracketed value blanked, so that
          hints that differ only in the measured values share a code;
        - the exception's name otherwise (`2.1/NameError`, `2.1/CheckFailed`),
          the answer cell's when the answer itself failed;
        - `timeout`, `not-run`, `kernel-died`, `wrote-to-stderr`, `partial-credit`,
          `invalid-score`, `untrusted-kernel` or `checks-not-reloaded` otherwise.
        """
        verdict = self.verdict
        if verdict == "passed":
            return ""
        number = self.number or self.grade_id
        text = "\n".join(x for x in (self.reason, self.output) if x)
        marked = _MISTAKE_MARK.findall(text)
        if marked:
            return f"{number}/{marked[-1]}"
        core = self._core_reason()
        name = _error_name(core)
        if self.hidden and self.public_passed and name == "AssertionError":
            return f"{number}/hidden-test-failed"
        if verdict in ("timeout", "not run"):
            return f"{number}/{verdict.replace(' ', '-')}"
        if "NotImplementedError" in core:
            return f"{number}/NotImplementedError"
        if name:
            short = name.rsplit(".", 1)[-1]
            message = core.split(":", 1)[1].strip() if ":" in core else ""
            if name in _FAILED_ERRORS and message:
                return f"{number}/{short}-{hint_template_digest(message)}"
            return f"{number}/{short}"
        for start, code in _REASON_CODES:
            if start in core:
                return f"{number}/{code}"
        return f"{number}/{verdict}"

    @property
    def number(self) -> str | None:
        """`q2_1_rnn_cell_tests` -> `2.1` (Gradescope orders tests by it)."""
        m = _NUMBER.match(self.grade_id)
        if not m:
            return None
        return m.group(1) + (f".{m.group(2)}" if m.group(2) else "")

    def to_gradescope(self, visibility: str, hidden_visibility: str) -> dict:
        entry = {
            "name": self.grade_id + (" (hidden tests)" if self.hidden else ""),
            "score": self.score,
            "max_score": self.max_score,
            "status": self.status,
            "output": self.output,
            "visibility": hidden_visibility if self.hidden else visibility,
            "tags": ["hidden"] if self.hidden else [],
            "extra_data": {"grade_id": self.grade_id, "execution_time": round(self.execution_time, 3)},
        }
        if self.number:
            entry["number"] = self.number
        return entry


@dataclasses.dataclass(frozen=True)
class CellError:
    """A code cell outside the test cells that raised, was stopped or killed the kernel.

    Attributes:
        where: the cell as a student finds it (`answer cell q3_norm`, or `the cell after
            q2_1_rnn_cell_tests that starts '...'`).
        error: one line, `ErrorName: message`, or why the cell was stopped: for instructors.
        shown: what a student may see before grades are published: a built-in exception's name
            (or `CheckFailed`), "an exception", "stopped by the time limit" or "the kernel died".
            Never the message, which the submission's code chooses and could fill with what the
            hidden tests left in the kernel.
    """

    where: str
    error: str
    shown: str

    def __str__(self) -> str:
        return f"{self.where}: {self.error}"


@dataclasses.dataclass
class GradeResult:
    """Everything the grader found out about one submission.

    Attributes:
        submission: the graded file.
        source: the instructor notebook it was graded against (None if unknown).
        score: total points.
        max_score: points available (autograded test cells only).
        tests: one `TestResult` per test cell, in notebook order.
        notes: what the grader changed or noticed (restored cells, upgrades).
        events: what happened to the kernel (deaths, restarts, timeouts).
        flags: what needs a person to look, for review. A flag from reading the code never changes
            the score; a kernel that failed the proof that it still reports errors honestly scores
            the test cells from there on 0 and is flagged too (docs/grading.md, "Kernel integrity").
        rejected: why the submission was not run (score 0), or None.
        error: why grading failed for a reason that is not the student's (a
            missing source, a kernel that cannot start), or None.
        elapsed: seconds spent grading.
        notebook: the restored notebook with its outputs (None if rejected).
        cell_errors: a `CellError` for every code cell outside the test cells that raised, was
            stopped or killed the kernel. Such a cell costs no points by itself, but it often explains
            a failed test after it.
    """

    submission: Path
    source: Path | None
    score: float
    max_score: float
    tests: list[TestResult]
    notes: list[str] = dataclasses.field(default_factory=list)
    events: list[str] = dataclasses.field(default_factory=list)
    flags: list[str] = dataclasses.field(default_factory=list)
    rejected: str | None = None
    error: str | None = None
    elapsed: float = 0.0
    notebook: object = dataclasses.field(default=None, repr=False)
    cell_errors: list[CellError] = dataclasses.field(default_factory=list)

    @property
    def status(self) -> str:
        """`graded`, `rejected` (the submission's fault) or `error` (the grader's)."""
        return "error" if self.error else "rejected" if self.rejected else "graded"

    @property
    def scores(self) -> dict[str, float]:
        """Points per test `grade_id`."""
        return {t.grade_id: t.score for t in self.tests}

    # ---------------------------------------------------------------- text
    def summary(self) -> str:
        """A readable multi-line summary for the terminal."""
        head = f"{self.submission}: {_fmt(self.score)} / {_fmt(self.max_score)}"
        if self.source is not None:
            head += f"  (against {Path(self.source).name}, {self.elapsed:.1f} s)"
        lines = [head]
        if self.error:
            lines.append(f"  ERROR     grading failed: {self.error}")
        elif self.rejected:
            lines.append(f"  REJECTED  {self.rejected}")
        else:
            labels = [t.grade_id + (" [hidden]" if t.hidden else "") for t in self.tests]
            pad = max(map(len, labels), default=0)
            for t, label in zip(self.tests, labels):
                mark = "PASS" if t.status == "passed" else ("PART" if t.score > 0 else "FAIL")
                why = (t.reason or t.output.strip().splitlines()[-1]) if t.output.strip() and mark != "PASS" else ""
                why = why if len(why) <= 90 else why[:87] + "..."
                lines.append(f"  {mark}  {label:{pad}s}  {_fmt(t.score):>4s}/{_fmt(t.max_score):<4s} {why}".rstrip())
        lines += [f"  note: {n}" for n in self.notes]
        lines += [f"  kernel: {e}" for e in self.events]
        lines += [f"  cell error: {e}" for e in self.cell_errors]
        lines += [f"  REVIEW: {f}" for f in self.flags]
        return "\n".join(lines)

    def one_line(self) -> str:
        """`alice/02_x.ipynb  7/10  (42.1 s)` plus the reason if rejected."""
        text = f"{self.submission}  {_fmt(self.score)}/{_fmt(self.max_score)}  ({self.elapsed:.1f} s)"
        if self.error:
            text += f"  ERROR: {self.error}"
        elif self.rejected:
            text += f"  REJECTED: {self.rejected}"
        elif self.flags:
            text += f"  [{len(self.flags)} flag(s) to review]"
        return text

    # ---------------------------------------------------------------- Gradescope
    def to_gradescope(self, *, visibility: str = "visible", hidden_visibility: str = "after_published",
                      stdout_visibility: str = "hidden") -> dict:
        """The Gradescope `results.json` content.

        Args:
            visibility: visibility of test cells without hidden tests.
            hidden_visibility: visibility of test cells with hidden tests.
            stdout_visibility: visibility of the autograder's stdout (which
                holds the review flags); instructors always see it.

        Raises:
            ValueError: a visibility that Gradescope does not know.
        """
        for name, value in (("visibility", visibility), ("hidden_visibility", hidden_visibility),
                            ("stdout_visibility", stdout_visibility)):
            if value not in VISIBILITIES:
                raise ValueError(f"{name}={value!r}; expected one of {', '.join(VISIBILITIES)}.")
        tests = [t.to_gradescope(visibility, hidden_visibility) for t in self.tests]
        if all(t["visibility"] == "visible" for t in tests):
            out = [f"Autograded score: {_fmt(self.score)} / {_fmt(self.max_score)}. "
                   "A test cell earns its points if it runs without an error and without writing to stderr "
                   "(nbgrader's rule); the notebook ran in FAST mode."]
        else:  # the total would give the hidden tests away before they are shown
            out = ["Some tests are hidden until your instructor shows them (usually when grades are "
                   "published); your score appears with them. The notebook ran in FAST mode."]
        if not (self.rejected or self.error) and self.tests:
            out.append(self.public_summary())
        if self.rejected:
            out.append(f"Your submission could not be graded: {self.rejected}")
        if self.error:
            out.append(f"The autograder failed (not your fault; your instructor will look at it): {self.error}")
        out += [f"Note: {n}." for n in self.notes]
        out += [f"Kernel: {e}." for e in self.events]
        if self.cell_errors:
            out.append("Cells outside the tests that failed (no points depend on them directly, but a later "
                       "test may need what they define):")
            out += [f"  {e.where}: {e.shown}" for e in self.cell_errors]
        return {
            "score": self.score,
            "execution_time": round(self.elapsed, 1),
            "output": "\n".join(out),
            "output_format": "text",
            "visibility": "visible",
            "stdout_visibility": stdout_visibility,
            "tests": tests,
            "extra_data": {"max_score": self.max_score, "status": self.status, "flags": list(self.flags),
                           "cell_errors": [str(e) for e in self.cell_errors],
                           "source": Path(self.source).name if self.source else None},
        }

    def public_summary(self) -> str:
        """The verdict of each test cell's visible checks: what students could run themselves.

        Safe to show at once: it says nothing about hidden tests.
        """
        lines = ["Your visible checks (the test cells as they appear in your notebook):"]
        for t in self.tests:
            if t.public_passed:
                lines.append(f"  passed  {t.grade_id}")
                continue
            detail = [x for x in t.public_output.strip().splitlines() if x.strip()]
            lines.append(f"  FAILED  {t.grade_id}" + (f": {detail[-1]}" if detail else ""))
            lines += [f"            {x}" for x in detail[:-1][-3:]]
        return "\n".join(lines)

    def write_gradescope(self, path: str | Path, **visibility) -> Path:
        """Writes `results.json` atomically (a fresh file renamed over `path`)."""
        return write_atomic(path, json.dumps(self.to_gradescope(**visibility), indent=2) + "\n")

    # ---------------------------------------------------------------- CSV
    def csv_row(self, submitter=None) -> dict:
        """The fixed columns of this submission's row in grades.csv.

        Args:
            submitter: the `naming.Submitter` of this row (`batch.write_csv`
                names all rows together, so that no two share a student); by
                default it is read from this submission's path alone.
        """
        from rnn_course.grading.naming import submitter as read_submitter

        who = submitter if submitter is not None else read_submitter(self.submission, self.source)
        passed = sum(t.status == "passed" for t in self.tests)
        return {
            "submission": str(self.submission),
            "student": who.student,
            "student_id": who.student_id,
            "notebook": Path(self.source).name if self.source else "",
            "score": self.score,
            "max_score": self.max_score,
            "percent": round(100 * self.score / self.max_score, 1) if self.max_score else 0.0,
            "status": self.status,
            "tests_passed": f"{passed}/{len(self.tests)}",
            "seconds": round(self.elapsed, 1),
            "reason": self.error or self.rejected or "",
            "notes": " | ".join(self.notes + self.events + ([who.note] if who.note else [])),
            "flags": " | ".join(self.flags),
        }


# ---------------------------------------------------------------------- partial credit
#: Names of the callables whose repr wraps one number: NumPy's scalar types and
#: 0-d arrays (`np.float64(0.5)`, `array(0.5, dtype=float32)`), Fraction, Decimal,
#: torch's `tensor(0.5)`, JAX's `Array(0.5, dtype=float32)` and mpmath's `mpf('0.5')`.
_NUMBER_TYPES = re.compile(
    r"^(?:(?:float|int|uint|complex)\d*|longdouble|clongdouble|half|single|double|csingle|cdouble|"
    r"byte|ubyte|short|ushort|intc|uintc|intp|uintp|long|ulong|longlong|ulonglong|bool_?|"
    r"array|Array|tensor|Fraction|Decimal|mpf)$")
#: TensorFlow's and Keras's scalar reprs: `<tf.Tensor: shape=(), dtype=float32, numpy=0.5>`,
#: `<KerasVariable shape=(), dtype=float32, path=v, value=0.5>`-like forms.
_TENSOR_REPR = re.compile(r"^<[\w.]+(?::|\s)[^<>]*\bshape=\(\)[^<>]*?\b(?:numpy|value)=(?P<value>[^<>]+)>$", re.S)


class _NotANumber(Exception):
    pass


def _name(node) -> str:
    """`np.float64` -> `float64`; `array` -> `array`."""
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _number(node):
    """The number an expression node of a repr stands for; raises _NotANumber."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, float, complex)):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _number(node.operand)
        if isinstance(value, bool):
            raise _NotANumber
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):  # (3+0j), 1-2j
        left, right = _number(node.left), _number(node.right)
        if not isinstance(left, complex) and not isinstance(right, complex):
            raise _NotANumber
        return left + right if isinstance(node.op, ast.Add) else left - right
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = _name(node)
        if name in ("nan", "NaN", "inf", "Infinity"):
            return float(name.lower()[:3])
        if name in ("True_", "False_"):  # np.True_
            return name == "True_"
        raise _NotANumber
    if isinstance(node, ast.Call) and _NUMBER_TYPES.match(_name(node.func)) and not any(
            isinstance(a, ast.Starred) for a in node.args):
        kind = _name(node.func)
        if kind == "Fraction" and len(node.args) == 2:
            num, den = _number(node.args[0]), _number(node.args[1])
            if isinstance(num, int) and isinstance(den, int) and den:
                return fractions.Fraction(num, den)
            raise _NotANumber
        if len(node.args) != 1:  # keywords (dtype=..., weak_type=...) are fine
            raise _NotANumber
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):  # Decimal('1.5'), np.longdouble('0.5')
            try:
                return decimal.Decimal(arg.value.strip())
            except decimal.InvalidOperation:
                try:
                    return complex(arg.value.strip())
                except ValueError:
                    raise _NotANumber from None
        return _number(arg)
    raise _NotANumber


def result_number(text: str):
    """The number a cell's displayed result (its `text/plain`) stands for, or None.

    Reads every numeric type Python and NumPy produce, from their repr: `0.5`,
    `-1`, `True`, `nan`, `inf`, `np.float64(0.0)`, `np.float32(0.5)`,
    `np.int64(2)`, `np.True_`, `np.longdouble('0.5')`, `array(0.5)`,
    `array(1, dtype=int32)`, `Fraction(1, 2)`, `Decimal('1.5')`, complex
    numbers, and the scalars of TensorFlow, JAX, torch and mpmath.

    Returns:
        bool, int, float, complex, `fractions.Fraction` or `decimal.Decimal`;
        None when the text is not one number (a string, a list, an array of
        several values, any other object).
    """
    text = text.strip()
    m = _TENSOR_REPR.match(text)
    if m:
        text = m.group("value").strip()
    try:
        return _number(ast.parse(text, mode="eval").body)
    except (SyntaxError, ValueError, RecursionError, MemoryError, _NotANumber):
        return None


def partial_credit(text: str, points: float) -> tuple[float, str]:
    """The points a test cell earns when it ran cleanly and displayed `text` as its result.

    nbgrader's rule, made safe: a number is the partial credit; anything else
    earns all the points. Unlike nbgrader (`nbgrader.utils.get_partial_grade`,
    which reads only what `float()` parses and gives full marks otherwise),
    every numeric type is read (see `result_number`), and a value that is not
    a valid score never earns full marks:

    - True earns all the points and False earns 0 (a passed or failed comparison);
    - a negative number, NaN or infinity, a complex number, or more than `points`
      (beyond rounding) earns 0, with a note saying why.

    Args:
        text: the cell's `execute_result` `text/plain`.
        points: the cell's points (> 0).

    Returns:
        `(score, note)`, `0 <= score <= points`; the note is '' when the cell
        earned all its points without anything unusual.
    """
    value = result_number(text)
    shown = text.strip().splitlines()[0][:60] if text.strip() else repr(text)
    if value is None:
        return points, ""
    if isinstance(value, bool):
        return (points, "") if value else (0.0, f"0 points: the cell's result is {shown}")
    if isinstance(value, complex):
        return 0.0, f"0 points: the cell's result {shown} is a complex number, not a partial score"
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range: finite, far from a score
        number = 1e308 if value > 0 else -1e308
    except (ValueError, decimal.InvalidOperation):  # Decimal('sNaN')
        number = math.nan
    if not math.isfinite(number):
        return 0.0, f"0 points: the cell's result {shown} is not a finite number, so it is not a partial score"
    if number < 0:
        return 0.0, f"0 points: the cell's result {shown} is negative, so it is not a partial score"
    if number > points * (1 + 1e-9):
        return 0.0, (f"0 points: the cell's result {shown} is more than the cell's {_fmt(points)} points, "
                     "so it is not a partial score")
    number = min(number, points) + 0.0  # + 0.0: -0.0 is 0
    if number < points:
        return number, f"partial credit: the cell returned {_fmt(number)} of {_fmt(points)} points"
    return number, ""


def write_atomic(path: str | Path, text: str) -> Path:
    """Writes `text` to a new file next to `path` and renames it over `path`.

    Whatever was at `path` (a file the notebook forged, a symlink) is replaced,
    never written through.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
