"""The grader on small plain-Python fixture notebooks: baselines, adversarial and bad input.

The fixture `90_fixture_sums` is worth 10 points: q1 (2, hidden tests), q2 (3,
visible check only) and q3 (5, hidden tests with a reference computed in the
test). Its check module `coursechecks` stands in for `rnn_course.checks` and is
copied into each test's tmp_path. Each grading runs a real kernel in the
grader's sandbox, with short limits, in a few seconds.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jsonschema
import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import (  # noqa: E402
    RESULTS_SCHEMA, GradingError, find_source, grade_many, grade_notebook)
from rnn_course.grading import audit  # noqa: E402
from rnn_course.grading.cli import main as grading_main  # noqa: E402

SOURCE = B.SOLUTIONS / B.SUMS
LIMITS = dict(cell_timeout=5, total_timeout=60, memory_limit_mb=1500, check_modules=("coursechecks",))


@pytest.fixture
def env(tmp_path):
    """The kernel environment that makes the fixture checks importable."""
    return B.install_checks(tmp_path / "checks")


def grade(nb, tmp_path, env, *, name=B.SUMS, student="alice", **kw):
    """Writes `nb` as a student's submission and grades it against 90_fixture_sums."""
    path = B.write(nb, tmp_path / "submissions" / student / name)
    return grade_notebook(path, SOURCE, env=env, **{**LIMITS, **kw})


def scores(result):
    return {t.grade_id: t.score for t in result.tests}


def output(result, grade_id):
    return next(t.output for t in result.tests if t.grade_id == grade_id)


# ---------------------------------------------------------------------- baselines
def test_fixture_notebooks_match_their_builders():
    for name, build in ((B.SUMS, B.sums_solution), (B.WORDS, B.words_solution)):
        committed = B.load(name)
        assert [(c.cell_type, c.source, c.metadata) for c in committed.cells] == \
            [(c.cell_type, c.source, c.metadata) for c in build().cells], f"rerun builders.py for {name}"


def test_solution_gets_full_marks(env):
    result = grade_notebook(SOURCE, SOURCE, env=env, **LIMITS)
    assert (result.score, result.max_score) == (10, 10)
    assert [t.status for t in result.tests] == ["passed"] * 3
    assert result.notes == [] and result.events == [] and result.flags == []


def test_untouched_student_version_scores_zero(tmp_path, env):
    result = grade(B.submission(), tmp_path, env)
    assert (result.score, result.max_score) == (0, 10)
    for t in result.tests:
        assert t.status == "failed" and "NotImplementedError" in t.output


def test_wrong_answer_gets_partial_marks_and_the_checks_hint(tmp_path, env):
    result = grade(B.submission({**B.RIGHT, "q2_mean": B.WRONG["q2_mean"]}), tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 0, "q3_norm_tests": 5}
    assert "hint: mean([1, 2, 3, 6]) returned 0" in output(result, "q2_mean_tests")
    assert "AssertionError" in output(result, "q2_mean_tests")


def test_hidden_tests_run_although_the_student_copy_lacks_them(tmp_path, env):
    # add() passes the visible check (small non-negative sums) but not the hidden test.
    sneaky = "def add(a, b):\n    return abs(a) + abs(b) if a >= 0 else a + b\n"
    result = grade(B.submission({**B.RIGHT, "q1_add": sneaky}), tmp_path, env)
    assert scores(result)["q1_add_tests"] == 0
    assert "add(10, -3) should be 7" in output(result, "q1_add_tests")


# ---------------------------------------------------------------------- restoration
def test_test_cell_edited_to_pass_is_restored(tmp_path, env):
    nb = B.submission({**B.WRONG, "q3_norm": B.RIGHT["q3_norm"]})
    B.cell(nb, "q1_add_tests").source = "pass"
    B.cell(nb, "q2_mean_tests").source = "print('All tests passed')"
    result = grade(nb, tmp_path, env)
    assert scores(result) == {"q1_add_tests": 0, "q2_mean_tests": 0, "q3_norm_tests": 5}
    assert any("restored the test cell q1_add_tests" in n and "edited" in n for n in result.notes)


def test_deleted_test_cells_are_restored(tmp_path, env):
    nb = B.submission({**B.RIGHT, "q2_mean": B.WRONG["q2_mean"]})
    nb.cells = [c for c in nb.cells if not c.metadata["nbgrader"].get("grade")]
    result = grade(nb, tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 0, "q3_norm_tests": 5}
    assert sum("restored the missing test cell" in n for n in result.notes) == 3


