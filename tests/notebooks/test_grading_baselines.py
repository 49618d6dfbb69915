"""The real course notebooks through the grader: the solution earns full marks, the untouched
student version earns 0, and a tampered student version earns 0 too: its test cells are
restored and the checks it patched are loaded afresh (the grader's adversarial cases are
tested one by one on small fixtures in tests/test_grading.py)."""

import nbformat
import pytest

from rnn_course.grading import grade_notebook

from course_submissions import GRADED as GRADED_NAMES, ROOT

GRADED = [ROOT / "solutions" / f"{name}.ipynb" for name in GRADED_NAMES]

#: Added right after the setup cell: every public check becomes a no-op that claims success.
TAMPER = '''import importlib, pkgutil
import rnn_course.checks
for _info in pkgutil.iter_modules(rnn_course.checks.__path__):
    _module = importlib.import_module(f"rnn_course.checks.{_info.name}")
    for _name in dir(_module):
        if _name.startswith("check_"):
            setattr(_module, _name, lambda *args, **kwargs: print("All tests passed"))
print("All tests passed")
'''


@pytest.mark.parametrize("source", GRADED, ids=[p.stem for p in GRADED])
def test_solution_gets_full_marks_and_untouched_student_version_zero(source, tmp_path):
    solution = grade_notebook(source, source)
    assert solution.max_score > 0
    assert solution.score == solution.max_score, solution.summary()
    assert all(t.public_passed for t in solution.tests)

    student = tmp_path / source.name
    student.write_text((ROOT / "notebooks" / source.name).read_text())
    untouched = grade_notebook(student, source)
    assert untouched.max_score == solution.max_score
    assert untouched.score == 0, untouched.summary()
    assert not any(t.public_passed for t in untouched.tests)


@pytest.mark.parametrize("source", GRADED, ids=[p.stem for p in GRADED])
def test_patched_checks_and_edited_or_deleted_test_cells_earn_nothing(source, tmp_path):
    nb = nbformat.read(str(ROOT / "notebooks" / source.name), 4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(TAMPER))
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    for cell in tests[1:]:
        cell.source = "print('All tests passed')"
    nb.cells.remove(tests[0])
    student = tmp_path / source.name
    nbformat.write(nb, str(student))

    result = grade_notebook(student, source)
    assert result.score == 0, result.summary()
    # The visible checks in the restored test cells are the real ones, freshly loaded: they fail.
    assert not any(t.public_passed for t in result.tests), result.summary()
    assert all("NotImplementedError" in t.public_output for t in result.tests), result.summary()
    assert any("restored" in n for n in result.notes) and any("setattr() on _module" in f for f in result.flags)
