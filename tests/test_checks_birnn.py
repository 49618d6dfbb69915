"""Notebook 05's graded exercises: plausible mistakes fail, valid alternatives pass.

The answers and the hidden tests are read from `solutions/05_stacked_and_bidirectional.ipynb`, so
these tests exercise exactly what students get graded on. Each wrong variant is the solution's
answer cell with one plausible mistake written in (a text edit that must apply, so a variant
cannot silently turn into the solution). Every variant must be rejected three times:

* by the public check, with a `CheckFailed` whose hint names the mistake and its code,
* by the whole test cell, public call and hidden tests (any exception fails the cell in nbgrader),
* by the hidden tests alone.

The valid alternatives and the wrong variants (each builds and calls a few RNN layers, which JAX
compiles anew) run on TensorFlow only, to keep the suite's JAX run short; the JAX run of the
notebook proves the solution there. Left unproved by that choice: that each wrong variant gets the
same hint on JAX, where an error raised inside `keras.layers.RNN` has another class.

The solution is not run again here: see `gradecells.AnswerCells.passes`.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from gradecells import AnswerCells
from rnn_course.checks import birnn as checks

NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "05_stacked_and_bidirectional.ipynb"
# The names the notebook's import cell gives the answer cells.
PRELUDE = "import keras\nimport numpy as np\nfrom keras import ops\n"
ANSWERS = ("q5_1_birnn", "q5_2_stacked_rnn", "q5_3_masked_pooling")
ANSWER_CELLS = AnswerCells(NOTEBOOK.name, ANSWERS, PRELUDE)
mutate = ANSWER_CELLS.mutate
TF_ONLY = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                             reason="the wrong variants run on TensorFlow only (JAX compiles every RNN anew)")


def run_check(grade_id: str, namespace: dict) -> None:
    {"q5_1_birnn": lambda ns: checks.check_birnn(ns["BiRNN"]),
     "q5_2_stacked_rnn": lambda ns: checks.check_stacked_rnn(ns["StackedRNN"]),
     "q5_3_masked_pooling": lambda ns: checks.check_masked_pooling(ns["masked_mean"], ns["masked_max"]),
     }[grade_id](namespace)


# --------------------------------------------------------------------------- the wrong variants
# grade_id -> name -> ([(old, new), ...], a regex the hint must match, the mistake code)
MUTANTS = {
    "q5_1_birnn": {
        "backward outputs not flipped back": (
            [("y_backward = ops.flip(y_backward, axis=1)", "y_backward = y_backward")],
            "reversed time order", "backward-not-re-reversed"),
        "backward outputs flipped on the feature axis": (  # hidden by one unit: the hidden test has two
            [("y_backward = ops.flip(y_backward, axis=1)", "y_backward = ops.flip(y_backward, axis=-1)")],
            "the backward half does not", "backward-half-wrong"),
        "mask not given to the backward RNN": (
            [("self.backward_layer(inputs, mask=mask, training=training)",
              "self.backward_layer(inputs, training=training)")],
            "starts in the padding", "backward-mask-ignored"),
        "the two directions share one cell": (
            [("backward_cell = cell.__class__.from_config(cell.get_config())", "backward_cell = cell")],
            "share weights", "shared-weights"),
        "backward RNN without go_backwards": (
            [("return_state=True, go_backwards=True)", "return_state=True)")],
            "reads the sequence forwards", "backward-not-reversed"),
        "halves concatenated backward first": (
            [("ops.concatenate([y_forward, y_backward], axis=-1)", "ops.concatenate([y_backward, y_forward], axis=-1)")],
            "wrong order", "concat-order"),
        "backward cell made from the units alone, without the cell's settings": (
            [("backward_cell = cell.__class__.from_config(cell.get_config())", "backward_cell = cell.__class__(cell.units)")],
            "not configured as the forward one", "backward-cell-config"),
        "final states returned as two nested lists": (
            [("[output, *forward[1:], *backward[1:]]", "[output, forward[1:], backward[1:]]")],
            "returned 3 tensor", "return-state-wrong"),
        "only the first state of each direction": (  # hidden by one-state cells: the hidden test has an LSTM too
            [("[output, *forward[1:], *backward[1:]]", "[output, forward[1], backward[1]]")],
            "returned 3 tensor", "return-state-wrong"),
        "final states interleaved, h_f, h_b, c_f, c_b": (
            [("[output, *forward[1:], *backward[1:]]",
              "[output, *[s for pair in zip(forward[1:], backward[1:]) for s in pair]]")],
            "final states", "final-states-wrong"),
        "a list [output] without return_state": (
            [("        return output\n", "        return [output]\n")],
            "returned a list", "list-without-return-state"),
        "inputs multiplied by the mask, no mask given to the RNNs": (  # hidden by zero biases: the test has some
            [("forward = self.forward_layer(inputs, mask=mask, training=training)",
              "inputs = inputs if mask is None else inputs * ops.cast(mask, inputs.dtype)[..., None]\n"
              "        forward = self.forward_layer(inputs, training=training)"),
             ("self.backward_layer(inputs, mask=mask, training=training)", "self.backward_layer(inputs, training=training)")],
            "the backward half does not", "backward-half-wrong"),
        "backward states before forward states": (
            [("[output, *forward[1:], *backward[1:]]", "[output, *backward[1:], *forward[1:]]")],
            "final states", "final-states-wrong"),
    },
    "q5_2_stacked_rnn": {
        "residual skipped": (
            [("out = out + (h if projection is None else projection(h))", "out = out")],
            "residuals are missing", "residual-skipped"),
        "no projection where the sizes differ": (
            [("if self.residual and out_shape[-1] != shape[-1]:", "if False:"),
             ("out = out + (h if projection is None else projection(h))",
              "out = out + h if out.shape[-1] == h.shape[-1] else out")],
            "cannot be added to its output", "projection-missing"),
        "projection with a bias": (
            [("keras.layers.Dense(out_shape[-1], use_bias=False)", "keras.layers.Dense(out_shape[-1])")],
            "use_bias=True", "projection-not-linear"),
        "residual adds the layer's output to itself": (  # hidden by a layer that copies its input
            [("out = out + (h if projection is None else projection(h))",
              "out = out + (out if projection is None else projection(h))")],
            "run each layer on the previous layer's output", "stack-differs"),
        "projection with a ReLU": (  # hidden by values that are all positive
            [("keras.layers.Dense(out_shape[-1], use_bias=False)",
              'keras.layers.Dense(out_shape[-1], use_bias=False, activation="relu")')],
            "expected a linear projection", "projection-not-linear"),
        "mask cast to bool even when it is None": (
            [("out = layer(h, mask=mask, training=training)", "out = layer(h, mask=ops.cast(mask, 'bool'), training=training)")],
            r"mask=None raised ValueError", "raised-ValueError"),
        "inputs multiplied by the mask, no mask given to the layers": (  # hidden by zero biases
            [("out = layer(h, mask=mask, training=training)",
              "out = layer(h if mask is None else h * ops.cast(mask, h.dtype)[..., None], training=training)")],
            "run each layer on the previous layer's output", "stack-differs"),
        "mask given to the first layer only": (  # right without residuals (Keras carries the mask on), not with them
            [("        for layer, projection in zip(self.rnn_layers, self.projections):\n"
              "            out = layer(h, mask=mask, training=training)",
              "        for i, (layer, projection) in enumerate(zip(self.rnn_layers, self.projections)):\n"
              "            out = layer(h, mask=mask if i == 0 else None, training=training)")],
            "run each layer on the previous layer's output", "stack-differs"),
        "mask not passed to the layers": (
            [("out = layer(h, mask=mask, training=training)", "out = layer(h, training=training)")],
            "mask is not passed on", "mask-not-passed"),
    },
    "q5_3_masked_pooling": {
        "mean divided by the padded length": (
            [("ops.sum(states * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)",
              "ops.sum(states * m, axis=1) / ops.shape(states)[1]")],
            "padded length", "mean-padded-length"),
        "padding in the mean's sum": (
            [("ops.sum(states * m, axis=1) / ops.maximum", "ops.sum(states, axis=1) / ops.maximum")],
            "padded steps are in the sum", "mean-padding-summed"),
        "max over states times the mask": (
            [('ops.max(ops.where(m, states, float("-inf")), axis=1)', "ops.max(states * ops.cast(m, states.dtype), axis=1)")],
            "0 beats a negative", "max-picks-padding-zero"),
        "max fills the padding with -1 (tanh's lower bound)": (
            [('ops.max(ops.where(m, states, float("-inf")), axis=1)', "ops.max(ops.where(m, states, -1.0), axis=1)")],
            "replaced by -1", "max-padding-fill-too-high"),
        "max fills the padding with -100": (
            [('ops.max(ops.where(m, states, float("-inf")), axis=1)', "ops.max(ops.where(m, states, -100.0), axis=1)")],
            "replaced by -100", "max-padding-fill-too-high"),
        "mean over the batch and the steps when mask is None": (
            [("return ops.mean(states, axis=1)", "return ops.mean(states, axis=(0, 1))")],
            r"expected shape \(2, 3\)", "wrong-shape"),
        "max ignores the mask": (
            [('ops.max(ops.where(m, states, float("-inf")), axis=1)', "ops.max(states, axis=1)")],
            "mask is ignored", "max-mask-ignored"),
    },
}
CASES = [(gid, name) for gid, variants in MUTANTS.items() for name in variants]

# --------------------------------------------------------------------------- valid alternatives
# Correct answers written differently from the solution: the check and the hidden tests must accept them.
STACK_BUILD = """        self.projections = []
        for layer in self.rnn_layers:
            out_shape = tuple(layer.compute_output_shape(shape))
            projection = None
            if self.residual and out_shape[-1] != shape[-1]:
                projection = keras.layers.Dense(out_shape[-1], use_bias=False)  # linear: no bias, no activation
                projection.build(shape)
            self.projections.append(projection)
            shape = out_shape