def test_deleted_answer_cell_runs_as_the_stub_not_the_solution(tmp_path, env):
    nb = B.submission(B.RIGHT)
    nb.cells = [c for c in nb.cells if c.metadata["nbgrader"].get("grade_id") != "q3_norm"]
    result = grade(nb, tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 3, "q3_norm_tests": 0}
    assert any("q3_norm was missing" in n for n in result.notes)
    assert "NotImplementedError" in output(result, "q3_norm_tests")


def test_cells_that_lost_their_metadata_are_matched(tmp_path, env):
    nb = B.submission(B.RIGHT)
    for c in nb.cells:
        c.metadata = {}
    result = grade(nb, tmp_path, env)
    assert result.score == 10
    assert any("lost their nbgrader metadata" in n for n in result.notes)


def test_student_added_cells_run_where_they_were_added(tmp_path, env):
    nb = B.submission({"q1_add": "def add(a, b):\n    return helper(a, b)\n", "q2_mean": B.RIGHT["q2_mean"],
                       "q3_norm": B.RIGHT["q3_norm"]})
    at = nb.cells.index(B.cell(nb, "q1_add"))
    nb.cells.insert(at, nbformat.v4.new_code_cell("def helper(a, b):\n    return a + b"))
    result = grade(nb, tmp_path, env)
    assert result.score == 10


# ---------------------------------------------------------------------- adversarial
@pytest.mark.parametrize("patch", [
    "import coursechecks\ncoursechecks.check_mean = lambda f: None\n",
    "check_mean = lambda f: None\n",
    "import sys, types\nfake = types.ModuleType('coursechecks')\nfake.check_mean = fake.check_add = lambda f: None\n"
    "sys.modules['coursechecks'] = fake\n",
    "open('coursechecks.py', 'w').write('def check_add(f): pass\\ndef check_mean(f): pass\\n')\n"
    "import os, sys\nsys.path.insert(0, os.getcwd())\n",
], ids=["module-attribute", "shadowing-name", "sys-modules", "shadowing-file"])
def test_monkeypatched_check_cannot_inflate_the_score(tmp_path, env, patch):
    nb = B.submission({**B.RIGHT, "q2_mean": patch + B.WRONG["q2_mean"]})
    result = grade(nb, tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 0, "q3_norm_tests": 5}
    assert "hint: mean" in output(result, "q2_mean_tests")


def test_rewriting_the_check_module_on_disk_makes_the_result_an_error(tmp_path, env):
    checks = Path(env["PYTHONPATH"]) / "coursechecks.py"
    patch = f"open({str(checks)!r}, 'w').write('def check_add(f): pass\\ndef check_mean(f): pass\\n')\n"
    result = grade(B.submission({**B.RIGHT, "q2_mean": patch + B.WRONG["q2_mean"]}), tmp_path, env)
    assert result.status == "error"
    assert "coursechecks.py changed while this notebook ran" in result.error
    assert any("rewrote a check module's file" in f for f in result.flags)


def test_monkeypatching_is_flagged_for_review(tmp_path, env):
    patch = "import coursechecks\ncoursechecks.check_mean = lambda f: None\n"
    result = grade(B.submission({**B.RIGHT, "q2_mean": patch + B.WRONG["q2_mean"]}), tmp_path, env)
    assert any("answer cell q2_mean" in f and "coursechecks.check_mean" in f for f in result.flags)
    assert "REVIEW" in result.summary()


def test_sys_exit_in_an_answer_does_not_stop_grading(tmp_path, env):
    result = grade(B.submission({**B.RIGHT, "q1_add": B.RIGHT["q1_add"] + "import sys\nsys.exit(0)\n"}),
                   tmp_path, env)
    assert result.score == 10
    assert result.events == []


def test_os_exit_in_an_answer_kills_only_that_answer(tmp_path, env):
    result = grade(B.submission({**B.RIGHT, "q2_mean": B.RIGHT["q2_mean"] + "import os\nos._exit(0)\n"}),
                   tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 0, "q3_norm_tests": 5}
    assert "kernel died" in output(result, "q2_mean_tests")
    assert any("exited with status 0" in e for e in result.events)
    assert any("restarted" in e for e in result.events)


