"""The class report (rnn_course/grading/report.py), the CSV details it reads, and the batch progress bar.

Most tests build grades.csv files from hand-made `GradeResult`s with the grader's
own `write_csv`, so no kernel runs; one grades two fixture submissions for real
to see the verdicts and mistake codes the grader's results give.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import batch  # noqa: E402
from rnn_course.grading.batch import csv_safe, grade_many, write_csv  # noqa: E402
from rnn_course.grading.cli import main as grading_main  # noqa: E402
from rnn_course.grading.errors import GradingError  # noqa: E402
from rnn_course.grading.report import build_report, pseudonym, read_grades  # noqa: E402
from rnn_course.grading.results import GradeResult, TestResult  # noqa: E402

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "grading" / "report"
POINTS = {"q1_add_tests": 2.0, "q2_mean_tests": 3.0, "q3_norm_tests": 5.0}
NB = B.SUMS


def _test(gid, outcome):
    """A TestResult for fixture test `gid`: 'pass', or the one-line reason it lost its points."""
    top = POINTS[gid]
    if outcome == "pass":
        return TestResult(gid, top, top, "passed", execution_time=0.25)
    hidden = outcome.startswith("hidden:")
    reason = outcome.removeprefix("hidden:")
    return TestResult(gid, 0.0, top, f"hint\n{reason}", hidden=gid != "q2_mean_tests", execution_time=0.5,
                      reason=reason, public_passed=hidden)


def _result(path, outcomes, *, elapsed=10.0, **kw):
    tests = [_test(gid, o) for gid, o in zip(POINTS, outcomes)]
    return GradeResult(submission=Path(path), source=Path("solutions") / NB, score=sum(t.score for t in tests),
                       max_score=10.0, tests=tests, elapsed=elapsed, **kw)


SWAPPED = "CheckFailed: received 7, expected 5: W_h and W_e are swapped [mistake: W_h-W_e-swapped]"
UNANSWERED = "answer cell q1_add: NotImplementedError: "


def _class(tmp_path):
    """Six submissions with known verdicts, written as grades.csv by the grader's write_csv."""
    subs = tmp_path / "subs"
    results = [
        _result(subs / "Zelda Quinlan" / NB, ["pass", "pass", "pass"], elapsed=12.0),
        _result(subs / "Yusuf Okonkwo" / NB, ["pass", "AssertionError: mean([1, 2, 3, 6]) = 0", "pass"]),
        _result(subs / "Xavier Brandt" / NB, ["pass", "AssertionError: mean([1, 2, 3, 6]) = 2.5",
                                              "hidden:AssertionError"], elapsed=14.0),
        _result(subs / "Wanda Pemberton" / NB, [SWAPPED, "pass", "hidden:AssertionError: norm([1.5]) = 1"]),
        _result(subs / "Violet Armitage" / NB, [UNANSWERED, "answer cell q2_mean: NotImplementedError: ",
                                                "answer cell q3_norm: NotImplementedError: "], elapsed=8.0),
        GradeResult(submission=subs / "Ursula Fairbanks" / NB, source=Path("solutions") / NB, score=0.0,
                    max_score=10.0, elapsed=0.0, rejected=f"{NB} is not valid JSON (line 1)",
                    tests=[TestResult(g, 0.0, p, "not run: x", reason="not run: x") for g, p in POINTS.items()]),
    ]
    return write_csv(results, tmp_path / "grades.csv"), results


# ---------------------------------------------------------------------- the CSV
def test_csv_records_each_tests_verdict_mistake_hint_and_time(tmp_path):
    out, _ = _class(tmp_path)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    header = next(csv.reader(out.open(encoding="utf-8")))
    # the old columns come first, in their old order: readers of older files find them where they were
    assert header[:13 + 3] == batch.FIXED_COLUMNS + list(POINTS)
    assert [r["q1_add_tests:verdict"] for r in rows] == ["passed"] * 3 + ["failed", "error", "not run"]
    assert rows[3]["q1_add_tests:mistake"] == "1/W_h-W_e-swapped"
    # hints that differ only in measured values share a code; the code names the exercise and the error
    assert rows[1]["q2_mean_tests:mistake"] == rows[2]["q2_mean_tests:mistake"]
    assert rows[1]["q2_mean_tests:mistake"].startswith("2/AssertionError-")
    assert rows[2]["q3_norm_tests:mistake"] == "3/hidden-test-failed"
    assert rows[4]["q1_add_tests:mistake"] == "1/NotImplementedError"
    assert rows[5]["q1_add_tests:mistake"] == "1/not-run"
    assert rows[3]["q1_add_tests:hint"] == SWAPPED and rows[0]["q1_add_tests:hint"] == ""
    assert rows[0]["q1_add_tests:seconds"] == "0.25"