"""
STACK_CALL = """        h = inputs
        for layer, projection in zip(self.rnn_layers, self.projections):
            out = layer(h, mask=mask, training=training)               # (batch, T, size_i)
            if self.residual:
                out = out + (h if projection is None else projection(h))
            h = out
        return h
"""
ALTERNATIVES = {
    "q5_1_birnn": {
        "cloned by serialisation, flipped by slicing, concatenated on the last axis by number": [
            ("backward_cell = cell.__class__.from_config(cell.get_config())",
             "backward_cell = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cell))"),
            ("y_backward = ops.flip(y_backward, axis=1)", "y_backward = y_backward[:, ::-1, :]"),
            ("ops.concatenate([y_forward, y_backward], axis=-1)", "ops.concatenate((y_forward, y_backward), axis=y_forward.ndim - 1)"),
            ("return [output, *forward[1:], *backward[1:]]", "return [output] + list(forward[1:]) + list(backward[1:])"),
        ],
    },
    "q5_2_stacked_rnn": {
        "sizes first, projections by comprehension, indexed loop": [
            (STACK_BUILD, """        sizes = [shape[-1]]
        for layer in self.rnn_layers:
            shape = tuple(layer.compute_output_shape(shape))
            sizes.append(shape[-1])
        self.projections = [keras.layers.Dense(d_out, use_bias=False) if self.residual and d_in != d_out else None
                            for d_in, d_out in zip(sizes[:-1], sizes[1:])]
        for projection, d_in in zip(self.projections, sizes):
            if projection is not None:
                projection.build((None, None, d_in))
