"""Submissions of the real course notebooks, for the grading tests: right, untouched, or with one
plausible mistake.

A new graded notebook must add its mistake to WRONG (the tests that use it fail until it does).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
GRADED = [p.stem for p in sorted((ROOT / "solutions").glob("*.ipynb"))
          if any(c.metadata.get("nbgrader", {}).get("grade") for c in nbformat.read(str(p), 4).cells)]

#: One plausible mistake per notebook: (answer grade_id, wrong answer). Its test cell must score 0.
WRONG = {
    "01_ngram_language_models": (
        "q1_5_perplexity",
        "def perplexity(log_probs):\n    return float(10 ** (-np.mean(log_probs)))  # base 10: wrong\n"),
    "02_rnn_language_models": (
        "q2_5_perplexity",
        "def perplexity(targets, logits, mask=None):  # base 2: wrong, the loss is in nats\n"
        "    return float(ops.convert_to_numpy(ops.power(2.0, sequence_cross_entropy(targets, logits, mask))))\n"),
}


def wrong_submission(name: str, student_version: Path | None = None):
    """The student notebook with every answer of the solution filled in, except WRONG[name].

    Args:
        name: the notebook's stem, e.g. "01_ngram_language_models".
        student_version: the student notebook to fill in (default: notebooks/NAME.ipynb).

    Returns:
        `(notebook, wrong_grade_id)`.
    """
    assert name in WRONG, f"add a plausible mistake for {name} to WRONG in {Path(__file__).name}"
    wrong_id, wrong_source = WRONG[name]
    solution = nbformat.read(str(ROOT / "solutions" / f"{name}.ipynb"), 4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c.source for c in solution.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    nb = nbformat.read(str(student_version or ROOT / "notebooks" / f"{name}.ipynb"), 4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = wrong_source if gid == wrong_id else answers[gid]
    return nb, wrong_id
