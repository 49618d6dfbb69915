"""Notebook 06's graded exercises: plausible mistakes fail, valid alternatives pass.

The answers and the hidden tests are read from `solutions/06_language_model_showdown.ipynb`, so
these tests exercise exactly what students get graded on. Each wrong variant is the solution's
answer cell with one plausible mistake written in (a text edit that must apply, so a variant
cannot silently turn into the solution). Every variant must be rejected three times:

* by the public check, with a `CheckFailed` whose hint names the mistake and its code,
* by the whole test cell, public call and hidden tests (any exception fails the cell in nbgrader),
* by the hidden tests alone.

These exercises build no RNN, so every test runs on every backend.

The solution is not run again here: see `gradecells.AnswerCells.passes`.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from gradecells import AnswerCells
from rnn_course.checks import CheckFailed
from rnn_course.checks import showdown as checks

NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "06_language_model_showdown.ipynb"
# The names the notebook's import cell gives the answer cells.
PRELUDE = "import math\nimport keras\nimport numpy as np\nfrom keras import ops\n"
ANSWERS = ("q6_1_lm_stream", "q6_2_tied_output", "q6_3_time_to_target")
ANSWER_CELLS = AnswerCells(NOTEBOOK.name, ANSWERS, PRELUDE)
answers, mutate = ANSWER_CELLS.run, ANSWER_CELLS.mutate


def run_check(grade_id: str, namespace: dict) -> None:
    {"q6_1_lm_stream": lambda ns: checks.check_lm_stream(ns["lm_stream"]),
     "q6_2_tied_output": lambda ns: checks.check_tied_output(ns["TiedOutput"]),
     "q6_3_time_to_target": lambda ns: checks.check_time_to_target(ns["time_to_target"]),
     }[grade_id](namespace)


LOOP = ("    for s, p in zip(seconds, valid_perplexity):\n        if p < target:\n            return float(s)\n"
        "    return math.inf\n")
BIAS = 'self.bias = self.add_weight(shape=(self.embedding.input_dim,), initializer="zeros", name="bias")'
LOGITS = "return ops.matmul(h, ops.transpose(self.embedding.embeddings)) + self.bias"
# --------------------------------------------------------------------------- the wrong variants
# grade_id -> name -> ([(old, new), ...], a regex the hint must match, the mistake code)
MUTANTS = {
    "q6_1_lm_stream": {
        "no </s> before the first line": (
            [("ids = [vocab.eos_id]", "ids = []")], "never a target", "first-token-not-predicted"),
        "<s> before the first line": (
            [("ids = [vocab.eos_id]", "ids = [vocab.bos_id]")], r"starts with <s>", "bos-instead-of-eos"),
        "no </s> after each line": (
            [("        ids.append(vocab.eos_id)\n", "")], r"line's </s> is missing", "eos-missing"),
        "empty lines skipped": (
            [("    for sentence in sentences:\n", "    for sentence in [s for s in sentences if len(s)]:\n")],
            "empty line is gone", "empty-line-dropped"),
        "float ids": (
            [('return np.array(ids, dtype="int32")', 'return np.array(ids, dtype="float64")')],
            "expected integer ids", "ids-not-integers"),
        "one array per line": (
            [("    ids = [vocab.eos_id]\n    for sentence in sentences:\n        ids.extend(vocab.encode(sentence).tolist())\n"
              "        ids.append(vocab.eos_id)\n    return np.array(ids, dtype=\"int32\")\n",
              "    return [np.append(vocab.encode(s), vocab.eos_id) for s in sentences]\n")],
            "separate sequences", "stream-not-flat"),
        "unknown words dropped": (
            [("ids.extend(vocab.encode(sentence).tolist())",
              "ids.extend(vocab.token_to_id(t) for t in sentence if t in vocab)")],
            "unknown word 'dog' was dropped", "unknown-word-dropped"),
    },
    "q6_2_tied_output": {
        "an output matrix of its own": (
            [(BIAS, "self.kernel = self.add_weight(shape=(self.embedding.output_dim, self.embedding.input_dim), "
                    "name=\"kernel\")\n        " + BIAS),
             (LOGITS, "return ops.matmul(h, self.kernel) + self.bias")],
            "not tied", "not-tied"),
        "a copy of E taken when built": (
            [(BIAS, BIAS + "\n        self.E = ops.convert_to_numpy(self.embedding.embeddings).copy()"),
             (LOGITS, "return ops.matmul(h, ops.transpose(self.E)) + self.bias")],
            "holds a copy", "copied-not-tied"),
        "E not transposed": (
            [(LOGITS, "return ops.matmul(h, self.embedding.embeddings) + self.bias")],
            r"computed h E, not h Eᵀ", "E-not-transposed"),
        "no bias": (
            [(LOGITS, "return ops.matmul(h, ops.transpose(self.embedding.embeddings))")],
            "bias is not added", "bias-not-added"),
        "bias not zero-initialised": (
            [('initializer="zeros"', 'initializer="ones"')], "Expected zeros", "bias-not-zero"),
        "NumPy inside call": (
            [(LOGITS, "return ops.matmul(h, ops.transpose(ops.convert_to_numpy(self.embedding.embeddings))) + self.bias")],
            "use keras.ops only", "not-traceable"),
        "softmax applied": (
            [(LOGITS, "return ops.softmax(ops.matmul(h, ops.transpose(self.embedding.embeddings)) + self.bias)")],
            "probabilities", "softmax-applied"),
    },
    "q6_3_time_to_target": {
        "an equal perplexity counts": (
            [("if p < target:", "if p <= target:")], "does not beat it", "not-strictly-below"),
        "the index, not the seconds": (
            [(LOOP, "    for i, p in enumerate(valid_perplexity):\n        if p < target:\n            return float(i)\n"
                    "    return math.inf\n")],
            "index of the evaluation", "index-not-seconds"),
        "None when never": (
            [("    return math.inf\n", "    return None\n")], r"math\.inf", "never-not-inf"),
        "the last crossing": (
            [(LOOP, "    below = [float(s) for s, p in zip(seconds, valid_perplexity) if p < target]\n"
                    "    return below[-1] if below else math.inf\n")],
            "last evaluation", "last-not-first"),
        "seconds rounded": (
            [("return float(s)", "return float(int(s))")], "rounded", "seconds-rounded"),
        "the untrained evaluation skipped": (
            [("zip(seconds, valid_perplexity)", "zip(seconds[1:], valid_perplexity[1:])")],
            "before training", "first-evaluation-skipped"),
        "the best evaluation": (
            [(LOOP, "    best = int(np.argmin(valid_perplexity))\n"
                    "    return float(seconds[best]) if valid_perplexity[best] < target else math.inf\n")],
            "when the curve was best", "best-not-first"),
    },
}
CASES = [(gid, name) for gid, variants in MUTANTS.items() for name in variants]
#: On JAX the hidden tests' functional model builds even with NumPy inside `call` (seen with Keras 3.15); only the
#: public check's compiled training step fails. The hidden tests catch it on TensorFlow, the grader's backend.
SEEN_ONLY_WHEN_TRAINED_ON_JAX = {("q6_2_tied_output", "NumPy inside call")}

# --------------------------------------------------------------------------- valid alternatives
# Correct answers written differently from the solution: the check and the hidden tests must accept them.
ALTERNATIVES = {
    "q6_1_lm_stream": {
        "one concatenation of per-line arrays": [
            ("    ids = [vocab.eos_id]\n    for sentence in sentences:\n        ids.extend(vocab.encode(sentence).tolist())\n"
             "        ids.append(vocab.eos_id)\n    return np.array(ids, dtype=\"int32\")\n",
             "    eos = np.array([vocab.eos_id])\n"
             "    return np.concatenate([eos] + [np.append(vocab.encode(s), vocab.eos_id) for s in sentences])\n"),
        ],
    },
    "q6_2_tied_output": {
        "einsum, and the bias from the embedding's output size": [
            (LOGITS, "return ops.einsum('btd,vd->btv', h, self.embedding.embeddings) + self.bias"),
            ("shape=(self.embedding.input_dim,)", "shape=(self.embedding.embeddings.shape[0],)"),
        ],
    },
    "q6_3_time_to_target": {
        "numpy: the first index of a boolean mask": [
            (LOOP, "    below = np.flatnonzero(np.asarray(valid_perplexity) < target)\n"
                   "    return float(np.asarray(seconds)[below[0]]) if below.size else float('inf')\n"),
        ],
    },
}
ALTERNATIVE_CASES = [(gid, name) for gid, variants in ALTERNATIVES.items() for name in variants]


# --------------------------------------------------------------------------- the tests
def test_every_exercise_has_three_wrong_variants():
    assert set(MUTANTS) == set(ANSWERS)
    assert all(len(variants) >= 3 for variants in MUTANTS.values())


def test_every_exercise_has_a_valid_alternative():
    assert set(ALTERNATIVES) == set(ANSWERS)


@pytest.mark.parametrize("grade_id, name", ALTERNATIVE_CASES, ids=[f"{g}: {n}" for g, n in ALTERNATIVE_CASES])
def test_a_correct_answer_written_differently_passes(grade_id, name, capsys):
    ANSWER_CELLS.passes(grade_id, mutate(grade_id, ALTERNATIVES[grade_id][name]))
    out = capsys.readouterr()
    assert out.out.startswith("✓") and out.err == ""


@pytest.mark.parametrize("grade_id, name", CASES, ids=[f"{g}: {n}" for g, n in CASES])
def test_wrong_variant_is_rejected_by_check_test_cell_and_hidden_tests(grade_id, name, capsys):
    edits, hint, code = MUTANTS[grade_id][name]
    # See SEEN_ONLY_WHEN_TRAINED_ON_JAX for the one variant the hidden tests leave to the check on JAX.
    hidden = not ((grade_id, name) in SEEN_ONLY_WHEN_TRAINED_ON_JAX and keras.backend.backend() == "jax")
    ANSWER_CELLS.rejects(grade_id, mutate(grade_id, edits), run_check, hint, code, hidden=hidden)
    assert capsys.readouterr().err == ""  # nbgrader scores a test cell that writes stderr as 0


def test_the_untouched_student_notebook_fails_every_check_and_test_cell():
    ANSWER_CELLS.unanswered_fail(run_check)


def test_a_layer_without_build_or_call_gets_a_hint_not_a_raw_error():
    """A TiedOutput that forgot `call` (Keras raises inside `__call__`) is named, not a traceback."""
    namespace = answers(q6_2_tied_output="class TiedOutput(keras.layers.Layer):\n"
                                         "    def __init__(self, embedding, **kwargs):\n"
                                         "        super().__init__(**kwargs)\n"
                                         "        self.embedding = embedding\n")
    with pytest.raises(CheckFailed, match=r"no `call` of its own") as info:
        run_check("q6_2_tied_output", namespace)
    assert info.value.code == "call-missing", str(info.value)


@pytest.mark.parametrize("sentences, expected", [
    ([[]], [3, 3]),                              # the smallest valid input: one empty line, one event
    ([["z"] * 3], [3, 1, 1, 1, 3]),              # only unknown words
    (["", "ab"], [3, 3, 4, 5, 3]),               # character lines, the first empty
])
def test_lm_stream_edge_inputs(sentences, expected):
    from rnn_course.vocab import Vocabulary

    vocab = Vocabulary(list("ab"))
    ns = answers()
    assert ns["lm_stream"](sentences, vocab).tolist() == expected
    assert checks.lm_stream_reference(sentences, vocab).tolist() == expected


def test_time_to_target_edge_inputs():
    import math

    ns = answers()
    assert ns["time_to_target"]([], [], 10.0) == math.inf                       # no evaluation at all
    assert ns["time_to_target"]([0.0], [float("nan")], 10.0) == math.inf         # no validation text: NaN never beats
    assert ns["time_to_target"]([0.0, 7.5], [float("nan"), 9.0], 10.0) == 7.5


def test_a_tie_that_stops_the_gradient_is_caught_by_the_check():
    """Forward values equal to the solution's: only training shows that E gets no gradient from the output side
    (no hidden test: the short hidden tests do not train)."""
    wrong = mutate("q6_2_tied_output", [(LOGITS, "return ops.matmul(h, ops.transpose(ops.stop_gradient("
                                                 "self.embedding.embeddings))) + self.bias")])
    with pytest.raises(CheckFailed, match="did not move") as info:
        run_check("q6_2_tied_output", answers(q6_2_tied_output=wrong))
    assert info.value.code == "no-gradient-to-E", str(info.value)