@pytest.mark.parametrize("loop", [
    "while True:\n    pass\n",
    "import time\nwhile True:\n    try:\n        time.sleep(60)\n    except KeyboardInterrupt:\n        pass\n",
], ids=["interruptible", "ignores-interrupt"])
def test_infinite_loop_times_out_and_zeroes_only_its_question(tmp_path, env, loop):
    result = grade(B.submission({**B.RIGHT, "q2_mean": loop + B.RIGHT["q2_mean"]}), tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 0, "q3_norm_tests": 5}
    assert "timed out: the cell ran longer than 5 s" in output(result, "q2_mean_tests")


def test_total_time_limit_zeroes_the_cells_not_reached(tmp_path, env):
    nb = B.submission({**B.RIGHT, "q2_mean": "import time\ntime.sleep(60)\n" + B.RIGHT["q2_mean"]})
    result = grade(nb, tmp_path, env, cell_timeout=60, total_timeout=8)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 0, "q3_norm_tests": 0}
    assert "total time limit of 8 s" in output(result, "q3_norm_tests")


def test_huge_allocation_hits_the_memory_limit(tmp_path, env):
    nb = B.submission({**B.RIGHT, "q3_norm": "_big = bytearray(20 * 10**9)\n" + B.RIGHT["q3_norm"]})
    result = grade(nb, tmp_path, env)
    assert scores(result) == {"q1_add_tests": 2, "q2_mean_tests": 3, "q3_norm_tests": 0}
    assert "MemoryError" in output(result, "q3_norm_tests")


def test_kernel_crash_is_reported_and_the_rest_is_graded(tmp_path, env):
    nb = B.submission({**B.RIGHT, "q1_add": "import ctypes\nctypes.string_at(0)\n" + B.RIGHT["q1_add"]})
    result = grade(nb, tmp_path, env)
    assert scores(result) == {"q1_add_tests": 0, "q2_mean_tests": 3, "q3_norm_tests": 5}
    assert "SIGSEGV" in output(result, "q1_add_tests")


def test_printing_all_tests_passed_earns_nothing(tmp_path, env):
    fake = "print('All tests passed! Score: 10/10')\n"
    nb = B.submission({gid: fake + B.cell(B.submission(), gid).source for gid in B.RIGHT})
    nb.cells.append(nbformat.v4.new_code_cell("print('q1_add_tests 2/2 PASS\\nAll tests passed')"))
    result = grade(nb, tmp_path, env)
    assert result.score == 0


def test_a_test_cell_that_writes_stderr_scores_zero_as_in_nbgrader(tmp_path, env):
    noisy = "import sys\ndef add(a, b):\n    print('debug', file=sys.stderr)\n    return a + b\n"
    result = grade(B.submission({**B.RIGHT, "q1_add": noisy}), tmp_path, env)
    assert scores(result) == {"q1_add_tests": 0, "q2_mean_tests": 3, "q3_norm_tests": 5}
    assert "wrote to stderr, which nbgrader scores as a failure" in output(result, "q1_add_tests")


def test_duplicated_grade_ids_count_once(tmp_path, env):
    nb = B.submission({**B.RIGHT, "q2_mean": B.WRONG["q2_mean"]})
    tests = B.cell(nb, "q1_add_tests")
    for _ in range(3):
        dup = copy.deepcopy(tests)
        dup.source = "pass"
        dup.id = f"dup-{_}"
        nb.cells.insert(nb.cells.index(tests), dup)
    fixed = copy.deepcopy(B.cell(nb, "q2_mean"))
    fixed.source, fixed.id = B.RIGHT["q2_mean"], "dup-mean"
    nb.cells.insert(nb.cells.index(B.cell(nb, "q2_mean")) + 1, fixed)
    result = grade(nb, tmp_path, env)
    assert (result.score, result.max_score, len(result.tests)) == (10, 10, 3)
    assert any("duplicated cell(s) with grade_id q1_add_tests, q2_mean" in n for n in result.notes)


