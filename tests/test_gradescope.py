"""The Gradescope autograder zip: its contents, and `run_autograder` in a fake /autograder tree."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures" / "grading"))
import builders as B  # noqa: E402

from rnn_course.grading import gradescope  # noqa: E402
from rnn_course.grading import RESULTS_SCHEMA, GradingError  # noqa: E402
from rnn_course.grading.cli import main as grading_main  # noqa: E402

PACKAGE = Path(gradescope.__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path):
    """A checkout to package: a minimal pyproject.toml and (a link to) this rnn_course."""
    root = tmp_path / "checkout"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "rnn-course"\nversion = "0.1.0"\n'
                                         '[project.optional-dependencies]\ninstructor = ["nbgrader"]\n')
    (root / "rnn_course").symlink_to(PACKAGE, target_is_directory=True)
    return root


def build(tmp_path, project, **kw):
    return gradescope.build_autograder_zip(
        "90", tmp_path / "autograder.zip", solutions_dir=B.SOLUTIONS, project_root=project,
        cell_timeout=5, total_timeout=60, memory_limit_mb=1500, check_modules=("coursechecks",), **kw)


def fake_autograder(tmp_path, zip_path) -> Path:
    """Lays the zip out the way Gradescope does: /autograder/source, run_autograder, submission, results."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    return root


def run_autograder(root: Path, tmp_path) -> tuple[subprocess.CompletedProcess, dict]:
    """`run_autograder` in the fake tree `root`, with the fixture checks; its process and its valid results.json."""
    env = {**os.environ, **B.install_checks(tmp_path / "checks"),
           gradescope.ROOT_ENV: str(root), gradescope.PYTHON_ENV: sys.executable}
    proc = subprocess.run(["bash", str(root / "run_autograder")], env=env, cwd=root, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    return proc, data


def test_zip_has_what_gradescope_needs(tmp_path, project):
    path = build(tmp_path, project)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        modes = {i.filename: (i.external_attr >> 16) & 0o777 for i in zf.infolist()}
        config = json.loads(zf.read("autograder.json"))
        setup = zf.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "autograder.json", "solutions/90_fixture_sums.ipynb",
            "package/pyproject.toml", "package/rnn_course/grading/gradescope.py",
            "package/rnn_course/grading/sandbox.py"} <= names
    assert modes["setup.sh"] & stat.S_IXUSR and modes["run_autograder"] & stat.S_IXUSR
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert config["notebook"] == "90_fixture_sums.ipynb" and config["total_timeout"] == 60
    assert config["run_all"] is False  # the instructor's experiments that no test needs are skipped
    assert '"$SRC/package[instructor]"' in setup and "useradd" in setup


def test_run_autograder_grades_the_submission_and_ignores_forged_results(tmp_path, project):
    root = fake_autograder(tmp_path, build(tmp_path, project))
    results = root / "results" / "results.json"
    forge = f"open({str(results)!r}, 'w').write('{{\"score\": 100}}')\n"
    nb = B.submission({**B.RIGHT, "q2_mean": forge + B.WRONG["q2_mean"]})
    B.write(nb, root / "submission" / "90_fixture_sums (2).ipynb")
    proc, data = run_autograder(root, tmp_path)
    assert data["score"] == 7
    assert [(t["name"], t["score"], t["visibility"]) for t in data["tests"]] == [
        ("q1_add_tests (hidden tests)", 2, "after_published"), ("q2_mean_tests", 0, "visible"),
        ("q3_norm_tests (hidden tests)", 5, "after_published")]
    assert "hint: mean" in data["tests"][1]["output"]
    assert "7 / 10" in proc.stdout  # the summary instructors see in Gradescope's stdout box


