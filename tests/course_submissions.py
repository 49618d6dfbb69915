"""Submissions of the real course notebooks, for the grading tests: right, untouched, or with one
plausible mistake, optionally tampered with.

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
    "03_vanishing_exploding_gradients": (
        "q3_3_clip_by_global_norm",
        "def clip_by_global_norm(grads, threshold):  # each tensor by its own norm: wrong, the rule is global\n"
        "    grads = [ops.convert_to_tensor(g) for g in grads]\n"
        "    norm = float(ops.sqrt(sum(ops.sum(ops.square(g)) for g in grads)))\n"
        "    return [g * threshold / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), threshold) for g in grads], norm\n"),
    "04_lstm_and_gru": (
        "q4_3_state_gradient_norms",
        "def state_gradient_norms(cell, inputs):  # h through notebook 03's helper, c left at 0: wrong\n"
        "    h_norms = gradients.hidden_state_gradient_norms(cell, inputs)\n"
        "    n_states = len(cell.get_initial_state(batch_size=1))\n"
        "    return np.stack([h_norms] + [np.zeros_like(h_norms)] * (n_states - 1))\n"),
    "05_stacked_and_bidirectional": (
        "q5_3_masked_pooling",
        "def masked_mean(states, mask=None):  # divided by the padded length T: wrong, short sentences shrink\n"
        "    states = ops.convert_to_tensor(states)\n"
        "    m = 1.0 if mask is None else ops.expand_dims(ops.cast(mask, states.dtype), -1)\n"
        "    return ops.sum(states * m, axis=1) / ops.shape(states)[1]\n\n\n"
        "def masked_max(states, mask=None):\n"
        "    states = ops.convert_to_tensor(states)\n"
        "    if mask is None:\n"
        "        return ops.max(states, axis=1)\n"
        "    return ops.max(ops.where(ops.expand_dims(ops.cast(mask, 'bool'), -1), states, float('-inf')), axis=1)\n"),
    "06_language_model_showdown": (
        "q6_3_time_to_target",
        "def time_to_target(seconds, valid_perplexity, target):  # an equal perplexity beats the n-gram: wrong\n"
        "    for s, p in zip(seconds, valid_perplexity):\n"
        "        if p <= target:\n"
        "            return float(s)\n"
        "    return math.inf\n"),
}

#: Added right after the setup cell of a tampered submission: every public check becomes a
#: no-op that claims success.
TAMPER = '''import importlib, pkgutil
import rnn_course.checks
for _info in pkgutil.iter_modules(rnn_course.checks.__path__):
    _module = importlib.import_module(f"rnn_course.checks.{_info.name}")
    for _name in dir(_module):
        if _name.startswith("check_"):
            setattr(_module, _name, lambda *args, **kwargs: print("All tests passed"))
print("All tests passed")
'''


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


def expected_scores(name: str, wrong_id: str) -> dict[str, float]:
    """Every test cell's points in the source, and 0 for the tests of the wrong answer `wrong_id`."""
    source = nbformat.read(str(ROOT / "solutions" / f"{name}.ipynb"), 4)
    points = {c.metadata["nbgrader"]["grade_id"]: float(c.metadata["nbgrader"]["points"]) for c in source.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    return {gid: (0.0 if gid == f"{wrong_id}_tests" else p) for gid, p in points.items()}


def tamper(nb):
    """Tampers with a submission in every way a student might try, in place, and returns it.

    A cell right after the setup cell replaces every `check_*` of every `rnn_course.checks`
    module with a no-op that prints "All tests passed"; every test cell but the first is
    edited to print the same; the first test cell is deleted.
    """
    nb.cells.insert(1, nbformat.v4.new_code_cell(TAMPER))
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    for cell in tests[1:]:
        cell.source = "print('All tests passed')"
    nb.cells.remove(tests[0])
    return nb
