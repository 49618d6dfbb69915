"""Student-notebook generation (nbgrader's preprocessors) and its guard rails."""

import shutil
import subprocess
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from rnn_course import assignment
from rnn_course.errors import NotebookFormatError
from rnn_course.notebook import SETUP_CELL


def _meta(grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    return {"nbgrader": meta}


def make_source_nb():
    """A small instructor notebook: setup, one exercise, its tests with a hidden part."""
    setup = new_code_cell(SETUP_CELL, metadata=_meta("setup", locked=True))
    intro = new_markdown_cell("# Exercise\nWrite `double`.")
    answer = new_code_cell(
        "def double(x):\n    ### BEGIN SOLUTION\n    doubled_value_secret = 2 * x\n    return doubled_value_secret\n"
        "    ### END SOLUTION",
        metadata=_meta("q1_1_double", solution=True))
    tests = new_code_cell(
        "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6, 'hidden_check_secret'\n"
        "### END HIDDEN TESTS",
        metadata=_meta("q1_1_double_tests", grade=True, locked=True, points=2))
    return new_notebook(cells=[setup, intro, answer, tests],
                        metadata={"kernelspec": {"name": "python3", "language": "python",
                                                 "display_name": "Python 3"}})


def test_student_version_clears_solutions_and_hidden_tests():
    source = make_source_nb()
    student = assignment.generate_student_notebook(source)
    text = nbformat.writes(student)
    assert "doubled_value_secret" not in text and "hidden_check_secret" not in text
    assert "raise NotImplementedError()" in student.cells[2].source
    assert "assert double(2) == 4" in student.cells[3].source
    assert student.cells[3].metadata.nbgrader["checksum"]  # ComputeChecksums ran
    assert student.cells[0].metadata.nbgrader["locked"] and student.cells[3].metadata.nbgrader["locked"]
    assert "doubled_value_secret" in source.cells[2].source  # the source is untouched
    assert assignment.leaks(student, source) == []


def test_student_version_drops_the_instructors_run_timestamps():
    source = make_source_nb()
    source.cells[2].metadata["execution"] = {"iopub.execute_input": "2026-11-22T18:57:27.580853Z"}
    student = assignment.generate_student_notebook(source)
    assert all("execution" not in c.metadata for c in student.cells)
    assert "execution" in source.cells[2].metadata


def test_leak_detection_finds_markers_and_solution_lines():
    source = make_source_nb()
    student = assignment.generate_student_notebook(source)
    student.cells.append(new_code_cell("    doubled_value_secret = 2 * x"))
    student.cells.append(new_code_cell("### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"))
    found = assignment.leaks(student, source)
    assert any("solution/hidden-test text" in f for f in found)
    assert any("BEGIN HIDDEN TESTS" in f for f in found)


@pytest.mark.parametrize("breakage, match", [
    (lambda nb: nb.cells[3].metadata.nbgrader.update(grade_id="q1_1_double"), "Duplicate grade id"),
    (lambda nb: nb.cells[3].metadata.nbgrader.pop("points"), "does not have points"),
    (lambda nb: nb.cells[3].metadata.nbgrader.update(points=0), "Expected a positive number"),
    (lambda nb: nb.cells[3].metadata.nbgrader.update(schema_version=2), "Expected 3"),
    (lambda nb: nb.cells[3].metadata.nbgrader.update(grade_id="q1 tests"), "does not match"),
    (lambda nb: nb.cells[3].metadata.nbgrader.update(grade_id="Q1_Double_tests"), "lowercase"),
    (lambda nb: setattr(nb.cells[0], "source", "import os"), "locked setup cell"),
    (lambda nb: nb.cells.pop(3), "has no test cell"),
    (lambda nb: setattr(nb.cells[2], "source", nb.cells[2].source.replace("### END SOLUTION", "")),
     "in pairs"),
    (lambda nb: nb.cells[1].update(source="### BEGIN SOLUTION\nx\n### END SOLUTION"), "not a solution cell"),
])
def test_broken_metadata_gets_one_clear_error(breakage, match):
    nb = make_source_nb()
    assignment.validate_source(nb, "fixture.ipynb")
    breakage(nb)
    with pytest.raises(NotebookFormatError, match=match) as info:
        assignment.validate_source(nb, "fixture.ipynb")
    assert str(info.value).startswith("fixture.ipynb: ")


COPIED = ("00_setup.ipynb", "01_ngram_language_models.ipynb")


@pytest.fixture
def course_copy(tmp_path, repo_root):
    """A throwaway copy of the course with two of its notebooks (00 and the graded 01), to edit
    without touching the repo. Two are enough for every case here, and each `assign` in these
    tests then costs seconds instead of growing with every notebook the course adds."""
    for folder in ("solutions", "notebooks"):
        (tmp_path / folder).mkdir()
        for name in COPIED:
            shutil.copy(repo_root / folder / name, tmp_path / folder / name)
    shutil.copy(repo_root / "pyproject.toml", tmp_path)
    if (repo_root / "course.toml").exists():  # the setup cells and Colab links are written from it
        shutil.copy(repo_root / "course.toml", tmp_path)
    return tmp_path


def _assign(root, *args):
    return subprocess.run([sys.executable, "-m", "rnn_course.cli", "assign", "--root", str(root), *args],
                          capture_output=True, text=True, timeout=120)


def test_repository_notebooks_are_up_to_date(repo_root):
    report = assignment.assign(repo_root, check=True)
    assert report.ok, (report.stale, report.leaked, report.orphans)
    assert {p.name for p in (repo_root / "solutions").glob("*.ipynb")} == \
           {p.name for p in (repo_root / "notebooks").glob("*.ipynb")}


def test_editing_a_solution_without_regenerating_fails_the_check(course_copy):
    assert _assign(course_copy, "--check").returncode == 0
    path = course_copy / "solutions" / "00_setup.ipynb"
    nb = nbformat.read(str(path), 4)
    nb.cells[1].source += "\n\nOne more sentence from the instructor."
    nbformat.write(nb, str(path))
    run = _assign(course_copy, "--check")
    assert run.returncode == 1
    assert "STALE   notebooks/00_setup.ipynb" in run.stdout
    assert _assign(course_copy).returncode == 0  # regenerating fixes it
    assert _assign(course_copy, "--check").returncode == 0


def test_leaked_solution_and_orphans_fail_the_check(course_copy):
    source = make_source_nb()
    nbformat.write(source, str(course_copy / "solutions" / "99_fixture.ipynb"))
    assert _assign(course_copy).returncode == 0
    student_path = course_copy / "notebooks" / "99_fixture.ipynb"
    student = nbformat.read(str(student_path), 4)
    student.cells[2].source = source.cells[2].source  # paste the solution back in
    nbformat.write(student, str(student_path))
    (course_copy / "notebooks" / "98_stray.ipynb").write_text(student_path.read_text())
    run = _assign(course_copy, "--check")
    assert run.returncode == 1
    assert "LEAK    notebooks/99_fixture.ipynb" in run.stdout
    assert "ORPHAN  notebooks/98_stray.ipynb" in run.stdout


def test_broken_source_notebook_is_one_line_exit_2(course_copy):
    nb = make_source_nb()
    nb.cells[3].metadata.nbgrader["grade_id"] = "q1_1_double"
    nbformat.write(nb, str(course_copy / "solutions" / "99_fixture.ipynb"))
    run = _assign(course_copy)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "Duplicate grade id" in run.stderr
    assert "Traceback" not in run.stderr
    (course_copy / "solutions" / "99_fixture.ipynb").write_text("{not json")
    run = _assign(course_copy)
    assert run.returncode == 2 and "not a readable Jupyter notebook" in run.stderr


# ------------------------------------------------------------------ test cells end without a result
def _with_test_cell_ending(source_text):
    nb = make_source_nb()
    nb.cells[3].source = source_text
    return nb


@pytest.mark.parametrize("ending", [
    "np.float64(0.0)",                                 # nbgrader: full marks; ours: 0
    "0.0",
    "double(2) == 4",
    "double",
    "checks.helper(double)",                           # not a check_* function
    "checks.check_no_such_thing(double)",              # not a public check of the module
    "check_perplexity(double)",                        # not imported from rnn_course.checks
    "print('ok')",
])
def test_assign_refuses_a_test_cell_that_ends_with_a_bare_expression(ending):
    nb = _with_test_cell_ending(f"import numpy as np\nfrom rnn_course.checks import ngram_lm as checks\n"
                                f"assert double(2) == 4\n{ending}")
    with pytest.raises(NotebookFormatError, match="ends with the bare expression") as info:
        assignment.validate_source(nb, "fixture.ipynb")
    text = str(info.value)
    assert text.startswith("fixture.ipynb: test cell 'q1_1_double_tests' (cell 3)") and "\n" not in text
    assert "Expected a test cell that ends with a statement" in text


def test_assign_reads_the_students_copy_of_a_test_cell_too():
    nb = _with_test_cell_ending("assert double(2) == 4\ndouble(2) / 4\n### BEGIN HIDDEN TESTS\n"
                                "assert double(-3) == -6\n### END HIDDEN TESTS")
    with pytest.raises(NotebookFormatError, match=r"in the students' copy \(hidden tests removed\) ends with "
                                                  r"the bare expression `double\(2\) / 4`"):
        assignment.validate_source(nb, "fixture.ipynb")


@pytest.mark.parametrize("ending", [
    "from rnn_course.checks import ngram_lm as checks\nchecks.check_perplexity(double)",
    "import rnn_course.checks.ngram_lm\nrnn_course.checks.ngram_lm.check_perplexity(double)",
    "from rnn_course.checks.rnn_lm import check_generation\ncheck_generation(double, double)",
    "from rnn_course import checks\nchecks.rnn_lm.check_lm_windows(double)",
    "assert double(2) == 4",
    "_ = double(2)",
    "for _x in (1, 2):\n    _x",
])
def test_assign_accepts_statements_and_public_check_calls_last(ending):
    assignment.validate_source(_with_test_cell_ending(ending), "fixture.ipynb")


def test_public_checks_return_nothing_a_test_cell_could_display():
    """The rule above lets a test cell end with a check call because checks return None."""
    import ast
    from pathlib import Path

    import rnn_course.checks

    found = 0
    for path in Path(rnn_course.checks.__file__).parent.glob("*.py"):
        for fn in ast.parse(path.read_text(encoding="utf-8")).body:
            if not (isinstance(fn, ast.FunctionDef) and fn.name.startswith("check_")):
                continue
            found += 1
            todo = list(ast.iter_child_nodes(fn))
            while todo:
                node = todo.pop()
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                    continue
                if isinstance(node, ast.Return):
                    assert node.value is None or (isinstance(node.value, ast.Constant) and node.value.value is None), \
                        f"{path.name}:{node.lineno}: {fn.name} returns a value; a test cell ending with it would " \
                        "display it as partial credit"
                todo += list(ast.iter_child_nodes(node))
    assert found >= 13


# ------------------------------------------------------------------ course.toml: setup cells and Colab links
from rnn_course import notebook  # noqa: E402

_SHA = "0123456789abcdef0123456789abcdef01234567"
_REPO = "https://github.com/example-org/rnn-course"


def _configure(root, install="", repository=""):
    (root / "course.toml").write_text(f'[colab]\ninstall = "{install}"\nrepository = "{repository}"\n')


def _first_cells(path):
    nb = nbformat.read(str(path), 4)
    return nb.cells[0].source, nb.cells[1]


def test_assign_writes_course_toml_into_every_solution_student_notebook_and_readme(course_copy, repo_root):
    shutil.copy(repo_root / "README.md", course_copy)
    install = f"git+{_REPO}@{_SHA}"
    _configure(course_copy, install, _REPO)
    assert _assign(course_copy, "--check").returncode == 1
    run = _assign(course_copy)
    assert run.returncode == 0, run.stderr
    assert "wrote README.md" in run.stdout
    for name in (p.name for p in (course_copy / "solutions").glob("*.ipynb")):
        for folder in ("solutions", "notebooks"):
            setup, link = _first_cells(course_copy / folder / name)
            assert setup == notebook.setup_cell(install), (folder, name)
            assert link.cell_type == "markdown" and link.metadata["tags"] == ["colab-link"]
            url = f"https://colab.research.google.com/github/example-org/rnn-course/blob/main/notebooks/{name}"
            assert f"[Open in Colab]({url})" in link.source
            assert f"| [Open in Colab]({url}) |" in (course_copy / "README.md").read_text()
    check = _assign(course_copy, "--check")
    assert check.returncode == 0, check.stdout
    assert _assign(course_copy).stdout.count("wrote solutions/") == 0  # nothing left to change in solutions/

    _configure(course_copy, install)  # no repository any more: the links go, the setup cell stays
    assert _assign(course_copy).returncode == 0
    setup, after = _first_cells(course_copy / "notebooks" / "00_setup.ipynb")
    assert setup == notebook.setup_cell(install) and "colab-link" not in after.metadata.get("tags", [])
    assert "[Open in Colab]" not in (course_copy / "README.md").read_text()


def test_a_stale_setup_cell_fails_the_check_naming_the_fix(course_copy):
    _configure(course_copy, f"git+{_REPO}@{_SHA}")
    assert _assign(course_copy).returncode == 0
    _configure(course_copy, f"git+{_REPO}@{'f' * 40}")  # the instructor pins a newer commit
    run = _assign(course_copy, "--check")
    assert run.returncode == 1
    for name in (p.name for p in (course_copy / "solutions").glob("*.ipynb")):
        assert (f"STALE   solutions/{name}: its setup cell is not what course.toml gives. "
                "Fix: run `rnn-course assign`.") in run.stdout
    assert _assign(course_copy).returncode == 0
    assert _assign(course_copy, "--check").returncode == 0


def test_the_old_setup_cell_is_stale_and_assign_migrates_it(course_copy):
    """The cell from before course.toml installed a package named rnn-course from PyPI on Colab:
    `--check` fails on it, naming the fix, and `assign` replaces it."""
    _configure(course_copy)
    names = sorted(p.name for p in (course_copy / "solutions").glob("*.ipynb"))
    nb = nbformat.read(str(course_copy / "solutions" / names[1]), 4)
    nb.cells[0].source = notebook.LEGACY_SETUP_CELL
    nbformat.write(nb, str(course_copy / "solutions" / names[1]))
    (course_copy / "notebooks" / names[1]).write_text(nbformat.writes(assignment.generate_student_notebook(nb)) + "\n")
    run = _assign(course_copy, "--check")
    assert run.returncode == 1 and f"STALE   solutions/{names[1]}: its setup cell is not what" in run.stdout, run.stdout
    assert _assign(course_copy).returncode == 0  # assign migrates it
    assert _first_cells(course_copy / "solutions" / names[1])[0] == notebook.setup_cell("")
    assert _assign(course_copy, "--check").returncode == 0


def test_validate_source_accepts_any_rendering_and_refuses_an_edited_setup_cell():
    nb = make_source_nb()
    nb.cells[0].source = notebook.setup_cell(f"git+{_REPO}@{_SHA}")
    assignment.validate_source(nb, "fixture.ipynb")
    nb.cells[0].source = nb.cells[0].source.replace('"tensorflow")', '"jax")')
    with pytest.raises(NotebookFormatError, match="cell 0 must be the locked setup cell"):
        assignment.validate_source(nb, "fixture.ipynb")


def test_a_bad_course_toml_is_one_line_exit_2(course_copy):
    _configure(course_copy, "rnn-course")
    run = _assign(course_copy, "--check")
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert "must pin the course" in run.stderr and "Received: 'rnn-course'" in run.stderr


def test_readme_rows_written_without_the_colab_column_get_it():
    settings = notebook.ColabSettings(repository=_REPO)
    text = "x\n| nb | topic | status | Colab |\n|---|---|---|---|\n| 00 | setup | ready |\n| 01 | a | ready | – |\n\ny"
    out = assignment.sync_readme(text, settings, ["00_setup.ipynb"])
    assert "| 00 | setup | ready | [Open in Colab](https://colab.research.google.com/github/example-org/" \
           "rnn-course/blob/main/notebooks/00_setup.ipynb) |" in out
    assert "| 01 | a | ready | – |" in out and out.startswith("x\n") and out.endswith("\n\ny")