@pytest.mark.parametrize("reason, verdict, mistake", [
    ("CheckFailed: received 13.1662, expected 41.2138: nats", "failed", "5/CheckFailed-"),
    ("CheckFailed: perplexity(log_probs) is not implemented yet (it raises NotImplementedError).", "error",
     "5/NotImplementedError"),
    ("AssertionError", "failed", "5/AssertionError"),
    ("CheckFailed: received 13.1, expected 41.2 [mistake: log-base-2]", "failed", "5/log-base-2"),
    ("answer cell q5: timed out: the cell ran longer than 3 s and was stopped", "timeout", "5/timeout"),
    ("stopped: the total time limit of 3 s was reached while this cell ran", "timeout", "5/timeout"),
    ("not run: the total time limit of 3 s was reached", "not run", "5/not-run"),
    ("the kernel died while running this cell: killed by SIGSEGV", "error", "5/kernel-died"),
    ("0 points: this test cell wrote to stderr, which nbgrader scores as a failure: 'x'", "failed",
     "5/wrote-to-stderr"),
    ("NameError: name 'x' is not defined", "error", "5/NameError"),
])
def test_verdict_and_mistake_code_of_each_kind_of_failure(reason, verdict, mistake):
    t = TestResult("q5_perplexity_tests", 0.0, 1.0, reason, reason=reason)
    assert t.verdict == verdict
    assert t.mistake == mistake or (mistake.endswith("-") and re.fullmatch(re.escape(mistake) + "[0-9a-f]{6}",
                                                                             t.mistake)), t.mistake


def test_hints_of_one_template_share_a_code_and_other_templates_do_not():
    def code(hint):
        return TestResult("q2_1_rnn_cell_tests", 0.0, 4.0, hint, reason=f"CheckFailed: {hint}").mistake

    same = [code("n=2: ('<s>', 'the') is missing; your padding is too short."),
            code("n=3: ('<s>', '<s>', 'a') is missing; your padding is too short."),
            code('n=4: ("<s>", "x") is missing; your padding is too short.')]
    assert len(set(same)) == 1 and same[0].startswith("2.1/CheckFailed-")
    assert code("received 13.1662, expected 41.2138: the loss is in nats") != same[0]


def test_csv_cells_that_a_spreadsheet_would_run_are_defused(tmp_path):
    evil = "=cmd|' -C calc'!A0"
    r = _result(tmp_path / evil / NB, ["pass", "pass", f"AssertionError: {evil}"])
    r.notes.append("+SUM(A1:A9)")
    rows = list(csv.DictReader(write_csv([r], tmp_path / "g.csv").open(encoding="utf-8")))
    assert rows[0]["student"] == "'" + evil and rows[0]["notes"] == "'+SUM(A1:A9)"
    assert not any(v.startswith(("=", "+", "-", "@")) for v in rows[0].values())
    assert csv_safe(-1.5) == -1.5 and csv_safe("-x") == "'-x" and csv_safe("@x") == "'@x"


def test_the_grader_records_verdicts_and_codes(tmp_path):
    """Two fixture submissions graded for real: a wrong visible check, and a hidden test's bare assert."""
    env = B.install_checks(tmp_path / "checks")
    visible = B.write(B.submission({**B.RIGHT, "q2_mean": B.WRONG["q2_mean"]}), tmp_path / "s" / "ann" / NB)
    hidden = B.write(B.submission({**B.RIGHT, "q3_norm": "def norm(v):\n    return 5.0\n"}),
                     tmp_path / "s" / "bob" / NB)
    grade_many([visible, hidden], tmp_path / "grades.csv", jobs=1, source_path=B.SOLUTIONS / NB, env=env,
               cell_timeout=5, total_timeout=60, memory_limit_mb=1500, check_modules=("coursechecks",))
    rows = list(csv.DictReader((tmp_path / "grades.csv").open(encoding="utf-8")))
    assert [r["q2_mean_tests:verdict"] for r in rows] == ["failed", "passed"]
    assert rows[0]["q2_mean_tests:mistake"].startswith("2/AssertionError-")
    assert rows[1]["q3_norm_tests:mistake"] == "3/hidden-test-failed"
    assert float(rows[1]["q3_norm_tests:seconds"]) > 0