def test_forged_outputs_are_overwritten_by_the_grader(tmp_path, env):
    json_out, csv_out = tmp_path / "out" / "results.json", tmp_path / "out" / "grades.csv"
    forged = json.dumps({"score": 100, "tests": []})
    forge = (
        "import os, subprocess, sys\n"
        f"os.makedirs({str(json_out.parent)!r}, exist_ok=True)\n"
        f"open({str(json_out)!r}, 'w').write({forged!r})\n"
        f"open({str(csv_out)!r}, 'w').write('submission,score\\nalice,100\\n')\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(1.5); "
        f"open({str(json_out)!r}, \"w\").write({forged!r})'], start_new_session=True)\n"
    )
    path = B.write(B.submission({**B.RIGHT, "q2_mean": forge + B.WRONG["q2_mean"]}),
                   tmp_path / "submissions" / "mallory" / B.SUMS)
    code = grading_main(["grade", str(path), "--source", str(SOURCE), "--json", str(json_out), "--out",
                         str(csv_out), "--cell-timeout", "5", "--timeout", "60", "--memory-mb", "1500",
                         "--check-module", "coursechecks", "--env", f"PYTHONPATH={env['PYTHONPATH']}"])
    assert code == 0
    time.sleep(2.5)  # the background forger would have struck by now, had it survived
    results = json.loads(json_out.read_text())
    assert results["score"] == 7 and len(results["tests"]) == 3
    rows = list(csv.DictReader(csv_out.open()))
    assert [(r["student"], float(r["score"])) for r in rows] == [("mallory", 7.0)]


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name, expected", [
    ("truncated_json.ipynb", "is not valid JSON (line 1"),
    ("not_a_notebook.ipynb", "is JSON but not a notebook"),
])
def test_broken_files_are_rejected_with_score_zero(env, name, expected):
    result = grade_notebook(B.BAD / name, SOURCE, env=env, **LIMITS)
    assert (result.status, result.score, result.max_score) == ("rejected", 0, 10)
    assert expected in result.rejected
    assert all(t.score == 0 and t.output.startswith("not run:") for t in result.tests)


@pytest.mark.parametrize("content, expected", [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "is not a text file"),
    (b'{"nbformat": 2, "worksheets": []}', "has nbformat 2; expected 4"),
])
def test_non_notebooks_are_rejected(tmp_path, env, content, expected):
    path = tmp_path / B.SUMS
    path.write_bytes(content)
    result = grade_notebook(path, SOURCE, env=env, **LIMITS)
    assert result.status == "rejected" and result.score == 0
    assert expected in result.rejected


def test_nbformat3_is_upgraded_and_graded(env):
    result = grade_notebook(B.BAD / "nbformat3_solution.ipynb", SOURCE, env=env, **LIMITS)
    assert (result.status, result.score) == ("graded", 10)
    assert any("nbformat 3" in n for n in result.notes)


def test_notebook_of_another_assignment_is_rejected(tmp_path, env):
    nb = B.submission({"q1_shout": "def shout(s):\n    return s.upper() + '!'\n"}, name=B.WORDS)
    result = grade(nb, tmp_path, env)
    assert (result.status, result.score, result.max_score) == ("rejected", 0, 10)
    assert "wrong notebook" in result.rejected and "q1_shout" in result.rejected


def test_source_with_duplicate_grade_ids_is_an_error(tmp_path, env):
    nb = B.load()
    B.cell(nb, "q2_mean_tests").metadata["nbgrader"]["grade_id"] = "q1_add_tests"
    bad = B.write(nb, tmp_path / "solutions" / B.SUMS)
    with pytest.raises(GradingError, match="grade_id 'q1_add_tests' is used by cells"):
        grade_notebook(SOURCE, bad, env=env, **LIMITS)


def test_invalid_options_are_errors(tmp_path, env):
    with pytest.raises(GradingError, match="cell_timeout=0"):
        grade_notebook(SOURCE, SOURCE, cell_timeout=0)
    with pytest.raises(GradingError, match="does not exist"):
        grade_notebook(tmp_path / "missing.ipynb", SOURCE)


def test_find_source_by_file_name(tmp_path):
    sols = tmp_path / "solutions"
    for name in ("02_rnn_language_models.ipynb", "02_rnn_language_models_extra.ipynb", "03_vanishing.ipynb"):
        B.write(B.load(), sols / name)
    expect = sols / "02_rnn_language_models.ipynb"
    for name in ("02_rnn_language_models.ipynb", "02_rnn_language_models (3).ipynb",
                 "alice_02_rnn_language_models.ipynb", "Copy of 02_rnn_language_models.ipynb"):
        assert find_source(tmp_path / "subs" / name, sols) == expect
    assert find_source("bob-02_rnn_language_models_extra(1).ipynb", sols).name == "02_rnn_language_models_extra.ipynb"
    with pytest.raises(GradingError, match="cannot tell which notebook homework.ipynb is"):
        find_source("homework.ipynb", sols)


