"""Notebook 02's graded exercises: the solution passes, plausible mistakes do not.

The answers and the hidden tests are read from `solutions/02_rnn_language_models.ipynb`,
so these tests exercise exactly what students get graded on. Each wrong variant is
the solution's answer cell with one plausible mistake written in (a text edit that
must apply, so a variant cannot silently turn into the solution). Every variant
must be rejected twice:

* by the public check, with a `CheckFailed` whose hint names the mistake, and
* by the hidden tests of the grade cell (any exception fails the cell in nbgrader).

The solution must pass both. Runs on every Keras backend.
"""

from __future__ import annotations

import linecache
from pathlib import Path

import nbformat
import pytest

from gradecells import cell_source
from rnn_course.checks import CheckFailed
from rnn_course.checks import rnn_lm as checks

NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "02_rnn_language_models.ipynb"
# The names the notebook's import cell provides to the answer cells.
PRELUDE = "import keras\nimport numpy as np\nfrom keras import ops\nfrom rnn_course.vocab import EOS, PAD_ID\n"
ANSWERS = ("q2_1_rnn_cell", "q2_2_lm_model", "q2_3_lm_windows", "q2_4_sequence_loss", "q2_5_perplexity",
           "q2_6_generate")


CELLS = {grade_id: cell_source(NOTEBOOK.name, grade_id) for grade_id in ANSWERS}


def hidden_tests(grade_id: str) -> str:
    source = cell_source(NOTEBOOK.name, f"{grade_id}_tests", part="hidden")
    assert source.strip(), f"{grade_id}_tests has no hidden tests"
    return source


def _exec_cell(source: str, name: str, namespace: dict) -> None:
    """Runs a cell's source as IPython does: registered with linecache, so `inspect.getsource` works on it."""
    filename = f"<notebook cell {name} {abs(hash(source)):x}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)


def answers(**replaced: str) -> dict:
    """The notebook's namespace after its answer cells ran; `replaced` swaps in other answer-cell sources."""
    namespace: dict = {"__name__": "__main__"}
    exec(PRELUDE, namespace)
    for grade_id in ANSWERS:
        _exec_cell(replaced.get(grade_id, CELLS[grade_id]), grade_id, namespace)
    return namespace


def mutate(grade_id: str, edits) -> str:
    """The solution's answer cell with `edits` [(old, new), ...] applied; each `old` must occur exactly once."""
    source = CELLS[grade_id]
    for old, new in edits:
        count = source.count(old)
        assert count == 1, f"edit target found {count} times in {grade_id}: {old!r}"
        source = source.replace(old, new)
    return source


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
                                             r"differs"),
    "initial state of ones": ([("return [ops.zeros((batch_size, self.units)", "return [ops.ones((batch_size, self.units)")],
                              r"h\(0\)"),
    "state_size not set": ([("        self.state_size = self.units\n", "")], r"state_size"),
    "get_config without units": ([('return {**super().get_config(), "units": self.units}', "return super().get_config()")],
                                 r"get_config"),
    "not registered": ([('@keras.saving.register_keras_serializable(package="rnn_course")\n', "")], r"not registered"),
    "numpy inside call": ([("h = ops.tanh(", "h = np.tanh(")], r"keras\.ops"),
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
    "temperature inverted": ([("z = np.asarray(logits, dtype=np.float64) / temperature",
                               "z = np.asarray(logits, dtype=np.float64) * temperature")], r"inverted"),
    "top_k ignored": ([("    if top_k is not None:\n", "    if False:\n")], r"top_k"),
    "argmax instead of sampling": ([("ids = np.minimum((np.cumsum(p, axis=-1) < u).sum(axis=-1), p.shape[-1] - 1)",
                                     "ids = np.argmax(p, axis=-1)")], r"argmax"),
    "randomness not drawn from rng": ([("u = rng.random(p.shape[:-1] + (1,))", "u = np.random.random(p.shape[:-1] + (1,))")],
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
    with pytest.raises(CheckFailed, match=hint):
        run_check(grade_id, namespace)
    namespace = answers(**{grade_id: mutate(grade_id, edits)})  # fresh: the check may have built things
    with pytest.raises(Exception):
        run_hidden(grade_id, namespace)
    assert capsys.readouterr().err == ""  # nbgrader scores a test cell that writes stderr as 0


def test_the_untouched_student_notebook_fails_every_check_and_hidden_test():
    student = nbformat.read(str(NOTEBOOK.parents[1] / "notebooks" / NOTEBOOK.name), 4)
    unanswered = {c.metadata["nbgrader"]["grade_id"]: c.source for c in student.cells
                  if c.metadata.get("nbgrader", {}).get("solution")}
    assert set(unanswered) == set(ANSWERS) and all("raise NotImplementedError()" in s for s in unanswered.values())
    namespace = answers(**unanswered)
    for grade_id in ANSWERS:
        with pytest.raises(CheckFailed, match="NotImplementedError"):
            run_check(grade_id, namespace)
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