# ---------------------------------------------------------------------- progress
def test_a_batch_shows_a_progress_bar_with_eta_and_keeps_the_lines(tmp_path, monkeypatch, capsys):
    def fake_grade(path, **kw):
        return _result(path, ["pass", "pass", "pass"], elapsed=1.0)

    monkeypatch.setattr(batch, "grade_notebook", fake_grade)
    lines = []
    grade_many([tmp_path / f"s{i}" / NB for i in range(3)], jobs=1, progress=lines.append, progress_bar=True)
    err = capsys.readouterr().err
    assert "3/3" in err and "ETA" in err
    assert len(lines) == 3 and lines[-1].startswith("[3/3]")
    grade_many([tmp_path / f"s{i}" / NB for i in range(3)], jobs=1, progress=lines.append)
    assert capsys.readouterr().err == ""  # the Python API shows no bar unless asked


# ---------------------------------------------------------------------- the report
def test_aggregates_equal_what_the_csv_says(tmp_path):
    out, _ = _class(tmp_path)
    _, json_path, data = build_report([out], tmp_path / "report.html")
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(data))
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    (nb,) = data["notebooks"]
    scored = [float(r["score"]) for r in rows if r["status"] in ("graded", "rejected")]
    assert nb["summary"]["mean"] == round(statistics.fmean(scored), 3)
    assert nb["summary"]["median"] == statistics.median(scored)
    assert nb["summary"]["zeros"] == sum(s == 0 for s in scored) == 2
    assert nb["summary"]["full_marks"] == 1 and nb["max_score"] == 10
    graded = [r for r in rows if r["status"] == "graded"]
    for ex in nb["exercises"]:
        gid = ex["grade_id"]
        passed = sum(r[f"{gid}:verdict"] == "passed" for r in graded)
        assert ex["pass_rate"] == round(passed / len(graded), 4)
        codes = [r[f"{gid}:mistake"] for r in graded if r[f"{gid}:mistake"]]
        assert {m["code"]: m["count"] for m in ex["mistakes"]} == {c: codes.count(c) for c in set(codes)}
        for m in ex["mistakes"]:
            assert m["share"] == round(m["count"] / len(graded), 4)
    q1 = nb["exercises"][0]["mistakes"]
    assert {m["code"] for m in q1} == {"1/W_h-W_e-swapped", "1/NotImplementedError"}
    # two AssertionErrors of one template, with different values: one mistake, counted twice
    (q2,) = [m for m in nb["exercises"][1]["mistakes"] if m["code"].startswith("2/AssertionError-")]
    assert q2["count"] == 2 and q2["share"] == round(2 / 5, 4)
    kinds = {(p["kind"], Path(p["submission"]).parent.name) for p in data["problems"]}
    assert ("rejected", "Ursula Fairbanks") in kinds and ("answered nothing", "Violet Armitage") in kinds
    assert data["timing"]["total_seconds"] == sum(float(r["seconds"]) for r in rows)
    page = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    assert "W_h-W_e-swapped" in page and "<script" not in page


def test_older_grades_csv_without_details_still_reports(tmp_path):
    """A grades.csv written before the per-test details: points only; pass rates from the source's points."""
    _, json_path, data = build_report([FIXTURE / "old_grades.csv"], tmp_path / "r.html",
                                      solutions_dir=B.SOLUTIONS)
    (nb,) = data["notebooks"]
    assert nb["summary"]["n"] == 3 and nb["summary"]["full_marks"] == 1
    assert [ex["pass_rate"] for ex in nb["exercises"]] == [1.0, round(2 / 3, 4), round(1 / 3, 4)]
    assert all(ex["mistakes"] == [] for ex in nb["exercises"])
    assert any("before the grader recorded" in n for n in nb["notes"])


NAMES = ["Zelda Quinlan", "Yusuf Okonkwo", "Xavier Brandt", "Wanda Pemberton", "Violet Armitage",
         "Ursula Fairbanks"]


