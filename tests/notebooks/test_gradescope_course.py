"""The Gradescope autograder for a real course notebook, end to end: `gradescope-zip 01` from this
checkout, unpacked into a fake /autograder tree, `run_autograder` on a submission with one wrong
answer, saved under the name Colab gives a downloaded copy."""

import json
import os
import subprocess
import sys

import jsonschema
import nbformat

from rnn_course.grading import gradescope
from rnn_course.grading import RESULTS_SCHEMA

from course_submissions import ROOT, wrong_submission
from test_gradescope import fake_autograder

NAME = "01_ngram_language_models"


def test_run_autograder_grades_a_real_notebook(tmp_path):
    zip_path = gradescope.build_autograder_zip("01", tmp_path / "autograder.zip", project_root=ROOT)
    root = fake_autograder(tmp_path, zip_path)
    nb, wrong_id = wrong_submission(NAME)
    nbformat.write(nb, str(root / "submission" / f"Copy of {NAME}.ipynb"))
    env = {**os.environ, gradescope.ROOT_ENV: str(root), gradescope.PYTHON_ENV: sys.executable}
    proc = subprocess.run(["bash", str(root / "run_autograder")], env=env, cwd=root, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    data = json.loads((root / "results" / "results.json").read_text())
    jsonschema.validate(data, RESULTS_SCHEMA)
    assert (data["score"], data["extra_data"]["max_score"]) == (10, 11)
    by_id = {t["extra_data"]["grade_id"]: t for t in data["tests"]}
    assert len(by_id) == 6 and all(t["visibility"] == "after_published" for t in by_id.values())
    assert [gid for gid, t in by_id.items() if t["status"] == "failed"] == [f"{wrong_id}_tests"]
    # What the student sees before grades are published: the visible checks, never the total.
    shown = data["output"]
    assert f"FAILED  {wrong_id}_tests: CheckFailed" in shown and "base 10" in shown
    assert shown.count("  passed  ") == 5 and "10 / 11" not in shown
    assert "10 / 11" in proc.stdout  # the summary instructors see in Gradescope's stdout box
