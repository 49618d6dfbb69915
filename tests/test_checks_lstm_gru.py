"""Notebook 04's graded exercises: plausible mistakes fail, valid alternatives pass.

The answers and the hidden tests are read from `solutions/04_lstm_and_gru.ipynb`, so these tests
exercise exactly what students get graded on. Each wrong variant is the solution's answer cell
with one plausible mistake written in (a text edit that must apply, so a variant cannot silently
turn into the solution). Every variant must be rejected twice:

* by the public check, with a `CheckFailed` whose hint names the mistake, and
* by the whole test cell, public call and hidden tests (any exception fails the cell in nbgrader).

Every valid alternative (one fused matmul over the gate weights concatenated at call time, the
input and the state concatenated, Keras's z = 1 - u) must pass the whole test cell.

The wrong variants run on every Keras backend: an error raised inside `keras.layers.RNN` differs
from one backend to the next, and the hint must not. Of the valid alternatives, the fused one of
each cell (`ops.concatenate` and `ops.split`, which the solution never calls) runs on every backend
too; the other two (the input and the state concatenated; Keras's z = 1 - u) run on TensorFlow
only, for cost: they call no operation that the fused ones and the solution do not, and on JAX
each new cell costs the suite seconds of compiling.

The solution is not run again here: see `gradecells.AnswerCells.passes`.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pytest

from gradecells import AnswerCells, cell_source, exec_cell as _exec_cell
from rnn_course.checks import CheckFailed
from rnn_course.checks import lstm_gru as checks

NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "04_lstm_and_gru.ipynb"
# The names the notebook's import cell gives the answer cells.
PRELUDE = "import keras\nimport numpy as np\nfrom keras import ops\nfrom rnn_course import gradients\n"
ANSWERS = ("q4_1_lstm_cell", "q4_2_gru_cell", "q4_3_state_gradient_norms")
ANSWER_CELLS = AnswerCells(NOTEBOOK.name, ANSWERS, PRELUDE)
CELLS = ANSWER_CELLS.sources
hidden_tests, answers, mutate = ANSWER_CELLS.hidden_tests, ANSWER_CELLS.run, ANSWER_CELLS.mutate
TF_ONLY = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                             reason="on TensorFlow only, for cost: it calls no keras.ops operation that the fused "
                                    "alternatives, which run on every backend, do not call")


def run_check(grade_id: str, namespace: dict) -> None:
    {"q4_1_lstm_cell": lambda ns: checks.check_lstm_cell(ns["LSTMCell"]),
     "q4_2_gru_cell": lambda ns: checks.check_gru_cell(ns["GRUCell"]),
     "q4_3_state_gradient_norms": lambda ns: checks.check_state_gradient_norms(ns["state_gradient_norms"]),
     }[grade_id](namespace)


def run_test_cell(grade_id: str, namespace: dict) -> None:
    """The whole test cell, the public call and the hidden tests, as the autograder runs it."""
    _exec_cell(cell_source(NOTEBOOK.name, f"{grade_id}_tests"), f"{grade_id}_tests", dict(namespace))


# --------------------------------------------------------------------------- the wrong variants
U_SHAPE = 'f"U_{gate}", self.add_weight(shape=(input_dim, self.units)'
W_SHAPE = 'f"W_{gate}", self.add_weight(shape=(self.units, self.units)'
LSTM_AFFINE = "ops.matmul(h_prev, W) + ops.matmul(inputs, U)"

LSTM_MUTANTS = {
    "forget and input gates swapped": ([("c = f * c_prev + i * c_tilde", "c = i * c_prev + f * c_tilde")],
                                       r"forget and input gates are swapped"),
    "input and output gates swapped": ([("c = f * c_prev + i * c_tilde", "c = f * c_prev + o * c_tilde"),
                                        ("h = o * ops.tanh(c)", "h = i * ops.tanh(c)")],
                                       r"input and output gates are swapped"),
    "tanh where sigma belongs (the gates)": ([("f = ops.sigmoid(", "f = ops.tanh("), ("i = ops.sigmoid(", "i = ops.tanh("),
                                             ("o = ops.sigmoid(", "o = ops.tanh(")], r"tanh where σ belongs"),
    "sigma where tanh belongs (the new content)": ([("c_tilde = ops.tanh(", "c_tilde = ops.sigmoid(")],
                                                   r"new content uses σ"),
    "h = o∘c instead of o∘tanh(c)": ([("h = o * ops.tanh(c)", "h = o * c")], r"tanh is missing"),
    "forget bias not 1": ([('initializer="ones" if gate == "f" else "zeros"', 'initializer="zeros"')],
                          r"b_f starts at \[0\.0"),
    "states in the order [c, h]": ([("h_prev, c_prev = states[0], states[1]", "c_prev, h_prev = states[0], states[1]"),
                                    ("return h, [h, c]", "return h, [c, h]")], r"wrong order.*\[h, c\]"),
    "W and U swapped in call": ([(LSTM_AFFINE, "ops.matmul(h_prev, U) + ops.matmul(inputs, W)")],
                                r"Check the shapes: x\(t\) .* @ U_i"),
    "W and U swapped, shapes and call": ([(U_SHAPE, U_SHAPE.replace("(input_dim, self.units)", "(self.units, self.units)")),
                                          (W_SHAPE, W_SHAPE.replace("(self.units, self.units)", "(input_dim, self.units)")),
                                          (LSTM_AFFINE, "ops.matmul(h_prev, U) + ops.matmul(inputs, W)")],
                                         r"W_.* and U_.* are swapped"),
    "state_size one size": ([("self.state_size = [self.units, self.units]", "self.state_size = self.units")],
                            r"state_size is 4; expected \[4, 4\]"),
    "W transposed (column-vector habit)": ([(LSTM_AFFINE, "ops.matmul(h_prev, ops.transpose(W)) + ops.matmul(inputs, U)")],
                                           r"used transposed, h\(t-1\) @ W_•ᵀ"),
    "c~ from the output gate's weights (copy-paste)": ([("c_tilde = ops.tanh(affine(self.W_c, self.U_c, self.b_c))",
                                                         "c_tilde = ops.tanh(affine(self.W_o, self.U_o, self.b_o))")],
                                                       r"Check each term against the lecture"),
    "f from c~'s W": ([("f = ops.sigmoid(affine(self.W_f,", "f = ops.sigmoid(affine(self.W_c,")],
                      r"Check each term against the lecture"),
    "input gate without its bias": ([("affine(self.W_i, self.U_i, self.b_i)", "affine(self.W_i, self.U_i, 0.0)")],
                                    r"Check each term against the lecture"),
    "o with the forget gate's bias (copy-paste)": ([("affine(self.W_o, self.U_o, self.b_o)",
                                                     "affine(self.W_o, self.U_o, self.b_f)")],
                                                   r"Check each term against the lecture"),
    "c~ reads c(t-1) instead of h(t-1)": ([("c_tilde = ops.tanh(affine(self.W_c, self.U_c, self.b_c))",
                                            "c_tilde = ops.tanh(ops.matmul(c_prev, self.W_c) + ops.matmul(inputs, self.U_c)"
                                            " + self.b_c)")],
                                          r"Check each term against the lecture"),
    "the first row's state for the whole batch": ([("h_prev, c_prev = states[0], states[1]",
                                                    "h_prev, c_prev = states[0][:1], states[1][:1]")],
                                                  r"Check each term against the lecture"),
    "one initial state": ([("        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype),   # h(0)\n"
                            "                ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]   # c(0)",
                            "        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]")],
                          r"get_initial_state\(batch_size=2\) returned list of length 1; expected a list with 2"),
}

GRU_U = "        u = ops.sigmoid(ops.matmul(h_prev, self.W_u) + ops.matmul(inputs, self.U_u) + self.b_u)  # update gate\n"
GRU_R = "        r = ops.sigmoid(ops.matmul(h_prev, self.W_r) + ops.matmul(inputs, self.U_r) + self.b_r)  # reset gate\n"
GRU_MIX = "h = (1 - u) * h_prev + u * h_tilde"

GRU_MUTANTS = {
    "(1 - u) and u swapped": ([(GRU_MIX, "h = u * h_prev + (1 - u) * h_tilde")], r"\(1 - u\) and u are swapped"),
    "reset gate after the matmul": ([("ops.matmul(r * h_prev, self.W_h)", "r * ops.matmul(h_prev, self.W_h)")],
                                    r"reset gate is applied after the matmul"),
    "reset gate not applied": ([("ops.matmul(r * h_prev, self.W_h)", "ops.matmul(h_prev, self.W_h)")],
                               r"reset gate is not applied"),
    "update and reset gates swapped": ([(GRU_MIX, "h = (1 - r) * h_prev + r * h_tilde"),
                                        ("ops.matmul(r * h_prev, self.W_h)", "ops.matmul(u * h_prev, self.W_h)")],
                                       r"update and reset gates are swapped"),
    "tanh where sigma belongs (the gates)": ([("u = ops.sigmoid(", "u = ops.tanh("), ("r = ops.sigmoid(", "r = ops.tanh(")],
                                             r"tanh where σ belongs"),
    "sigma where tanh belongs (the new content)": ([("h_tilde = ops.tanh(", "h_tilde = ops.sigmoid(")],
                                                   r"new content uses σ"),
    "W and U swapped in call": ([("ops.matmul(h_prev, self.W_u) + ops.matmul(inputs, self.U_u)",
                                  "ops.matmul(h_prev, self.U_u) + ops.matmul(inputs, self.W_u)")],
                                r"Check the shapes"),
    "W and U swapped, shapes and call": (
        [(U_SHAPE, U_SHAPE.replace("(input_dim, self.units)", "(self.units, self.units)")),
         (W_SHAPE, W_SHAPE.replace("(self.units, self.units)", "(input_dim, self.units)"))]
        + [(f"ops.matmul({a}, self.W_{g}) + ops.matmul(inputs, self.U_{g})",
            f"ops.matmul({a}, self.U_{g}) + ops.matmul(inputs, self.W_{g})") for a, g in (("h_prev", "u"), ("h_prev", "r"))]
        + [("ops.matmul(r * h_prev, self.W_h)", "ops.matmul(r * h_prev, self.U_h)"),
           ("ops.matmul(inputs, self.U_h)", "ops.matmul(inputs, self.W_h)")],
        r"W_.* and U_.* are swapped"),
    "W transposed (column-vector habit)": ([("ops.matmul(h_prev, self.W_u)", "ops.matmul(h_prev, ops.transpose(self.W_u))"),
                                            ("ops.matmul(h_prev, self.W_r)", "ops.matmul(h_prev, ops.transpose(self.W_r))"),
                                            ("ops.matmul(r * h_prev, self.W_h)",
                                             "ops.matmul(r * h_prev, ops.transpose(self.W_h))")],
                                           r"used transposed, h\(t-1\) @ W_•ᵀ"),
    "u from the reset gate's W (copy-paste)": ([("ops.matmul(h_prev, self.W_u)", "ops.matmul(h_prev, self.W_r)")],
                                               r"Check each term against the lecture"),
    "update gate without its bias": ([(" + self.b_u)", ")")], r"Check each term against the lecture"),
    "u from h~'s W (copy-paste)": ([("ops.matmul(h_prev, self.W_u)", "ops.matmul(h_prev, self.W_h)")],
                                   r"Check each term against the lecture"),
    "r from h~'s weights (copy-paste)": ([(GRU_R, GRU_R.replace("W_r", "W_h").replace("U_r", "U_h").replace("b_r", "b_h"))],
                                         r"Check each term against the lecture"),
    "x * U_u elementwise": ([("ops.matmul(inputs, self.U_u)", "inputs * self.U_u")], r"Check the shapes: x\(t\)"),
    "Keras's reset_after=True without its bias": ([("ops.matmul(r * h_prev, self.W_h)", "r * ops.matmul(h_prev, self.W_h)"),
                                                   (GRU_MIX, "h = u * h_prev + (1 - u) * h_tilde")], r"differs"),
}

NORM_OFFSET = "            s = [s_k + offsets[t * n + k] for k, s_k in enumerate(s)]\n"
NORM_RETURN = "return norms.reshape(steps, n).T"
NORM_MUTANTS = {
    "offset added to h only": ([(NORM_OFFSET, "            s = [s[0] + offsets[t * n]] + list(s[1:])\n")],
                               r"through c\(t\) is zero everywhere"),
    "J summed over every step": ([(NORM_OFFSET, NORM_OFFSET + "            total = ops.sum(s[0]) if t == 0 else "
                                                              "total + ops.sum(s[0])\n"),
                                  ("return ops.sum(s[0])  ", "return total  ")], r"sum of h\(T\) only"),
    "steps in reverse order": ([(NORM_RETURN, NORM_RETURN + "[:, ::-1]")], r"reverse order"),
    "squared norms": ([("np.linalg.norm(ops.convert_to_numpy(g).astype(np.float64))",
                        "np.sum(ops.convert_to_numpy(g).astype(np.float64) ** 2)")], r"squared norms"),
    "(T, n_states) instead of (n_states, T)": ([(NORM_RETURN, "return norms.reshape(steps, n)")],
                                               r"returned shape \(7, 2\); expected \(n_states, T\) = \(2, 7\)"),
}

MUTANTS = {"q4_1_lstm_cell": LSTM_MUTANTS, "q4_2_gru_cell": GRU_MUTANTS, "q4_3_state_gradient_norms": NORM_MUTANTS}
CASES = [(gid, name) for gid, variants in MUTANTS.items() for name in variants]
#: The mistake code each wrong variant's hint carries, what `rnn-course report` counts (issue 16): the known mistakes
#: of rnn_course.checks.lstm_gru and the stages of the cell-check protocol (rnn_course.checks.cells). An error raised
#: inside keras.layers.RNN has one code on every backend (TensorFlow and JAX raise different classes).
CODES = {
    "q4_1_lstm_cell": {
        "forget and input gates swapped": "forget-input-swapped", "input and output gates swapped": "input-output-swapped",
        "tanh where sigma belongs (the gates)": "tanh-not-sigmoid",
        "sigma where tanh belongs (the new content)": "candidate-sigmoid-not-tanh",
        "h = o∘c instead of o∘tanh(c)": "o-times-c-not-tanh-c", "forget bias not 1": "forget-bias-not-1",
        "states in the order [c, h]": "states-order", "W and U swapped in call": "raised-inside-RNN",
        "W and U swapped, shapes and call": "weight-shapes-swapped", "state_size one size": "state-size-wrong",
        "one initial state": "initial-states-count", "W transposed (column-vector habit)": "W-transposed",
        "c~ from the output gate's weights (copy-paste)": "wrong-LSTM-recurrence", "f from c~'s W": "wrong-LSTM-recurrence",
        "input gate without its bias": "wrong-LSTM-recurrence",
        "o with the forget gate's bias (copy-paste)": "wrong-LSTM-recurrence",
        "c~ reads c(t-1) instead of h(t-1)": "wrong-LSTM-recurrence",
        "the first row's state for the whole batch": "wrong-LSTM-recurrence",
    },
    "q4_2_gru_cell": {
        "(1 - u) and u swapped": "u-and-1-minus-u-swapped", "reset gate after the matmul": "reset-after-matmul",
        "reset gate not applied": "no-reset-gate", "update and reset gates swapped": "update-reset-swapped",
        "tanh where sigma belongs (the gates)": "tanh-not-sigmoid",
        "sigma where tanh belongs (the new content)": "candidate-sigmoid-not-tanh",
        "W and U swapped in call": "raised-inside-RNN", "W and U swapped, shapes and call": "weight-shapes-swapped",
        "Keras's reset_after=True without its bias": "wrong-GRU-recurrence",
        "W transposed (column-vector habit)": "W-transposed",
        "u from the reset gate's W (copy-paste)": "wrong-GRU-recurrence", "update gate without its bias": "wrong-GRU-recurrence",
        "u from h~'s W (copy-paste)": "wrong-GRU-recurrence", "r from h~'s weights (copy-paste)": "wrong-GRU-recurrence",
        "x * U_u elementwise": "raised-inside-RNN",
    },
    "q4_3_state_gradient_norms": {
        "offset added to h only": "offset-on-h-only", "J summed over every step": "J-not-sum-of-h-T",
        "steps in reverse order": "steps-reversed", "squared norms": "squared-norm",
        "(T, n_states) instead of (n_states, T)": "steps-by-states",
    },
}

# --------------------------------------------------------------------------- valid alternatives
LSTM_GATES = (
    "        def affine(W, U, b):                                   # W h(t-1) + U x(t) + b, as rows: (batch, units)\n"
    "            return ops.matmul(h_prev, W) + ops.matmul(inputs, U) + b\n\n"
    "        f = ops.sigmoid(affine(self.W_f, self.U_f, self.b_f))  # forget gate\n"
    "        i = ops.sigmoid(affine(self.W_i, self.U_i, self.b_i))  # input gate\n"
    "        o = ops.sigmoid(affine(self.W_o, self.U_o, self.b_o))  # output gate\n"
    "        c_tilde = ops.tanh(affine(self.W_c, self.U_c, self.b_c))  # new cell content\n")
ALTERNATIVES = {
    "q4_1_lstm_cell": {
        "one fused matmul over the gates concatenated at call time": [(LSTM_GATES, (
            "        U = ops.concatenate([self.U_i, self.U_f, self.U_c, self.U_o], axis=-1)  # (input_dim, 4 units)\n"
            "        W = ops.concatenate([self.W_i, self.W_f, self.W_c, self.W_o], axis=-1)  # (units, 4 units)\n"
            "        b = ops.concatenate([self.b_i, self.b_f, self.b_c, self.b_o], axis=-1)\n"
            "        z_i, z_f, z_c, z_o = ops.split(ops.matmul(inputs, U) + ops.matmul(h_prev, W) + b, 4, axis=-1)\n"
            "        i, f, o, c_tilde = ops.sigmoid(z_i), ops.sigmoid(z_f), ops.sigmoid(z_o), ops.tanh(z_c)\n"))],
        "[x(t), h(t-1)] concatenated, one matmul per gate": [(LSTM_GATES, (
            "        xh = ops.concatenate([inputs, h_prev], axis=-1)  # (batch, input_dim + units)\n"
            "        def gate(g):\n"
            "            stacked = ops.concatenate([getattr(self, 'U_' + g), getattr(self, 'W_' + g)], axis=0)\n"
            "            return ops.matmul(xh, stacked) + getattr(self, 'b_' + g)\n"
            "        i, f, o = ops.sigmoid(gate('i')), ops.sigmoid(gate('f')), ops.sigmoid(gate('o'))\n"
            "        c_tilde = ops.tanh(gate('c'))\n"))],
    },
    "q4_2_gru_cell": {
        "one fused matmul for u and r": [(GRU_U + GRU_R, (
            "        W_ur = ops.concatenate([self.W_u, self.W_r], axis=-1)  # (units, 2 units)\n"
            "        U_ur = ops.concatenate([self.U_u, self.U_r], axis=-1)  # (input_dim, 2 units)\n"
            "        b_ur = ops.concatenate([self.b_u, self.b_r], axis=-1)\n"
            "        u, r = ops.split(ops.sigmoid(ops.matmul(h_prev, W_ur) + ops.matmul(inputs, U_ur) + b_ur), 2, axis=-1)\n"))],
        "Keras's form, z = 1 - u": [(GRU_U, GRU_U.replace("u = ops.sigmoid(", "z = ops.sigmoid(-(").replace(
            "self.b_u)", "self.b_u))")), (GRU_MIX, "h = z * h_prev + (1 - z) * h_tilde")],
    },
}
#: The alternatives that run on TensorFlow only (see the module's docstring).
ALTERNATIVES_TF_ONLY = {("q4_1_lstm_cell", "[x(t), h(t-1)] concatenated, one matmul per gate"),
                        ("q4_2_gru_cell", "Keras's form, z = 1 - u")}
ALT_CASES = [pytest.param(gid, name, id=f"{gid}: {name}", marks=[TF_ONLY] if (gid, name) in ALTERNATIVES_TF_ONLY else [])
             for gid, variants in ALTERNATIVES.items() for name in variants]


# --------------------------------------------------------------------------- the tests
def test_every_exercise_has_three_wrong_variants_and_every_cell_two_alternatives():
    assert set(MUTANTS) == set(ANSWERS)
    assert all(len(variants) >= 3 for variants in MUTANTS.values())
    assert all(len(ALTERNATIVES[gid]) >= 2 for gid in ("q4_1_lstm_cell", "q4_2_gru_cell"))
    every = {(gid, name) for gid, variants in ALTERNATIVES.items() for name in variants}
    assert ALTERNATIVES_TF_ONLY <= every, ALTERNATIVES_TF_ONLY - every  # a renamed one must not drop out of the list
    assert all(any(g == gid and (g, n) not in ALTERNATIVES_TF_ONLY for g, n in every) for gid in ALTERNATIVES), \
        "each cell keeps one alternative on every backend"


@pytest.mark.parametrize("grade_id, name", CASES, ids=[f"{g}: {n}" for g, n in CASES])
def test_wrong_variant_is_rejected_by_check_and_test_cell(grade_id, name, capsys):
    edits, hint = MUTANTS[grade_id][name]
    with pytest.raises(CheckFailed, match=hint) as info:
        run_check(grade_id, answers(**{grade_id: mutate(grade_id, edits)}))
    code = CODES[grade_id][name]
    assert info.value.code == code and str(info.value).endswith(f" [mistake: {code}]"), str(info.value)
    with pytest.raises(Exception):  # noqa: B017: any exception fails the test cell in nbgrader
        run_test_cell(grade_id, answers(**{grade_id: mutate(grade_id, edits)}))
    assert capsys.readouterr().err == ""  # nbgrader scores a test cell that writes stderr as 0


#: The assertion of the hidden tests that each wrong variant fails (its message): the pinned cases catch the mistake
#: itself, not a side effect of the harness.
LSTM_STEP = r"h\(1\) = o tanh\(c\(1\)\)"
GRU_STEP = r"h\(1\) = \(1 - u\) h\(0\) \+ u h~"
HIDDEN_FAILS_ON = {
    "q4_1_lstm_cell": {
        "forget and input gates swapped": LSTM_STEP, "input and output gates swapped": LSTM_STEP,
        "tanh where sigma belongs (the gates)": LSTM_STEP, "sigma where tanh belongs (the new content)": LSTM_STEP,
        "h = o∘c instead of o∘tanh(c)": LSTM_STEP, "forget bias not 1": r"b_f starts at 1",
        "states in the order [c, h]": LSTM_STEP, "W and U swapped in call": LSTM_STEP,
        "W and U swapped, shapes and call": r"U: \(input_dim, units\)", "state_size one size": r"state_size \[h, c\]",
        "one initial state": r"\[h\(0\), c\(0\)\] = 0", "W transposed (column-vector habit)": LSTM_STEP,
        "c~ from the output gate's weights (copy-paste)": LSTM_STEP, "f from c~'s W": LSTM_STEP,
        "input gate without its bias": LSTM_STEP, "o with the forget gate's bias (copy-paste)": LSTM_STEP,
        "c~ reads c(t-1) instead of h(t-1)": LSTM_STEP, "the first row's state for the whole batch": LSTM_STEP,
    },
    "q4_2_gru_cell": {
        "(1 - u) and u swapped": GRU_STEP, "reset gate after the matmul": GRU_STEP, "reset gate not applied": GRU_STEP,
        "update and reset gates swapped": GRU_STEP, "tanh where sigma belongs (the gates)": GRU_STEP,
        "sigma where tanh belongs (the new content)": GRU_STEP, "W and U swapped in call": GRU_STEP,
        "W and U swapped, shapes and call": r"U: \(input_dim, units\)",
        "Keras's reset_after=True without its bias": GRU_STEP, "W transposed (column-vector habit)": GRU_STEP,
        "u from the reset gate's W (copy-paste)": GRU_STEP, "update gate without its bias": GRU_STEP,
        "u from h~'s W (copy-paste)": GRU_STEP, "r from h~'s weights (copy-paste)": GRU_STEP, "x * U_u elementwise": GRU_STEP,
    },
}


@pytest.mark.parametrize("grade_id", ("q4_1_lstm_cell", "q4_2_gru_cell"))
def test_wrong_variants_are_rejected_by_the_hidden_tests_alone(grade_id):
    """The hidden tests do not lean on the public check: each mistake fails them on its own, where expected."""
    assert set(HIDDEN_FAILS_ON[grade_id]) == set(MUTANTS[grade_id])
    for name, (edits, _) in MUTANTS[grade_id].items():
        namespace = answers(**{grade_id: mutate(grade_id, edits)})
        with pytest.raises(Exception, match=HIDDEN_FAILS_ON[grade_id][name]):  # noqa: B017
            _exec_cell(hidden_tests(grade_id), f"{grade_id}_tests {name}", dict(namespace))


@pytest.mark.parametrize("grade_id, name", ALT_CASES)
def test_valid_alternative_is_accepted(grade_id, name, capsys):
    ANSWER_CELLS.passes(grade_id, mutate(grade_id, ALTERNATIVES[grade_id][name]))
    out = capsys.readouterr()
    assert out.out.startswith("✓") and out.err == ""


def test_the_untouched_student_notebook_fails_every_check_and_test_cell():
    namespace = answers(**ANSWER_CELLS.unanswered())
    for grade_id in ANSWERS:
        with pytest.raises(CheckFailed, match="NotImplementedError") as info:
            run_check(grade_id, namespace)
        assert info.value.code == "NotImplementedError", str(info.value)  # as the grader codes the stub itself
        with pytest.raises(Exception):  # noqa: B017
            run_test_cell(grade_id, namespace)


def test_check_hints_name_what_was_received():
    with pytest.raises(CheckFailed, match="subclasses keras.layers.Layer. Received") as info:
        checks.check_lstm_cell(lambda units: None)
    assert info.value.code == "not-a-layer-class"
    with pytest.raises(CheckFailed, match="subclasses keras.layers.Layer. Received") as info:
        checks.check_gru_cell("GRUCell")
    assert info.value.code == "not-a-layer-class"
    with pytest.raises(CheckFailed, match=r"expected numbers.*Received str") as info:
        checks.check_state_gradient_norms(lambda cell, inputs: "norms")
    assert info.value.code == "not-numeric"


def test_every_wrong_variant_has_an_expected_mistake_code():
    assert {gid: set(codes) for gid, codes in CODES.items()} == {gid: set(v) for gid, v in MUTANTS.items()}


@pytest.mark.parametrize("grade_id", ANSWERS)
def test_hidden_tests_compute_their_own_references(grade_id):
    """A student could monkeypatch the check module: the hidden tests must not rely on the package at all."""
    hidden = hidden_tests(grade_id)
    assert "rnn_course" not in hidden and "checks." not in hidden
    assert hidden.count("assert") >= 3


def test_the_known_mistakes_reproduce_themselves_and_differ_from_the_right_recurrence():
    """Each known mistake of the references must change the result (else its hint could never be reached)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 3))
    for reference, mistakes, gates, n_states in ((checks.lstm_reference, checks.LSTM_MISTAKES, "ifco", 2),
                                                 (checks.gru_reference, checks.GRU_MISTAKES, "urh", 1)):
        w = {f"{p}_{g}": rng.normal(scale=0.6, size=(3, 3) if p != "b" else (3,)) for p in "UWb" for g in gates}
        states0 = [rng.normal(size=(2, 3)) for _ in range(n_states)]
        right = reference(x, w, states0)[0]
        for key, _ in mistakes:
            wrong = reference(x, w, states0, mistake=key)
            assert wrong is not None and not np.allclose(wrong[0], right, atol=1e-4), key