def test_anonymise_leaks_no_name_anywhere(tmp_path):
    out, results = _class(tmp_path)
    results[1].notes.append("renamed: Yusuf Okonkwo wrote to /home/yusuf.okonkwo/notes.txt")
    results[3].flags.append("a cell you added after q1_add: setattr (line 2) # by Wanda")
    write_csv(results, out)
    executed = tmp_path / "executed"
    nb = B.submission({**B.RIGHT, "q1_add": "def add(a, b):\n    # Wanda Pemberton's answer\n    return a - b\n"})
    executed.mkdir()
    nbformat.write(nb, str(executed / f"0003_{NB}"))
    key = tmp_path / "secret.key"
    assert grading_main(["report", str(out), "--executed", str(executed), "--anonymise", "--key-file", str(key),
                         "-o", str(tmp_path / "r.html")]) == 0
    text = (tmp_path / "r.html").read_text() + (tmp_path / "r.json").read_text()
    assert text.count("data:image/png;base64,") == 1
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)  # base64 can spell anything by chance
    secrets = set(NAMES) | {w for n in NAMES for w in n.split()} | {"yusuf.okonkwo", "Wanda"}
    leaked = sorted(s for s in secrets if s.lower() in text.lower())
    assert leaked == []
    k = key.read_bytes().strip()
    assert pseudonym(k, "Wanda Pemberton") in text  # the excerpt is there, under the pseudonym
    assert "return a - b" in text
    # the same key gives the same pseudonyms; another key gives others
    assert pseudonym(k, "Zelda Quinlan") == pseudonym(k, "Zelda Quinlan") != pseudonym(b"x" * 32, "Zelda Quinlan")


