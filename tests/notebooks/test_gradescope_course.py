"""Every graded course notebook through the whole Gradescope path, once: `gradescope-zip NN` from
this checkout, unpacked into a fake /autograder tree, and `run_autograder` on a submission saved
under the name Colab gives a downloaded copy.

The submission is the suite's hardest single case for the grader (tests/course_submissions.py):
every answer of the solution but one plausible mistake, plus tampering: every public check
patched to a no-op that claims success, every test cell but the first edited to print "All
tests passed", the first deleted. One run proves, for each notebook:

- the test cells are restored and run with freshly loaded checks: every right answer earns its
  points, the wrong one earns 0 and its visible check shows the real hint, and the patch is
  flagged for review;
- every other cell that runs (the experiments no test needs are skipped, as in every grade)
  works, the wrong answer's own cell included: `results.json` lists no cell error;
- the results.json follows Gradescope's spec and never shows the total while tests are hidden;
- with nbval (every test cell of the solution passes in a kernel, hidden tests included), the
  solution earns full marks; with tests/notebooks/test_student_notebooks.py (every test cell of
  the untouched student version fails at its visible check, which is the restored cell's first
  statement), the untouched version earns 0.

The real nbgrader scores the same wrong submission the same, cell by cell
(tests/notebooks/test_nbgrader_course.py). The grader's adversarial cases are tested one by one
on small fixtures in tests/test_grading*.py.
"""

import json
import os
import subprocess
import sys

import jsonschema
import nbformat
import pytest

from rnn_course.grading import RESULTS_SCHEMA, gradescope

from course_submissions import GRADED, ROOT, expected_scores, tamper, wrong_submission
from test_gradescope import fake_autograder


@pytest.mark.parametrize("name", GRADED)
def test_run_autograder_grades_a_tampered_wrong_submission(name, tmp_path):
    zip_path = gradescope.build_autograder_zip(name[:2], tmp_path / "autograder.zip", project_root=ROOT)
    root = fake_autograder(tmp_path, zip_path)
    nb, wrong_id = wrong_submission(name)
    nbformat.write(tamper(nb), str(root / "submission" / f"Copy of {name}.ipynb"))
    env = {**os.environ, gradescope.ROOT_ENV: str(root), gradescope.PYTHON_ENV: sys.executable}
    proc = subprocess.run(["bash", str(root / "run_autograder")], env=env, cwd=root, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    expected = expected_scores(name, wrong_id)
    by_id = {t["extra_data"]["grade_id"]: t for t in data["tests"]}
    assert {gid: t["score"] for gid, t in by_id.items()} == expected, data["output"]
    assert data["score"] == sum(expected.values()) and data["extra_data"]["max_score"] > data["score"]
    assert all(t["visibility"] == "after_published" for t in by_id.values())
    assert [gid for gid, t in by_id.items() if t["status"] == "failed"] == [f"{wrong_id}_tests"]
    assert any("setattr() on _module" in f for f in data["extra_data"]["flags"]), data["extra_data"]
    assert data["extra_data"]["cell_errors"] == [], data["extra_data"]["cell_errors"]  # every other cell that ran

    # What the student sees before grades are published: the real visible checks, never the total.
    shown = data["output"]
    total = f"{data['score']:g} / {data['extra_data']['max_score']:g}"
    assert f"FAILED  {wrong_id}_tests: CheckFailed" in shown, shown
    assert shown.count("  passed  ") == len(expected) - 1 and total not in shown
    assert total in proc.stdout  # the summary instructors see in Gradescope's stdout box
    if name == "01_ngram_language_models":
        assert "base 10" in shown
    if name == "02_rnn_language_models":
        assert "nats" in shown