"""),
            (STACK_CALL, """        h = inputs
        for i in range(len(self.rnn_layers)):
            y = self.rnn_layers[i](h, mask=mask, training=training)
            if self.residual and self.projections[i] is not None:
                y = y + self.projections[i](h)
            elif self.residual:
                y = y + h
            h = y
        return h
"""),
        ],
    },
    "q5_3_masked_pooling": {
        "sum with where over a count; max against a value below every state": [
            ("m = ops.expand_dims(ops.cast(mask, states.dtype), -1)              # (batch, T, 1)\n"
             "    return ops.sum(states * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)",
             "real = ops.cast(mask, \"bool\")[:, :, None]\n"
             "    total = ops.sum(ops.where(real, states, ops.zeros_like(states)), axis=1)\n"
             "    return total / ops.sum(ops.cast(real, states.dtype), axis=1)"),
            ('return ops.max(ops.where(m, states, float("-inf")), axis=1)',
             "return ops.max(ops.where(m, states, ops.min(states) - 1.0), axis=1)"),
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


@TF_ONLY
@pytest.mark.parametrize("grade_id, name", ALTERNATIVE_CASES, ids=[f"{g}: {n}" for g, n in ALTERNATIVE_CASES])
def test_a_correct_answer_written_differently_passes(grade_id, name, capsys):
    ANSWER_CELLS.passes(grade_id, mutate(grade_id, ALTERNATIVES[grade_id][name]))
    out = capsys.readouterr()
    assert out.out.startswith("✓") and out.err == ""


@TF_ONLY
@pytest.mark.parametrize("grade_id, name", CASES, ids=[f"{g}: {n}" for g, n in CASES])
def test_wrong_variant_is_rejected_by_check_test_cell_and_hidden_tests(grade_id, name, capsys):
    edits, hint, code = MUTANTS[grade_id][name]
    ANSWER_CELLS.rejects(grade_id, mutate(grade_id, edits), run_check, hint, code)
    assert capsys.readouterr().err == ""  # nbgrader scores a test cell that writes stderr as 0


def test_the_untouched_student_notebook_fails_every_check_and_test_cell():
    ANSWER_CELLS.unanswered_fail(run_check)