# ---------------------------------------------------------------------- outputs
def test_results_json_follows_the_gradescope_spec(tmp_path, env):
    result = grade(B.submission({**B.RIGHT, "q2_mean": B.WRONG["q2_mean"]}), tmp_path, env)
    data = result.to_gradescope()
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert data["score"] == sum(t["score"] for t in data["tests"]) == 7
    vis = {t["extra_data"]["grade_id"]: t["visibility"] for t in data["tests"]}
    assert vis == {"q1_add_tests": "after_published", "q2_mean_tests": "visible",
                   "q3_norm_tests": "after_published"}
    assert [t["status"] for t in data["tests"]] == ["passed", "failed", "passed"]
    custom = result.to_gradescope(visibility="after_due_date", hidden_visibility="hidden")
    assert {t["visibility"] for t in custom["tests"]} == {"after_due_date", "hidden"}
    with pytest.raises(ValueError, match="expected one of"):
        result.to_gradescope(visibility="public")
    written = json.loads(result.write_gradescope(tmp_path / "r.json").read_text())
    assert written == json.loads(json.dumps(data))


def test_visible_checks_get_their_own_verdict_and_the_score_stays_hidden_with_the_hidden_tests(tmp_path, env):
    # q1's add() passes the visible check but fails the hidden test; q2 fails its visible check.
    sneaky = "def add(a, b):\n    return abs(a) + abs(b) if a >= 0 else a + b\n"
    result = grade(B.submission({**B.RIGHT, "q1_add": sneaky, "q2_mean": B.WRONG["q2_mean"]}), tmp_path, env)
    assert scores(result) == {"q1_add_tests": 0, "q2_mean_tests": 0, "q3_norm_tests": 5}
    public = {t.grade_id: t.public_passed for t in result.tests}
    assert public == {"q1_add_tests": True, "q2_mean_tests": False, "q3_norm_tests": True}
    assert "add(10, -3)" not in next(t.public_output for t in result.tests if t.grade_id == "q1_add_tests")

    shown = result.to_gradescope()["output"]  # top level: students see it at once
    assert "passed  q1_add_tests" in shown and "FAILED  q2_mean_tests" in shown
    assert "Divide the sum by the number of items" in shown  # the visible check's hint
    assert "add(10, -3)" not in shown and "5 / 10" not in shown and "score appears" in shown
    everything_visible = result.to_gradescope(hidden_visibility="visible")["output"]
    assert "Autograded score: 5 / 10" in everything_visible

    untouched = grade(B.submission(), tmp_path, env, student="bob")
    assert not any(t.public_passed for t in untouched.tests)
    assert untouched.to_gradescope()["output"].count("NotImplementedError") == 3


def test_rejected_results_json_is_valid_and_says_why(env):
    data = grade_notebook(B.BAD / "truncated_json.ipynb", SOURCE, env=env, **LIMITS).to_gradescope()
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert data["score"] == 0 and "could not be graded" in data["output"]


def test_grade_many_writes_one_row_per_submission_and_survives_bad_ones(tmp_path, env):
    good = B.write(B.submission(B.RIGHT), tmp_path / "subs" / "ann" / B.SUMS)
    wrong = B.write(B.submission({**B.RIGHT, "q3_norm": B.WRONG["q3_norm"]}), tmp_path / "subs" / "ben" / B.SUMS)
    broken = tmp_path / "subs" / "cat" / B.SUMS
    broken.parent.mkdir(parents=True)
    broken.write_text("{not json", encoding="utf-8")
    unknown = B.write(B.submission(), tmp_path / "subs" / "dan" / "homework.ipynb")
    sols = tmp_path / "solutions"
    B.write(B.load(), sols / B.SUMS)
    lines = []
    results = grade_many([good, wrong, broken, unknown], tmp_path / "grades.csv", jobs=2, progress=lines.append,
                         solutions_dir=sols, env=env, **LIMITS)
    assert [(r.status, r.score) for r in results] == [("graded", 10), ("graded", 5), ("rejected", 0), ("error", 0)]
    assert "cannot tell which notebook homework.ipynb is" in results[3].error
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert [r["student"] for r in rows] == ["ann", "ben", "cat", "dan"]
    assert [r["q3_norm_tests"] for r in rows] == ["5.0", "0.0", "0.0", ""]
    assert all(float(r["seconds"]) >= 0 for r in rows) and rows[2]["reason"].startswith(B.SUMS)
    assert len(lines) == 4 and all(line.startswith("[") for line in lines)