def test_results_list_every_failing_cell_outside_the_tests_and_run_all_reaches_the_zip(tmp_path, project):
    """A cell that raised is named where the student finds it, with its error; the tests' own failures are not
    listed (they have their own entries)."""
    root = fake_autograder(tmp_path, build(tmp_path, project, run_all=True))
    assert json.loads((root / "source" / "autograder.json").read_text())["run_all"] is True
    nb = B.submission({**B.RIGHT, "q3_norm": "raise ValueError('not done yet')"})
    nb.cells.insert(len(nb.cells), nbformat.v4.new_code_cell("# my own experiment\nratio = 1 / 0"))
    # A message, or an exception class named at run time, is text the submission chooses: never shown.
    nb.cells.insert(len(nb.cells), nbformat.v4.new_code_cell(
        "raise type('Leak_' + 'q3_secret', (Exception,), {})('the message: q3_secret')"))
    B.write(nb, root / "submission" / "90_fixture_sums.ipynb")
    proc, data = run_autograder(root, tmp_path)
    assert data["score"] == 5  # q3 fails: its answer raised
    assert data["extra_data"]["cell_errors"] == [  # for instructors, in full
        "answer cell q3_norm: ValueError: not done yet",
        "the cell after q3_norm_tests that starts 'ratio = 1 / 0': ZeroDivisionError: division by zero",
        "the cell after q3_norm_tests that starts \"raise type('Leak_' + 'q3_secret', (Exception,),...\": "
        "Leak_q3_secret: the message: q3_secret"]
    shown = data["output"]  # for students: where, and a built-in exception's name only
    assert "  answer cell q3_norm: ValueError\n" in shown and "ZeroDivisionError\n" in shown
    assert ": an exception" in shown and "not done yet" not in shown and "Leak_q3" not in shown.replace(
        "raise type('Leak_' + 'q3_secret'", ""), shown
    assert "cell error: answer cell q3_norm: ValueError: not done yet" in proc.stdout


def test_run_autograder_without_a_notebook_gives_zero_and_says_why(tmp_path, project):
    root = fake_autograder(tmp_path, build(tmp_path, project))
    (root / "submission" / "answers.py").write_text("print('hi')\n")
    assert gradescope.run_autograder(root) == 0
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert data["score"] == 0 and "no .ipynb file in the submission (got answers.py)" in data["output"]


def test_run_autograder_reports_a_broken_setup_in_results_json(tmp_path):
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "source" / "autograder.json").write_text("{}")
    assert gradescope.run_autograder(root) == 1
    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert data["score"] == 0 and "The autograder failed" in data["output"]


def test_resolve_notebook_by_number_or_name(tmp_path):
    for name in ("01_ngram.ipynb", "02_rnn_language_models.ipynb", "12_extra.ipynb"):
        B.write(B.load(), tmp_path / name)
    assert gradescope.resolve_notebook(2, tmp_path).name == "02_rnn_language_models.ipynb"
    assert gradescope.resolve_notebook("02", tmp_path).name == "02_rnn_language_models.ipynb"
    assert gradescope.resolve_notebook("12", tmp_path).name == "12_extra.ipynb"
    assert gradescope.resolve_notebook("01_ngram.ipynb", tmp_path).name == "01_ngram.ipynb"
    with pytest.raises(GradingError, match="no notebook '7'"):
        gradescope.resolve_notebook(7, tmp_path)


def test_build_needs_a_source_checkout(tmp_path):
    with pytest.raises(GradingError, match="has no pyproject.toml"):
        gradescope.build_autograder_zip("90", tmp_path / "a.zip", solutions_dir=B.SOLUTIONS, project_root=tmp_path)


def test_cli_gradescope_zip(tmp_path, project, capsys, monkeypatch):
    monkeypatch.setattr(gradescope, "build_autograder_zip",
                        lambda *a, **k: (tmp_path / "x.zip").write_text("zip") and tmp_path / "x.zip")
    assert grading_main(["gradescope-zip", "90", "--solutions", str(B.SOLUTIONS), "-o", str(tmp_path / "x.zip")]) == 0
    assert "wrote" in capsys.readouterr().out
    monkeypatch.undo()
    assert grading_main(["gradescope-zip", "77", "--solutions", str(B.SOLUTIONS)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnn-course gradescope-zip: error: no notebook '77'") and err.count("\n") == 1
