"""Notebook 02's graded exercises: the solution passes, plausible mistakes do not.

The answers and the hidden tests are read from `solutions/02_rnn_language_models.ipynb`,
so these tests exercise exactly what students get graded on. Each wrong variant is
the solution's answer cell with one plausible mistake written in (a text edit that
must apply, so a variant cannot silently turn into the solution). Every variant
must be rejected twice:

* by the public check, with a `CheckFailed` whose hint names the mistake, and
* by the hidden tests of the grade cell (any exception fails the cell in nbgrader).

The solution must pass both: the harness's control, without which a harness that rejects everything
would pass every mutation test. Runs on every Keras backend: an error raised inside
`keras.layers.RNN` differs from one backend to the next, and the hint must not.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest

from gradecells import AnswerCells, cell_source, exec_cell as _exec_cell
from rnn_course.checks import CheckFailed
from rnn_course.checks import rnn_lm as checks

NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "02_rnn_language_models.ipynb"
# The names the notebook's import cell provides to the answer cells.
PRELUDE = "import keras\nimport numpy as np\nfrom keras import ops\nfrom rnn_course.vocab import EOS, PAD_ID\n"
ANSWERS = ("q2_1_rnn_cell", "q2_2_lm_model", "q2_3_lm_windows", "q2_4_sequence_loss", "q2_5_perplexity",
           "q2_6_generate")


ANSWER_CELLS = AnswerCells(NOTEBOOK.name, ANSWERS, PRELUDE)
CELLS = ANSWER_CELLS.sources
hidden_tests, answers, mutate = ANSWER_CELLS.hidden_tests, ANSWER_CELLS.run, ANSWER_CELLS.mutate


def run_check(grade_id: str, namespace: dict) -> None:
    call = {
        "q2_1_rnn_cell": lambda ns: checks.check_rnn_cell(ns["ElmanCell"]),
        "q2_2_lm_model": lambda ns: checks.check_lm_model(ns["build_rnn_lm"]),
        "q2_3_lm_windows": lambda ns: checks.check_lm_windows(ns["make_lm_windows"]),
        "q2_4_sequence_loss": lambda ns: checks.check_sequence_loss(ns["sequence_cross_entropy"]),
        "q2_5_perplexity": lambda ns: checks.check_perplexity(ns["perplexity"]),
        "q2_6_generate": lambda ns: checks.check_generation(ns["sample_next"], ns["generate"]),
    }[grade_id]
    call(namespace)


def run_hidden(grade_id: str, namespace: dict) -> None:
    _exec_cell(hidden_tests(grade_id), f"{grade_id}_tests", dict(namespace))


# --------------------------------------------------------------------------- the wrong variants
CALL_H = "        h = ops.tanh(ops.matmul(h_prev, self.W_h)            # (batch, units)\n"
PLUS_E = "                     + ops.matmul(inputs, self.W_e)          # (batch, units)\n"
PLUS_B = "                     + self.b)                               # (units,), broadcast over the batch\n"
BUILD_E = 'self.W_e = self.add_weight(shape=(input_dim, self.units), initializer="glorot_uniform", name="W_e")'
BUILD_H = 'self.W_h = self.add_weight(shape=(self.units, self.units), initializer="orthogonal", name="W_h")'
INIT_DEF = "    def get_initial_state(self, batch_size=None):"
INIT_RETURN = "return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]"
GET_CONFIG = ('\n    def get_config(self):\n        ### BEGIN SOLUTION\n'
              '        return {**super().get_config(), "units": self.units}\n        ### END SOLUTION')

CELL_MUTANTS = {
    "W_h and W_e swapped in call": (
        [("ops.matmul(h_prev, self.W_h)", "ops.matmul(h_prev, self.W_e)"),
         ("ops.matmul(inputs, self.W_e)", "ops.matmul(inputs, self.W_h)")], r"W_e"),
    "W_h and W_e swapped, shapes and call": (
        [(BUILD_E, BUILD_E.replace("(input_dim, self.units)", "(self.units, self.units)")),
         (BUILD_H, BUILD_H.replace("(self.units, self.units)", "(input_dim, self.units)")),
         ("ops.matmul(h_prev, self.W_h)", "ops.matmul(h_prev, self.W_e)"),
         ("ops.matmul(inputs, self.W_e)", "ops.matmul(inputs, self.W_h)")], r"swapped"),
    "bias missing": ([(PLUS_E + PLUS_B, PLUS_E.rstrip("\n").split("#")[0].rstrip() + ")\n")], r"bias b is missing"),
    "sigmoid instead of tanh": ([("h = ops.tanh(", "h = ops.sigmoid(")], r"sigmoid"),
    "ReLU instead of tanh": ([("h = ops.tanh(", "h = ops.relu(")], r"ReLU"),
    "no nonlinearity": ([("h = ops.tanh(", "h = (")], r"no nonlinearity"),
    "state not carried (h(t-1) ignored)": ([("h_prev = states[0]", "h_prev = ops.zeros_like(states[0])")],
                                           r"h\(t-1\) is ignored"),
    "W_h transposed (column-vector habit)": ([("ops.matmul(h_prev, self.W_h)", "ops.matmul(h_prev, ops.transpose(self.W_h))")],
                                             r"W_h is used transposed, h\(t-1\) @ W_hᵀ"),
    "initial state of ones": ([("return [ops.zeros((batch_size, self.units)", "return [ops.ones((batch_size, self.units)")],
                              r"h\(0\)"),
    "state_size not set": ([("        self.state_size = self.units\n", "")], r"state_size"),
    "get_config without units": ([('return {**super().get_config(), "units": self.units}', "return super().get_config()")],
                                 r"get_config"),
    "not registered": ([('@keras.saving.register_keras_serializable(package="rnn_course")\n', "")], r"not registered"),
    "numpy inside call": ([("h = ops.tanh(", "h = np.tanh(")], r"keras\.ops"),
    # Missing or broken pieces: the check names what is missing instead of crashing (issue 9, 3e).
    "get_initial_state missing (method renamed)": ([(INIT_DEF, INIT_DEF.replace("get_initial_state", "initial_state"))],
                                                    r"has no attribute `get_initial_state`.*Expected a method"),
    "get_initial_state not a method": ([(INIT_DEF, "    get_initial_state = None\n\n"
                                                   + INIT_DEF.replace("get_initial_state", "initial_state"))],
                                       r"get_initial_state is NoneType None, not a method"),
    "get_initial_state returns a string": ([(INIT_RETURN, 'return ["zeros"]')], r"h\(0\).*expected numbers.*Received str"),
    "state_size a property that raises": ([("        self.state_size = self.units\n", ""),
                                           ("    def build(self, input_shape):",
                                            '    @property\n    def state_size(self):\n        return {"units": self.units}["size"]'
                                            "\n\n    def build(self, input_shape):")],
                                          r"reading ElmanCell\(units=4\)\.state_size raised KeyError"),
    "output_size not set": ([("        self.output_size = self.units\n", "")], r"output_size is None"),
    "W_e not trainable": ([(BUILD_E, BUILD_E.replace('name="W_e")', 'name="W_e", trainable=False)'))],
                          r"W_e is not trainable"),
    "e(t) * W_e elementwise": ([("ops.matmul(inputs, self.W_e)", "inputs * self.W_e")], r"Check the shapes: e\(t\)"),
    "the first row's state for the whole batch": ([("h_prev = states[0]", "h_prev = states[0][:1]")],
                                                  r"h\(t-1\) comes from states\[0\]"),
}

MODEL_MUTANTS = {
    "softmax on the output layer": ([("keras.layers.Dense(vocab_size),", 'keras.layers.Dense(vocab_size, activation="softmax"),')],
                                    r"logits"),
    "return_sequences missing": ([("keras.layers.RNN(cell_class(units), return_sequences=True),",
                                   "keras.layers.RNN(cell_class(units)),")], r"return_sequences=True"),
    "keras SimpleRNN instead of the given cell": ([("keras.layers.RNN(cell_class(units), return_sequences=True),",
                                                    "keras.layers.SimpleRNN(units, return_sequences=True),")],
                                                  r"cell class it is given"),
    "reads right to left (go_backwards)": ([("keras.layers.RNN(cell_class(units), return_sequences=True),",
                                             "keras.layers.RNN(cell_class(units), return_sequences=True, go_backwards=True),")],
                                           r"reads the future"),
    "Dense to units, not to V": ([("keras.layers.Dense(vocab_size),", "keras.layers.Dense(units),")], r"vocab_size"),
}

WINDOW_MUTANTS = {
    "targets not shifted": ([("targets = ids[1: num_windows * seq_len + 1]", "targets = ids[: num_windows * seq_len]")],
                            r"shifted by one"),
    "targets shifted the wrong way": ([("targets = ids[1: num_windows * seq_len + 1].reshape(num_windows, seq_len)",
                                        "targets = np.concatenate([ids[:1], ids])[: num_windows * seq_len]"
                                        ".reshape(num_windows, seq_len)")], r"wrong way"),
    "chunks of seq_len + 1 (a target lost per window)": (
        [("    num_windows = max(0, (len(ids) - 1) // seq_len)",
          "    chunks = ids[: len(ids) // (seq_len + 1) * (seq_len + 1)].reshape(-1, seq_len + 1)\n"
          "    return chunks[:, :-1], chunks[:, 1:]\n    num_windows = 0")], r"skipped"),
    "overlapping windows (stride 1)": (
        [("    num_windows = max(0, (len(ids) - 1) // seq_len)",
          "    frames = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)\n"
          "    return frames[:, :-1], frames[:, 1:]\n    num_windows = 0")], r"overlap"),
    "last complete window dropped": ([("max(0, (len(ids) - 1) // seq_len)", "max(0, (len(ids) - 2) // seq_len)")],
                                     r"complete windows"),
}

LOSS_MUTANTS = {
    "mask ignored": ([("return ops.sum(nll * mask) / ops.sum(mask)", "return ops.mean(nll)")], r"padding is counted"),
    "divided by every position": ([("return ops.sum(nll * mask) / ops.sum(mask)",
                                    'return ops.sum(nll * mask) / ops.cast(ops.size(mask), "float32")')],
                                  r"divide by every position"),
    "sum instead of mean": ([("return ops.sum(nll * mask) / ops.sum(mask)", "return ops.sum(nll * mask)")],
                            r"return the sum"),
    "logits used as log-probabilities": ([('log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)',
                                           'log_probs = ops.cast(logits, "float32")')], r"log_softmax"),
    "softmax over the time axis": ([('ops.log_softmax(ops.cast(logits, "float32"), axis=-1)',
                                     'ops.log_softmax(ops.cast(logits, "float32"), axis=1)')], r"time axis"),
    "explicit mask ignored": ([("    if mask is None:\n        mask = ops.not_equal(targets, PAD_ID)",
                                "    mask = ops.not_equal(targets, PAD_ID)")], r"explicit `mask`"),
}

PPL_RETURN = "return float(ops.convert_to_numpy(ops.exp(sequence_cross_entropy(targets, logits, mask))))"
PERPLEXITY_MUTANTS = {
    "perplexity over padded steps": (
        [(PPL_RETURN, PPL_RETURN.replace("(targets, logits, mask)", '(targets, logits, ops.ones(ops.shape(targets)))'))],
        r"padded steps are counted"),
    "exp of the summed NLL": (
        [(PPL_RETURN, "n = float(np.sum(np.asarray(targets) != 0)) if mask is None else float(np.sum(mask))\n"
                      "    return float(np.exp(float(sequence_cross_entropy(targets, logits, mask)) * n))")],
        r"summed, not averaged"),
    "2 ** loss (bits for nats)": ([(PPL_RETURN, "return float(2.0 ** float(sequence_cross_entropy(targets, logits, mask)))")],
                                  r"nats"),
    "mean of per-sequence perplexities": (
        [(PPL_RETURN, "t = np.asarray(targets)\n"
                      "    return float(np.mean([np.exp(float(sequence_cross_entropy(t[i:i + 1], np.asarray(logits)[i:i + 1])))"
                      " for i in range(len(t))]))")], r"per-sequence"),
    "the loss, not its exponential": ([(PPL_RETURN, "return float(sequence_cross_entropy(targets, logits, mask))")],
                                      r"exponential"),
}

GENERATE_MUTANTS = {
    "temperature inverted": ([("z = (z - z.max(axis=-1, keepdims=True)) / temperature",
                               "z = (z - z.max(axis=-1, keepdims=True)) * temperature")], r"inverted"),
    "top_k ignored": ([("    if top_k is not None:\n", "    if False:\n")], r"top_k"),
    "argmax instead of sampling": ([("ids = (cdf <= u).sum(axis=-1)", "ids = np.argmax(z, axis=-1)")], r"argmax"),
    "randomness not drawn from rng": ([("u = rng.random(cdf.shape[:-1] + (1,))",
                                        "u = np.random.random(cdf.shape[:-1] + (1,))")],
                                      r"rng"),
    "generate not seeded": ([("    rng = np.random.default_rng(seed)\n", "    rng = np.random.default_rng()\n")],
                            r"same seed"),
    "prompt not fed (only its last token)": ([("for token in prompt_ids:", "for token in list(prompt_ids)[-1:]:")],
                                             r"prompt"),
    "state not carried through the prompt": ([("        logits, state = step(np.array([token]), state)             # logits: (1, V)",
                                               "        logits, _ = step(np.array([token]), state)")], r"state"),
    "sample not fed back": ([("        logits, state = step(np.array([token]), state)             # the sample is the next input",
                              "        logits, state = step(np.array([prompt_ids[-1]]), state)")], r"next step's input"),
}

MUTANTS = {
    "q2_1_rnn_cell": CELL_MUTANTS,
    "q2_2_lm_model": MODEL_MUTANTS,
    "q2_3_lm_windows": WINDOW_MUTANTS,
    "q2_4_sequence_loss": LOSS_MUTANTS,
    "q2_5_perplexity": PERPLEXITY_MUTANTS,
    "q2_6_generate": GENERATE_MUTANTS,
}
CASES = [(gid, name) for gid, variants in MUTANTS.items() for name in variants]
#: The mistake code each wrong variant's hint carries (what `rnn-course report` counts, issue 16). For 2.1 both the
#: hints this module gives (its known mistakes and the guards') and those of the stages of the cell-check protocol
#: (rnn_course.checks.cells); an error raised inside keras.layers.RNN has one code on every backend.
CODES = {
    "W_h and W_e swapped in call": "raised-inside-RNN", "W_h and W_e swapped, shapes and call": "weight-shapes-swapped",
    "state_size not set": "state-size-wrong", "output_size not set": "output-size-wrong",
    "get_config without units": "config-without-units", "not registered": "not-registered",
    "numpy inside call": "not-keras-ops", "W_e not trainable": "weight-not-trainable",
    "e(t) * W_e elementwise": "raised-inside-RNN", "the first row's state for the whole batch": "wrong-recurrence",
    "bias missing": "no-bias", "sigmoid instead of tanh": "sigmoid-not-tanh", "ReLU instead of tanh": "relu-not-tanh",
    "no nonlinearity": "no-tanh", "state not carried (h(t-1) ignored)": "h-prev-ignored",
    "W_h transposed (column-vector habit)": "W-transposed", "initial state of ones": "initial-state-not-zeros",
    "get_initial_state missing (method renamed)": "missing-attribute", "get_initial_state not a method": "not-a-method",
    "get_initial_state returns a string": "not-numeric", "state_size a property that raises": "raised-KeyError",
    "softmax on the output layer": "softmax-not-logits", "return_sequences missing": "no-return-sequences",
    "keras SimpleRNN instead of the given cell": "cell-class-not-used", "reads right to left (go_backwards)": "not-causal",
    "Dense to units, not to V": "wrong-shape",
    "targets not shifted": "targets-not-shifted", "targets shifted the wrong way": "shifted-wrong-way",
    "chunks of seq_len + 1 (a target lost per window)": "token-skipped-between-windows",
    "overlapping windows (stride 1)": "windows-overlap", "last complete window dropped": "wrong-window-count",
    "mask ignored": "padding-counted", "divided by every position": "divided-by-all-positions",
    "sum instead of mean": "sum-not-mean", "logits used as log-probabilities": "no-log-softmax",
    "softmax over the time axis": "softmax-over-time", "explicit mask ignored": "mask-ignored",
    "perplexity over padded steps": "padding-counted", "exp of the summed NLL": "sum-not-mean",
    "2 ** loss (bits for nats)": "log-base-2", "mean of per-sequence perplexities": "mean-of-sequence-perplexities",
    "the loss, not its exponential": "loss-not-exp",
    "temperature inverted": "temperature-inverted", "top_k ignored": "top-k-not-applied",
    "argmax instead of sampling": "argmax-not-sample", "randomness not drawn from rng": "rng-not-used",
    "generate not seeded": "not-reproducible", "prompt not fed (only its last token)": "prompt-not-fed",
    "state not carried through the prompt": "first-token-wrong", "sample not fed back": "sample-not-fed-back",
}


# --------------------------------------------------------------------------- the tests
def test_every_exercise_has_at_least_three_wrong_variants():
    assert set(MUTANTS) == set(ANSWERS)
    assert all(len(variants) >= 3 for variants in MUTANTS.values())


@pytest.mark.parametrize("grade_id", ANSWERS)
def test_solution_passes_the_check_and_the_hidden_tests(grade_id, capsys):
    namespace = answers()
    run_check(grade_id, namespace)
    run_hidden(grade_id, namespace)
    out = capsys.readouterr()
    assert out.out.startswith("✓") and out.err == ""


@pytest.mark.parametrize("grade_id, name", CASES, ids=[f"{g}: {n}" for g, n in CASES])
def test_wrong_variant_is_rejected_by_check_and_hidden_tests(grade_id, name, capsys):
    edits, hint = MUTANTS[grade_id][name]
    namespace = answers(**{grade_id: mutate(grade_id, edits)})
    with pytest.raises(CheckFailed, match=hint) as info:
        run_check(grade_id, namespace)
    assert name in CODES, f"no expected mistake code for {name!r}"
    assert info.value.code == CODES[name] and str(info.value).endswith(f" [mistake: {CODES[name]}]"), str(info.value)
    namespace = answers(**{grade_id: mutate(grade_id, edits)})  # fresh: the check may have built things
    with pytest.raises(Exception):
        run_hidden(grade_id, namespace)
    assert capsys.readouterr().err == ""  # nbgrader scores a test cell that writes stderr as 0


def test_the_untouched_student_notebook_fails_every_check_and_hidden_test():
    namespace = answers(**ANSWER_CELLS.unanswered())
    for grade_id in ANSWERS:
        with pytest.raises(CheckFailed, match="NotImplementedError") as info:
            run_check(grade_id, namespace)
        assert info.value.code == "NotImplementedError", str(info.value)  # as the grader codes the stub itself
        with pytest.raises(Exception):
            run_hidden(grade_id, namespace)


def test_check_hints_name_what_was_received():
    with pytest.raises(CheckFailed, match="subclasses keras.layers.Layer. Received"):
        checks.check_rnn_cell(lambda units: None)
    with pytest.raises(CheckFailed, match="must return a keras.Model"):
        checks.check_lm_model(lambda **kwargs: "not a model")
    with pytest.raises(CheckFailed, match="pair"):
        checks.check_lm_windows(lambda ids, seq_len: ids)


@pytest.mark.parametrize("grade_id", ANSWERS)
def test_hidden_tests_compute_their_own_references(grade_id):
    """A student could monkeypatch the check module: the hidden tests must not rely on the package at all."""
    hidden = hidden_tests(grade_id)
    assert "rnn_course" not in hidden and "checks." not in hidden
    assert hidden.count("assert") >= 3


# --------------------------------------------------------------------------- guards and the short traceback
def test_a_cell_without_get_config_passes_because_keras_records_the_init_arguments(capsys):
    """Keras 3 rebuilds a layer from its recorded `__init__` arguments when get_config is not overridden:
    such a cell saves and loads, so neither the check nor the hidden tests may demand the method."""
    source = mutate("q2_1_rnn_cell", [(GET_CONFIG, "")])
    checks.check_rnn_cell(answers(q2_1_rnn_cell=source)["ElmanCell"])
    run_hidden("q2_1_rnn_cell", answers(q2_1_rnn_cell=source))
    out = capsys.readouterr()
    assert out.out.startswith("✓") and out.err == ""


def _unanswered(grade_id: str) -> str:
    student = nbformat.read(str(NOTEBOOK.parents[1] / "notebooks" / NOTEBOOK.name), 4)
    return next(c.source for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def test_a_failed_check_keeps_the_students_error_as_cause_and_renders_without_package_frames():
    """What IPython shows (`_render_traceback_`, here outside IPython: the standard format of the same frames)
    is the caller's frame, the student's raising line and the hint: no package frame, no chained copy."""
    namespace = answers(q2_1_rnn_cell=_unanswered("q2_1_rnn_cell"))
    with pytest.raises(CheckFailed) as info:
        checks.check_rnn_cell(namespace["ElmanCell"])
    err = info.value
    assert isinstance(err.__cause__, NotImplementedError)  # a debugger still reaches the student's error
    text = "".join(err._render_traceback_())
    assert "rnn_course/" not in text and "During handling" not in text and "direct cause" not in text, text
    assert "<notebook cell q2_1_rnn_cell" in text and "raise NotImplementedError()" in text, text
    assert text.rstrip().splitlines()[-1] == f"rnn_course.checks.CheckFailed: {err}"
    assert err.__cause__ is not None and err.__traceback__ is not None  # the rendering changed nothing


def test_a_failed_check_without_a_student_error_has_no_chained_exception():
    wrong = mutate("q2_3_lm_windows", WINDOW_MUTANTS["targets not shifted"][0])
    with pytest.raises(CheckFailed, match="shifted by one") as info:
        checks.check_lm_windows(answers(q2_3_lm_windows=wrong)["make_lm_windows"])
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ====================================================================================================
# Valid edge inputs (issue 9, 3f): the smallest valid input and the extreme but valid values of each
# exercise 2.2-2.6. Each wrong variant below is the solution with one edit that breaks only an edge
# input (logits of ±1e4 in float32, temperatures down to 1e-308, a uniform draw of 0.0, a stream too
# short for one window, ...). The public check must reject it with a hint that names the problem, and
# so must the whole test cell; `hidden`: the hidden tests alone also catch it (a pinned case each).
# ----------------------------------------------------------------------------------------------------
SAMPLE_MAX = "        z = (z - z.max(axis=-1, keepdims=True)) / temperature      # the largest is 0: no overflow, no NaN"
EDGE_MUTANTS = {  # name: (grade_id, edits, the hint, caught by the hidden tests alone)
    "build_rnn_lm squeezes size-1 axes": (
        "q2_2_lm_model", [("keras.layers.Dense(vocab_size),", "keras.layers.Dense(vocab_size),\n"
                           "        keras.layers.Lambda(lambda z: ops.squeeze(z)),")], r"\(1, 1, 2\).*squeeze", True),
    "make_lm_windows stacks a list of windows (crashes on a too-short stream)": (
        "q2_3_lm_windows", [("    inputs = ids[: num_windows * seq_len].reshape(num_windows, seq_len)",
                             "    inputs = np.stack([ids[k * seq_len:(k + 1) * seq_len] for k in range(num_windows)])"),
                            ("    targets = ids[1: num_windows * seq_len + 1].reshape(num_windows, seq_len)",
                             "    targets = np.stack([ids[k * seq_len + 1:(k + 1) * seq_len + 1] for k in range(num_windows)])")],
        r"length 0, seq_len=4\) raised ValueError.*too short for one window", True),
    "make_lm_windows builds an array from a list (shape (0,) for a too-short stream)": (
        "q2_3_lm_windows", [("    inputs = ids[: num_windows * seq_len].reshape(num_windows, seq_len)",
                             "    inputs = np.array([ids[k * seq_len:(k + 1) * seq_len] for k in range(num_windows)])"),
                            ("    targets = ids[1: num_windows * seq_len + 1].reshape(num_windows, seq_len)",
                             "    targets = np.array([ids[k * seq_len + 1:(k + 1) * seq_len + 1] for k in range(num_windows)])")],
        r"inputs of shape \(0,\).*expected both \(0, 4\)", True),
    "sequence_cross_entropy takes the log of the softmax (-inf at logits of ±1e4)": (
        "q2_4_sequence_loss", [('log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)',
                                'log_probs = ops.log(ops.softmax(ops.cast(logits, "float32"), axis=-1))')],
        r"logits of ±1e4.*NaN or inf.*ops\.log_softmax", True),
    "perplexity from a softmax computed by hand, without the max (NaN at logits of ±1e4)": (
        "q2_5_perplexity", [(PPL_RETURN, "t = np.asarray(targets)\n"
                                         "    z = np.asarray(logits, dtype=np.float32)\n"
                                         "    m = (t != PAD_ID) if mask is None else np.asarray(mask) > 0\n"
                                         "    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)\n"
                                         "    nll = -np.log(np.take_along_axis(p, t[..., None].astype(int), -1)[..., 0])\n"
                                         "    return float(np.exp(nll[m].mean()))")],
        r"received nan, expected 2\. Subtract the max logit", True),
    "sample_next divides by T before subtracting the max (NaN at T = 1e-308)": (
        "q2_6_generate", [(SAMPLE_MAX, "        z = z / temperature\n        z = z - z.max(axis=-1, keepdims=True)")],
        r"temperature=1e-308\) must always return the argmax 1.*before dividing by T", True),
    "sample_next does not subtract the max (overflow at logits of 1e4)": (
        "q2_6_generate", [(SAMPLE_MAX, "        z = z / temperature")],
        r"\(1e4, 9999, -1e4, 0\) in float32 at T=1 .*exp\(1e4\) is inf", False),
    "sample_next: an inverse CDF with < draws a token of probability 0 at u = 0.0": (
        "q2_6_generate", [("ids = (cdf <= u).sum(axis=-1)", "ids = np.minimum((cdf < u).sum(axis=-1), cdf.shape[-1] - 1)")],
        r"u = 0\.0 returned 0; top_k=3 keeps tokens 1, 2 and 3 only", False),
    "sample_next: an unnormalised CDF draws a token of probability 0 at u = nextafter(1, 0)": (
        "q2_6_generate", [("    cdf = np.cumsum(np.exp(z), axis=-1)                            # (..., V), unnormalised\n"
                           "    cdf = cdf / cdf[..., -1:]                                      # ends at exactly 1.0\n",
                           "    cdf = np.cumsum(np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True), axis=-1)\n"),
                          ("ids = (cdf <= u).sum(axis=-1)", "ids = np.minimum((cdf <= u).sum(axis=-1), cdf.shape[-1] - 1)")],
        r"u = 0\.9999999999999999 returned 4; top_k=3", False),
    "sample_next accepts temperature 0": (
        "q2_6_generate", [('        raise ValueError(f"temperature must be > 0. Received: temperature={temperature}")\n',
                           "        pass\n")], r"temperature=0\.0\) must raise ValueError", False),
    "generate samples one token when asked for none": (
        "q2_6_generate", [("    for _ in range(num_tokens):", "    for _ in range(max(num_tokens, 1)):")],
        r"num_tokens=0\) must return no new token", False),
}


@pytest.mark.parametrize("name", list(EDGE_MUTANTS))
def test_wrong_variant_on_a_valid_edge_input_is_rejected(name, capsys):
    grade_id, edits, hint, hidden = EDGE_MUTANTS[name]
    with pytest.raises(CheckFailed, match=hint) as info:
        run_check(grade_id, answers(**{grade_id: mutate(grade_id, edits)}))
    assert info.value.code == EDGE_CODES[name], str(info.value)
    public = cell_source(NOTEBOOK.name, f"{grade_id}_tests", part="public")
    with pytest.raises(AssertionError):  # the whole test cell: its public part fails first
        _exec_cell(public + "\n" + hidden_tests(grade_id), f"{grade_id}_tests", answers(**{grade_id: mutate(grade_id, edits)}))
    if hidden:
        with pytest.raises(Exception):
            run_hidden(grade_id, answers(**{grade_id: mutate(grade_id, edits)}))
    assert capsys.readouterr().err == ""  # nbgrader scores a test cell that writes stderr as 0


EDGE_CODES = {  # the mistake code of each edge variant
    "build_rnn_lm squeezes size-1 axes": "one-token-input",
    "make_lm_windows stacks a list of windows (crashes on a too-short stream)": "short-stream",
    "make_lm_windows builds an array from a list (shape (0,) for a too-short stream)": "short-stream",
    "sequence_cross_entropy takes the log of the softmax (-inf at logits of ±1e4)": "log-of-softmax",
    "perplexity from a softmax computed by hand, without the max (NaN at logits of ±1e4)": "no-max-subtraction",
    "sample_next divides by T before subtracting the max (NaN at T = 1e-308)": "tiny-temperature",
    "sample_next does not subtract the max (overflow at logits of 1e4)": "large-logits",
    "sample_next: an inverse CDF with < draws a token of probability 0 at u = 0.0": "zero-probability-drawn",
    "sample_next: an unnormalised CDF draws a token of probability 0 at u = nextafter(1, 0)": "zero-probability-drawn",
    "sample_next accepts temperature 0": "temperature-not-positive-accepted",
    "generate samples one token when asked for none": "zero-tokens",
}


def test_every_wrong_variant_of_2_2_to_2_6_has_its_expected_mistake_code():
    assert {name for grade_id, name in CASES if grade_id != "q2_1_rnn_cell"} <= set(CODES)
    assert set(CODES) <= {name for _, name in CASES} and set(EDGE_CODES) == set(EDGE_MUTANTS)


def test_every_exercise_from_2_2_has_a_wrong_variant_on_an_edge_input():
    assert {grade_id for grade_id, *_ in EDGE_MUTANTS.values()} == set(ANSWERS) - {"q2_1_rnn_cell"}


@pytest.mark.parametrize("logits, kwargs, allowed", [
    (np.array([-4.0, -1.5, 2.0, 0.0, -4.0]), {"top_k": 3}, {1, 2, 3}),
    (np.array([-np.inf, 0.0, 1.0, -np.inf]), {}, {1, 2}),
])
@pytest.mark.parametrize("u", [0.0, float(np.nextafter(1.0, 0.0))])
def test_the_solutions_sample_next_never_draws_a_token_of_probability_zero(logits, kwargs, allowed, u):
    from rnn_course.checks.ngram_lm import generator_with_first_draw

    sample_next = answers()["sample_next"]
    assert sample_next(logits, rng=generator_with_first_draw(u), **kwargs) in allowed


@pytest.mark.parametrize("logits, temperature, want", [
    (np.array([1e4, 9999.0, -1e4], dtype="float32"), 1e-3, 0),
    (np.array([-1e4, 1e4], dtype="float32"), 1e-308, 1),
    (np.array([1.0, 3.0, 2.0]), 5e-324, 1),
])
def test_the_solutions_sample_next_at_tiny_temperatures_is_the_argmax(logits, temperature, want):
    sample_next = answers()["sample_next"]
    with np.errstate(divide="raise", over="raise", invalid="raise"):  # and no numpy warning
        assert [sample_next(logits, temperature, rng=np.random.default_rng(s)) for s in range(5)] == [want] * 5


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan")])
def test_the_solutions_sample_next_refuses_a_temperature_that_is_not_positive(bad):
    with pytest.raises(ValueError, match=f"temperature must be > 0. Received: temperature={bad}"):
        answers()["sample_next"](np.zeros(3), bad, rng=np.random.default_rng(0))