# ---------------------------------------------------------------------- CLI
def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys):
    assert grading_main(["grade", str(tmp_path / "nope.ipynb")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such submission file" in err and "Traceback" not in err
    assert grading_main(["grade", str(SOURCE), str(SOURCE), "--json", "r.json", "--source", str(SOURCE)]) == 2
    assert "--json writes one results.json" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        grading_main(["grade", str(SOURCE), "--memory-mb", "12"])
    assert exit_info.value.code == 2


def test_course_cli_exposes_grade(tmp_path, capsys):
    from rnn_course.cli import main as course_main

    code = course_main(["grade", str(B.BAD / "not_a_notebook.ipynb"), "--source", str(SOURCE)])
    assert code == 0
    assert "REJECTED" in capsys.readouterr().out


# ---------------------------------------------------------------------- static audit
def test_audit_flags_tampering_patterns_and_not_ordinary_code():
    modules = audit.module_names(["import numpy as np\nimport coursechecks"])
    assert audit.scan("def f(x):\n    self.w = x\n    setattr(self, 'b', x)\n    return np.mean(x)\n", modules) == []
    cases = {
        "np.testing.assert_allclose = lambda *a, **k: None": "replaces the module attribute",
        "coursechecks.check_mean = None": "replaces the module attribute coursechecks.check_mean",
        "setattr(coursechecks, 'check_add', print)": "calls setattr() on the module",
        "m = importlib.import_module('coursechecks')\nsetattr(m, 'check_add', print)": "calls setattr() on m",
        "import sys\nsys.modules['coursechecks'] = 1": "writes to sys.modules",
        "exec('x = 1')": "calls exec()",
        "get_ipython().kernel.do_execute = None": "get_ipython()",
        "!rm -rf /": "runs a shell command",
        "import os\nos._exit(0)": "calls os._exit()",
        "import ctypes": "imports ctypes",
        "f.__code__ = g.__code__": "rewrites f.__code__",
        "open('coursechecks.py', 'w').write('')": "writes a .py file",
        "import sys\nsys.path.insert(0, '.')": "changes sys.path",
    }
    for code, expected in cases.items():
        flags = audit.scan(code, modules)
        assert any(expected in f for f in flags), (code, flags)


# ---------------------------------------------------------------------- autograder containers
def _others_can_run_python() -> bool:
    """True if a user other than root can execute this interpreter (every folder on its path is o+x)."""
    for path in {os.path.realpath(sys.executable), os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}:
        for folder in [Path(path), *Path(path).parents]:
            if folder.exists() and not os.stat(folder).st_mode & stat.S_IXOTH:
                return False
    return True


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="dropping privileges needs root")
@pytest.mark.skipif(not _others_can_run_python(), reason="this Python lives where an unprivileged user cannot run it")
def test_kernel_user_runs_student_code_unprivileged(tmp_path):
    import pwd

    nobody = pwd.getpwnam("nobody")
    shared = Path(tempfile.mkdtemp(prefix="rnn-grader-checks-"))
    try:
        os.chmod(shared, 0o755)
        env = B.install_checks(shared)
        os.chmod(shared / "coursechecks.py", 0o644)
        secret = tmp_path / "secret"
        secret.mkdir()
        os.chmod(secret, 0o700)
        probe = (f"import os\nprint('uid', os.getuid(), 'can-read', os.access({str(secret)!r}, os.R_OK))\n"
                 + B.RIGHT["q1_add"])
        result = grade(B.submission({**B.RIGHT, "q1_add": probe}), tmp_path, env, kernel_user="nobody")
        assert result.score == 10
        text = "".join(o.get("text", "") for c in result.notebook.cells if c.cell_type == "code" for o in c.outputs)
        assert f"uid {nobody.pw_uid} can-read False" in text
    finally:
        subprocess.run(["rm", "-rf", str(shared)], check=False)
    assert not stat.S_IMODE(os.stat(secret).st_mode) & 0o077


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the kernel_user option needs root")
def test_kernel_user_option_goes_through_the_privilege_drop(tmp_path, env):
    # As root, "root" exercises the launcher's chown/setgid/setuid path wherever Python lives.
    result = grade(B.submission(B.RIGHT), tmp_path, env, kernel_user="root")
    assert result.score == 10
    with pytest.raises(GradingError, match="is not a user on this machine"):
        grade(B.submission(B.RIGHT), tmp_path, env, kernel_user="no-such-user-rnn")