def test_the_report_escapes_what_students_control(tmp_path):
    evil = "<script>alert(1)</script>"
    r = _result(tmp_path / "subs" / evil.replace("/", "_") / NB, ["pass", "pass", f"AssertionError: {evil}"])
    r.notes.append("=cmd|' /C calc'!A0 <img src=x onerror=alert(2)>")
    r.flags.append("<b>flag</b>")
    out = write_csv([r, _result(tmp_path / "subs" / "b" / NB, ["pass"] * 3)], tmp_path / "g.csv")
    build_report([out], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<script" not in page and "<img src=x" not in page and "<b>flag" not in page
    assert "&lt;script&gt;" in page and "&lt;b&gt;flag" in page


def _one_line_error(args, capsys, expected):
    assert grading_main(["report", *map(str, args)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert expected in err, err


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    good, _ = _class(tmp_path)
    html = tmp_path / "r.html"
    _one_line_error([tmp_path / "nope.csv", "-o", html], capsys, "does not exist")
    (tmp_path / "other.csv").write_text("name,grade\nalice,A\n")
    _one_line_error([tmp_path / "other.csv", "-o", html], capsys, "lacks submission, student, notebook, score")
    (tmp_path / "empty.csv").write_text(",".join(batch.FIXED_COLUMNS) + "\n")
    _one_line_error([tmp_path / "empty.csv", "-o", html], capsys, "the batch is empty")
    (tmp_path / "zero.csv").write_text("")
    _one_line_error([tmp_path / "zero.csv", "-o", html], capsys, "is empty")
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01")
    _one_line_error([tmp_path / "bin.csv", "-o", html], capsys, "not UTF-8")
    _one_line_error([good, "--executed", tmp_path / "missing", "-o", html], capsys, "is not a folder")
    _one_line_error([good, good, "--executed", tmp_path, "-o", html], capsys, "goes with the one grades.csv")
    _one_line_error([good, "--anonymise", "-o", html], capsys, "needs --key-file")
    bad = good.read_text().replace(",10.0,", ",ten,", 1)
    (tmp_path / "badnum.csv").write_text(bad)
    _one_line_error([tmp_path / "badnum.csv", "-o", html], capsys, "expected a number")
    assert not html.exists()


def test_rows_of_two_notebooks_get_a_section_each(tmp_path):
    sums, _ = _class(tmp_path)
    words = GradeResult(submission=tmp_path / "w" / "ann" / B.WORDS, source=Path("solutions") / B.WORDS,
                        score=4.0, max_score=4.0, tests=[TestResult("q1_shout_tests", 4.0, 4.0, "passed")])
    lost = GradeResult(submission=tmp_path / "homework.ipynb", source=None, score=0.0, max_score=0.0, tests=[],
                       error="cannot tell which notebook homework.ipynb is")
    mixed = write_csv([words, lost], tmp_path / "mixed.csv")
    data = build_report([sums, mixed], tmp_path / "r.html")[2]
    assert [nb["notebook"] for nb in data["notebooks"]] == [B.SUMS, B.WORDS, None]
    assert data["notebooks"][1]["exercises"][0]["grade_id"] == "q1_shout_tests"
    assert [ex["grade_id"] for ex in data["notebooks"][0]["exercises"]] == list(POINTS)  # no q1_shout here
    assert "not matched to any notebook" in data["notebooks"][2]["notes"][0]
    page = (tmp_path / "r.html").read_text()
    assert "Submissions with an unknown notebook" in page and page.count("<img") == 2
    assert any(p["kind"] == "grading failed" for p in data["problems"])


def test_inputs_that_share_a_file_name_are_told_apart_by_their_folder(tmp_path):
    from rnn_course.grading.report import _input_names

    assert _input_names(["/x/class01/grades.csv", "/x/class02/grades.csv", "/x/class01/grades.csv", "other.csv"]) == \
        ["class01/grades.csv", "class02/grades.csv", "other.csv"]


def test_answer_excerpts_come_from_the_graders_executed_notebooks(tmp_path):
    """`rnn-course grade --executed` marks cells with `rnn_course_grader` metadata; the docstring is left out."""
    from rnn_course.grading.report import answer_excerpt

    def cell(source, **meta):
        return nbformat.v4.new_code_cell(source, metadata={"rnn_course_grader": meta})

    nb = nbformat.v4.new_notebook(cells=[
        cell("import math", role="locked", grade_id="setup"),
        cell('def norm(v):\n    """The Euclidean norm."""\n    return sum(v)\n', role="answer", grade_id="q3_norm"),
        cell("print('helper')", role="student"),
        cell("assert norm([3, 4]) == 5", role="grade", grade_id="q3_norm_tests", score=0.0, points=5.0)])
    path = tmp_path / "0001_x.ipynb"
    nbformat.write(nb, str(path))
    assert answer_excerpt(path, "q3_norm_tests") == "def norm(v):\n    return sum(v)"
    assert answer_excerpt(path, "q9_missing_tests") is None


# ------------------------------------------------------ a real check's hint, as the grader reads it (issue 16)
def _failed_cell_reason(check, answer) -> str:
    """The reason the grader records for a test cell in which `check(answer)` failed: the last line of the error
    output that the kernel gives the grader (ename and evalue), read by the grader's own `_error_line`."""
    from rnn_course.checks import CheckFailed
    from rnn_course.grading.grader import _error_line

    with pytest.raises(CheckFailed) as info:
        check(answer)
    err = info.value
    output = {"output_type": "error", "ename": type(err).__name__, "evalue": str(err), "traceback": []}
    return _error_line([output])


@pytest.mark.parametrize("grade_id, case, verdict, mistake", [
    ("q1_5_perplexity_tests", "perplexity in base 10", "failed", "1.5/log10-not-ln"),
    ("q1_1_count_ngrams_tests", "count_ngrams unanswered", "error", "1.1/NotImplementedError"),
    ("q2_3_lm_windows_tests", "targets not shifted", "failed", "2.3/targets-not-shifted"),
    ("q3_3_clip_by_global_norm_tests", "each tensor clipped by its own norm", "failed", "3.3/per-tensor-norm"),
    ("q3_2_linear_case_tests", "a student's error", "failed", "3.2/raised-ZeroDivisionError"),
])
def test_a_checks_mistake_code_reaches_the_report_with_the_exercise_number(grade_id, case, verdict, mistake):
    import numpy as np

    from rnn_course.checks import gradients, ngram_lm, rnn_lm

    def unanswered(sentences, n):
        raise NotImplementedError()

    def per_tensor(grads, threshold):
        return [g * threshold / max(float(np.linalg.norm(g)), threshold) for g in grads], 5.0

    def windows(ids, seq_len):
        n = (len(ids) - 1) // seq_len
        return ids[: n * seq_len].reshape(n, seq_len), ids[: n * seq_len].reshape(n, seq_len)

    check, answer = {
        "perplexity in base 10": (ngram_lm.check_perplexity, lambda lp: float(10 ** (-np.mean(lp)))),
        "count_ngrams unanswered": (ngram_lm.check_count_ngrams, unanswered),
        "targets not shifted": (rnn_lm.check_lm_windows, windows),
        "each tensor clipped by its own norm": (gradients.check_clip_by_global_norm, per_tensor),
        "a student's error": (lambda fn: gradients.check_linear_case(fn, fn, fn), lambda *args: 1 / 0),
    }[case]
    reason = _failed_cell_reason(check, answer)
    assert reason.startswith("CheckFailed: ") and reason.endswith(f" [mistake: {mistake.split('/')[1]}]"), reason
    result = TestResult(grade_id, 0.0, 2.0, f"the hint\n{reason}", reason=reason)
    assert (result.verdict, result.mistake) == (verdict, mistake)
