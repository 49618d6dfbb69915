"""Public checks for notebook 02, RNN language models.

Each check runs the student's answer on small deterministic inputs, compares it
with Keras's own layers or the known formulas, and prints one "✓" line, or
raises `CheckFailed` with a hint that names the wrong term. They write only to
stdout and never depend on a long training run.

| check                   | exercise                                                          |
|-------------------------|-------------------------------------------------------------------|
| `check_rnn_cell`        | 2.1 the Elman cell: h(t) = tanh(W_h h(t-1) + W_e e(t) + b)         |
| `check_lm_model`        | 2.2 Embedding -> RNN(cell) -> Dense(vocab) logits                  |
| `check_lm_windows`      | 2.3 (inputs, targets) shifted by one, in seq_len chunks           |
| `check_sequence_loss`   | 2.4 masked mean cross-entropy from logits                         |
| `check_perplexity`      | 2.5 exp(masked mean cross-entropy)                                |
| `check_generation`      | 2.6 sampling with temperature and top-k; generation from a prompt |

Tolerances: outputs and states of the cell within 1e-5 of `keras.layers.SimpleRNN`
(absolute, float32), gradients within 1e-4; losses within 1e-4.
"""

from __future__ import annotations

import math

import numpy as np

from rnn_course.checks import CheckFailed, expect_close, fail, guard, mark, passed, to_numpy
from rnn_course.checks.cells import GRAD_ATOL, OUTPUT_ATOL, CellSpec, check_cell, code_of, foreign_call
from rnn_course.checks.ngram_lm import generator_with_first_draw

LOSS_ATOL = 1e-4


# ------------------------------------------------------------------ helpers
def _call(what, fn, *args, **kwargs):
    """Runs student code; any exception becomes a hint naming the call (the student's error is the cause)."""
    with guard(what):
        return fn(*args, **kwargs)


def _call_valid(what, why, fn, *args, code, **kwargs):
    """`_call` on an edge input the exercise allows: an exception becomes a hint that says why the input is valid.

    Its mistake code is `code`, which names the edge input the answer does not handle (the unanswered
    stub keeps `NotImplementedError`).
    """
    try:
        with np.errstate(all="ignore"):  # the value is what counts here, not numpy's overflow notices
            return _call(what, fn, *args, **kwargs)
    except CheckFailed as err:  # the same hint, and the same cause (the student's error, if any)
        keep = err.code == "NotImplementedError"
        raise CheckFailed(f"{err.hint} That input is valid: {why}", code=err.code if keep else code) from err.__cause__


def _numbers(value, what: str) -> np.ndarray:
    """What the student's code returned (`what` names the call) as a float64 array; an error becomes a hint."""
    return _call(f"reading what {what} returned as numbers", to_numpy, value)


# The "keras.ops only" probes, shared with the cell-check protocol (notebook 03's checks import _code_of).
_code_of, _foreign_call = code_of, foreign_call


def _tanh_rnn_np(x, W_e, W_h, b, h0=None, *, act=np.tanh, state=True, reverse=False):
    """Reference recurrences in float64, with switches for the classic mistakes."""
    batch, steps, _ = x.shape
    h = np.zeros((batch, W_h.shape[0])) if h0 is None else h0
    outputs = []
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for t in order:
        pre = x[:, t] @ W_e + b
        if state:
            pre = pre + h @ W_h
        h = act(pre)
        outputs.append(h)
    return np.stack(outputs, axis=1), h  # (batch, steps, units), (batch, units)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# Each hint carries its mistake code (`mark`): the cell-check protocol ends its message with the hint.
_CELL_MISTAKES = (
    ("swapped", mark("W_h and W_e are swapped: e(t) must be multiplied by W_e and h(t-1) by W_h.", "W_h-W_e-swapped")),
    ("no_bias", mark("the bias b is missing: h(t) = tanh(W_h h(t-1) + W_e e(t) + b).", "no-bias")),
    ("sigmoid", mark("you apply the sigmoid; the Elman cell of the lecture uses tanh (keras.ops.tanh).",
                     "sigmoid-not-tanh")),
    ("relu", mark("you apply ReLU; the Elman cell uses tanh (keras.ops.tanh).", "relu-not-tanh")),
    ("linear", mark("no nonlinearity is applied: h(t) = tanh(W_h h(t-1) + W_e e(t) + b).", "no-tanh")),
    ("no_state", mark("h(t-1) is ignored: your outputs equal tanh(W_e e(t) + b), so the state is not carried "
                      "over from step to step. Use `states[0]` as h(t-1).", "h-prev-ignored")),
    ("w_h_transposed", mark("W_h is used transposed, h(t-1) @ W_hᵀ: Keras multiplies row vectors, so the lecture's "
                            "W_h h(t-1) is h(t-1) @ W_h with W_h of shape (units, units), as SimpleRNN's "
                            "recurrent_kernel. Drop the transpose.", "W-transposed")),
)


def _elman_reference(x, weights, states0, mistake=None):
    """The Elman recurrence in float64 with one classic mistake written in (None: the right one)."""
    W_e, W_h, b = weights["W_e"], weights["W_h"], weights["b"]
    h0 = None if states0 is None else states0[0]
    if mistake == "swapped":
        if W_e.shape != W_h.shape:
            return None
        W_e, W_h = W_h, W_e
    if mistake == "w_h_transposed":
        W_h = W_h.T
    act = {"sigmoid": _sigmoid, "relu": lambda z: np.maximum(z, 0), "linear": lambda z: z}.get(mistake, np.tanh)
    out, h = _tanh_rnn_np(x, W_e, W_h, 0 * b if mistake == "no_bias" else b, h0, act=act,
                          state=mistake != "no_state")
    return out, [h]


def elman_spec(cell_class) -> CellSpec:
    """Exercise 2.1's cell as the cell-check protocol sees it (rnn_course.checks.cells)."""
    import keras

    return CellSpec(
        cell_class=cell_class, kind="simple_rnn",
        formula="h(t) = tanh(W_h h(t-1) + W_e e(t) + b)",
        row_formula="tanh(h(t-1) W_h + e(t) W_e + b)",
        builtin=lambda units, **kwargs: keras.layers.SimpleRNN(units, **kwargs),
        builtin_name="keras.layers.SimpleRNN",
        reference=_elman_reference, mistakes=_CELL_MISTAKES, state_names=("h",), input_symbol="e(t)",
        ops_example="ops.matmul, ops.tanh",
        value_hint=mark("Check each term: h(t-1) comes from states[0], e(t) is the cell's input.", "wrong-recurrence"),
        square_hint=mark("Check which matrix multiplies which vector.", "wrong-matrix-product"),
        builtin_hint=mark("your cell must compute exactly what SimpleRNNCell computes with the same weights "
                          "(kernel = W_e, recurrent_kernel = W_h, bias = b).", "differs-from-SimpleRNN"),
        init_hint=mark("h(0) is a zero vector for each sequence: keras.ops.zeros((batch_size, self.units)).",
                       "initial-state-not-zeros"),
        units=4, input_dim=3, batch=2, steps=6, seed=2)


# ------------------------------------------------------------ 2.1 the cell
def check_rnn_cell(cell_class) -> None:
    """Checks an Elman RNN cell class against `keras.layers.SimpleRNN`.

    It must: take `units`; set `state_size` and `output_size`; create `W_e`
    `(input_dim, units)`, `W_h` `(units, units)` and `b` `(units,)` in `build`;
    compute `h(t) = tanh(h(t-1) @ W_h + e(t) @ W_e + b)` with `keras.ops` and return
    `(h, [h])`; give zeros from `get_initial_state(batch_size)`; and serialise
    (`get_config` with `units`, registered with Keras) so a saved model loads.

    It goes through every stage of the cell-check protocol (`rnn_course.checks.cells`):
    interface, config, inside `keras.layers.RNN`, the formula, agreement with
    `keras.layers.SimpleRNN` (outputs, states, go_backwards, masks), gradients, save/load.

    Raises:
        CheckFailed: with a hint naming the wrong term.
    """
    check_cell(elman_spec(cell_class))
    passed(f"{getattr(cell_class, '__name__', 'your cell')}: h(t) = tanh(W_h h(t-1) + W_e e(t) + b) matches "
           f"keras.layers.SimpleRNN (outputs, states, go_backwards; within {OUTPUT_ATOL:g}) and its gradients "
           f"(within {GRAD_ATOL:g}); it saves and loads.")


# ------------------------------------------------------------ 2.2 the model
def _probe_cell_class():
    import keras

    class ProbeCell(keras.layers.SimpleRNNCell):
        """A SimpleRNNCell that the check can recognise (the builder must use the class it is given)."""

    return ProbeCell


def check_lm_model(build_fn) -> None:
    """Checks `build_fn(vocab_size, embed_dim, units, cell_class)`: Embedding -> RNN(cell_class) -> Dense(V) logits."""
    import keras

    V, E, H, batch, steps = 11, 5, 6, 2, 7
    probe = _probe_cell_class()
    model = _call(f"build_rnn_lm(vocab_size={V}, embed_dim={E}, units={H}, cell_class=...)",
                  build_fn, vocab_size=V, embed_dim=E, units=H, cell_class=probe)
    if not isinstance(model, keras.Model):
        fail(f"build_rnn_lm must return a keras.Model (e.g. keras.Sequential). Received: {type(model).__name__}.",
             code="not-a-model")
    ids = np.random.default_rng(3).integers(1, V, size=(batch, steps)).astype("int32")  # (batch, steps)
    logits = to_numpy(_call(f"your model on ids of shape {ids.shape}", model, ids), "your model's output")
    if logits.shape == (batch, V):
        fail(f"the model returns one prediction per sequence, shape {logits.shape}; a language model predicts at "
             f"every step: (batch, steps, vocab) = {(batch, steps, V)}. Use return_sequences=True in the RNN.",
             code="no-return-sequences")
    if logits.shape != (batch, steps, V):
        fail(f"the model's output has shape {logits.shape}; expected (batch, steps, vocab_size) = {(batch, steps, V)}: "
             "the last layer is a Dense with vocab_size units.", code="wrong-shape")
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    rnns = [layer for layer in layers if isinstance(layer, keras.layers.RNN)]
    if not any(isinstance(layer.cell, probe) for layer in rnns):
        used = [type(getattr(layer, "cell", layer)).__name__ for layer in rnns] or "none"
        fail(f"the model must wrap the cell class it is given in keras.layers.RNN(cell_class(units), ...). "
             f"Its RNN cells: {used}.", code="cell-class-not-used")
    embeddings = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
    if len(embeddings) != 1 or embeddings[0].input_dim != V or embeddings[0].output_dim != E:
        fail(f"expected one keras.layers.Embedding(vocab_size={V}, embed_dim={E}) first: e(t) = E x(t).",
             code="wrong-embedding")
    probs_like = np.all(logits >= 0) and np.allclose(logits.sum(-1), 1.0, atol=1e-4)
    last = layers[-1]
    if probs_like or getattr(getattr(last, "activation", None), "__name__", "linear") not in ("linear",):
        fail("the model must output logits (scores before the softmax): leave the last Dense without activation. "
             "The loss applies the softmax itself (from_logits).", code="softmax-not-logits")
    # Causality: the prediction at step t may only use tokens 1..t.
    changed = ids.copy()
    changed[:, 4] = (changed[:, 4] % (V - 1)) + 1
    after = to_numpy(_call(f"your model on ids of shape {ids.shape}", model, changed), "your model's output")
    if not np.allclose(after[:, :4], logits[:, :4], atol=1e-6):
        fail("changing the token at step 5 changed the predictions at steps 1-4: the model reads the future. "
             "The RNN must read left to right (no go_backwards, no Bidirectional).", code="not-causal")
    if np.allclose(after[:, 5:], logits[:, 5:], atol=1e-7):
        fail("changing the token at step 5 did not change the later predictions: the hidden state must carry "
             "the input forward (Embedding -> RNN -> Dense, in that order).", code="state-not-carried")
    expected = V * E + (E * H + H * H + H) + (H * V + V)
    count = _call("model.count_params()", model.count_params)
    if count != expected:
        fail(f"the model has {count:,d} parameters; Embedding + RNN + Dense should have "
             f"V·E + (E·H + H·H + H) + (H·V + V) = {expected:,d}. Check the layer sizes.", code="wrong-parameter-count")
    # The smallest valid model and input: V = 2, embed_dim = units = 1, one sequence of one token.
    tiny = _call_valid("build_rnn_lm(vocab_size=2, embed_dim=1, units=1, cell_class=...)",
                       "2 token ids, and embeddings and a state of size 1.", build_fn,
                       vocab_size=2, embed_dim=1, units=1, cell_class=probe, code="smallest-model")
    tiny_out = _call_valid("the model of build_rnn_lm(vocab_size=2, embed_dim=1, units=1) on ids of shape (1, 1)",
                           "one sequence of one token is the smallest input.", tiny, np.ones((1, 1), dtype="int32"),
                           code="one-token-input")
    tiny_out = _numbers(tiny_out, "the output of build_rnn_lm(vocab_size=2, embed_dim=1, units=1) on ids of shape (1, 1)")
    if tiny_out.shape != (1, 1, 2):
        fail(f"on ids of shape (1, 1), one sequence of one token (the smallest input), the model of "
             f"build_rnn_lm(vocab_size=2, embed_dim=1, units=1) must give logits of shape (batch, steps, vocab_size) = "
             f"(1, 1, 2); received {tiny_out.shape}. Keep every axis: do not squeeze size-1 axes, and do not fix the "
             "batch size or the sequence length.", code="one-token-input")
    passed(f"build_rnn_lm: Embedding({V}, {E}) -> RNN(cell) -> Dense({V}) gives causal logits of shape "
           f"(batch, steps, vocab) and {expected} parameters.")


# ---------------------------------------------------------- 2.3 the windows
def check_lm_windows(fn) -> None:
    """Checks `make_lm_windows(ids, seq_len) -> (inputs, targets)`, both `(num_windows, seq_len)`."""
    for n_ids, seq_len in ((23, 5), (21, 5), (20, 5), (7, 3)):
        ids = np.arange(100, 100 + n_ids)
        result = _call(f"make_lm_windows(ids of length {n_ids}, seq_len={seq_len})", fn, ids, seq_len)
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            fail("make_lm_windows must return a pair (inputs, targets).", code="not-a-pair")
        with guard(f"np.asarray on each of the (inputs, targets) of make_lm_windows(ids of length {n_ids}, "
                   f"seq_len={seq_len})"):
            x, y = (np.asarray(r) for r in result)
        n_windows = (n_ids - 1) // seq_len
        want_x = ids[: n_windows * seq_len].reshape(n_windows, seq_len)
        want_y = ids[1: n_windows * seq_len + 1].reshape(n_windows, seq_len)
        if x.ndim != 2 or y.shape != x.shape or (x.size and x.shape[1] != seq_len):
            fail(f"inputs and targets must both have shape (num_windows, seq_len); received {x.shape} and {y.shape} "
                 f"for {n_ids} ids and seq_len={seq_len}.", code="wrong-shape")
        if x.shape == want_x.shape and np.array_equal(x, want_x) and np.array_equal(y, x):
            fail("the targets equal the inputs: they must be shifted by one (the target of x(t) is x(t+1)).",
                 code="targets-not-shifted")
        if x.shape == want_x.shape and np.array_equal(y[:, 1:], x[:, :-1]):
            fail("the targets are shifted the wrong way: the target of x(t) is the NEXT token x(t+1).",
                 code="shifted-wrong-way")
        if len(x) > 1 and np.array_equal(x[1, :-1], x[0, 1:]):
            fail("consecutive windows overlap (stride 1): each window must start where the previous one ended, "
                 "inputs ids[k·T:(k+1)·T], so every target is used once.", code="windows-overlap")
        if len(x) > 1 and x[1, 0] == x[0, -1] + 2:
            fail("a token is skipped between windows (chunks of seq_len + 1): the window k+1 starts right after "
                 "window k's last input, so the last target of window k is the first input of window k+1.",
                 code="token-skipped-between-windows")
        if x.shape[0] != n_windows:
            fail(f"{n_ids} ids with seq_len={seq_len} give (len(ids) - 1) // seq_len = {n_windows} complete windows "
                 f"(each needs seq_len + 1 ids, and consecutive windows share one); received {x.shape[0]}.",
                 code="wrong-window-count")
        if not (np.array_equal(x, want_x) and np.array_equal(y, want_y)):
            fail(f"for ids {ids[:8].tolist()}..., seq_len={seq_len}, expected inputs {want_x[0].tolist()} and targets "
                 f"{want_y[0].tolist()} first; received {x[0].tolist()} and {y[0].tolist()}.", code="wrong-windows")
        if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)):
            fail(f"the windows must be integer ids; received dtypes {x.dtype} and {y.dtype}.", code="ids-not-integer")
    # Streams too short for one window (seq_len ids or fewer, no ids at all included) give no window:
    # two empty integer arrays of shape (0, seq_len). seq_len + 1 ids give exactly one.
    for n_ids, seq_len in ((0, 4), (1, 4), (4, 4), (5, 4), (1, 1), (2, 1)):
        ids = np.arange(100, 100 + n_ids)
        what = f"make_lm_windows(ids of length {n_ids}, seq_len={seq_len})"
        n_windows = max(0, (n_ids - 1) // seq_len)
        if n_windows:
            why = f"{n_ids} ids are one window of seq_len = {seq_len} inputs and its {seq_len} targets"
        else:
            why = (f"{n_ids} ids are too short for one window (it needs seq_len + 1 = {seq_len + 1} ids), so the "
                   f"answer is no window: two empty integer arrays of shape (0, {seq_len})")
        result = _call_valid(what, why + ".", fn, ids, seq_len, code="short-stream")
        if not isinstance(result, (tuple, list)) or len(result) != 2:
            fail(f"make_lm_windows must return a pair (inputs, targets), also for a short stream; {what} returned "
                 f"{type(result).__name__}.", code="short-stream")
        x, y = _call(f"np.asarray on each of the (inputs, targets) of {what}", lambda: [np.asarray(r) for r in result])
        want_x = ids[: n_windows * seq_len].reshape(n_windows, seq_len)
        want_y = ids[1: n_windows * seq_len + 1].reshape(n_windows, seq_len)
        if x.shape != want_x.shape or y.shape != want_y.shape:
            fail(f"{what} returned inputs of shape {x.shape} and targets of shape {y.shape}; expected both "
                 f"{want_x.shape}: {why}. (np.array of an empty list has shape (0,); reshape slices of ids instead.)",
                 code="short-stream")
        if not (np.issubdtype(x.dtype, np.integer) and np.issubdtype(y.dtype, np.integer)):
            fail(f"{what}: the windows must be integer ids, even when there are none; received dtypes {x.dtype} and "
                 f"{y.dtype}.", code="ids-not-integer")
        if not (np.array_equal(x, want_x) and np.array_equal(y, want_y)):
            fail(f"{what} returned inputs {x.tolist()} and targets {y.tolist()}; expected {want_x.tolist()} and "
                 f"{want_y.tolist()}.", code="short-stream")
    passed("make_lm_windows: targets are the inputs shifted by one, in non-overlapping seq_len chunks "
           "that use every target once.")


# -------------------------------------------------------- 2.4 / 2.5 the loss
def _loss_case(seed=4):
    rng = np.random.default_rng(seed)
    targets = rng.integers(1, 7, size=(3, 5)).astype("int32")  # (batch, steps)
    targets[1, 3:] = 0  # padding
    targets[2, 1:] = 0
    logits = rng.normal(scale=2.0, size=(3, 5, 7)).astype("float32")  # (batch, steps, vocab)
    return targets, logits


def _nll_np(targets, logits):
    z = logits.astype(np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, targets[..., None].astype(int), axis=-1)[..., 0]  # (batch, steps)


def _loss_mistakes(targets, logits, mask):
    nll = _nll_np(targets, logits)
    raw = -np.take_along_axis(logits.astype(np.float64), targets[..., None].astype(int), axis=-1)[..., 0]
    time_softmax = logits - np.log(np.exp(logits.astype(np.float64)).sum(1, keepdims=True))
    time_nll = -np.take_along_axis(time_softmax, targets[..., None].astype(int), axis=-1)[..., 0]
    return (  # (the wrong value, its hint, its mistake code)
        (nll.mean(), "the padding is counted: average only over the positions where mask is 1 "
                     "(by default, where the target is not <pad>, id 0).", "padding-counted"),
        ((nll * mask).sum() / mask.size, "you divide by every position, padding included: divide the masked sum "
                                         "by the number of real targets, sum(mask).", "divided-by-all-positions"),
        ((nll * mask).sum(), "you return the sum; the loss is the mean over the real targets.", "sum-not-mean"),
        ((raw * mask).sum() / mask.sum(), "the logits are used as log-probabilities: apply log_softmax over the "
                                          "vocabulary axis first (keras.ops.log_softmax(logits, axis=-1)).",
         "no-log-softmax"),
        ((time_nll * mask).sum() / mask.sum(), "the softmax is taken over the time axis; it belongs to the "
                                               "vocabulary axis (axis=-1).", "softmax-over-time"),
    )


def _extreme_loss_cases():
    """[(targets, logits, what)]: logits of ±1e4 in float32, and one sequence of one target."""
    targets = np.array([[1, 2, 3], [2, 1, 0]], dtype="int32")  # (batch, steps); one <pad>
    logits = np.full((2, 3, 4), -1e4, dtype="float32")  # (batch, steps, vocab)
    logits[0, 0, 1:3] = 1e4, 9999.0  # the target at 1e4, a runner-up at 9999
    logits[0, 1, 1:3] = 1e4  # the target tied with another token at 1e4
    logits[0, 2, 0] = 1e4  # the target at -1e4, 2e4 below the max: its probability underflows to 0
    logits[1, 0, [0, 1, 2]] = 1e4, -1e4, 0.0  # the target at 0, 1e4 below the max
    logits[1, 1, 1] = 1e4  # the target alone at 1e4: probability 1
    one_target = np.array([[2]], dtype="int32")
    one_logits = np.array([[[0.5, -1.0, 2.0]]], dtype="float32")
    return [(targets, logits, "logits of ±1e4 (float32)"), (one_target, one_logits, "one sequence of one target")]


def check_sequence_loss(fn) -> None:
    """Checks `sequence_cross_entropy(targets, logits, mask=None)`: the mean NLL over the unmasked positions."""
    from keras import ops

    targets, logits = _loss_case()
    mask = (targets != 0).astype("float64")
    expected = float((_nll_np(targets, logits) * mask).sum() / mask.sum())
    value = to_numpy(_call("sequence_cross_entropy(targets, logits)", fn, targets, logits),
                     "sequence_cross_entropy(targets, logits)")
    if value.ndim != 0:
        fail(f"the loss must be a scalar (the mean over the real targets). Received shape {value.shape}.",
             code="not-a-scalar")
    if not np.isclose(float(value), expected, atol=LOSS_ATOL):
        for wrong, hint, code in _loss_mistakes(targets, logits, mask):
            if np.isclose(float(value), wrong, atol=LOSS_ATOL):
                fail(f"received {float(value):.4f}, expected {expected:.4f}: {hint}", code=code)
        fail(f"received {float(value):.4f}, expected {expected:.4f} = mean of -log softmax(logits)[target] over the "
             "positions whose target is not <pad>.", code="wrong-loss")
    V = logits.shape[-1]
    uniform = to_numpy(_call("the loss on uniform logits", fn, targets, np.zeros_like(logits)), "the loss on uniform logits")
    expect_close(uniform, math.log(V), what="the loss for uniform logits", atol=LOSS_ATOL,
                 hint=f"a model that knows nothing assigns 1/V to every token, so its loss is ln V = {math.log(V):.4f}.",
                 code="uniform-not-ln-V")
    explicit = mask.copy()
    explicit[0, :2] = 0
    want = float((_nll_np(targets, logits) * explicit).sum() / explicit.sum())
    got = to_numpy(_call("the loss with an explicit mask", fn, targets, logits, explicit.astype("float32")),
                   "the loss with an explicit mask")
    expect_close(got, want, what="the loss with an explicit `mask`", atol=LOSS_ATOL,
                 hint="when a mask is passed, use it instead of `targets != 0`.", code="mask-ignored")
    tensor = to_numpy(_call("the loss on backend tensors", fn, ops.convert_to_tensor(targets),
                            ops.convert_to_tensor(logits)))
    expect_close(tensor, expected, what="the loss on backend tensors", atol=LOSS_ATOL,
                 hint="write it with keras.ops so that it works on tensors of any backend.", code="not-keras-ops")
    foreign = _foreign_call(fn)
    if foreign:
        fail(f"the loss uses `{foreign}.`: write it with keras.ops, so it can train a model on any backend.",
             code="not-keras-ops")
    # Extreme but valid logits, ±1e4 in float32 (a very confident model), and the smallest batch: one target.
    for edge_targets, edge_logits, what in _extreme_loss_cases():
        want = float((_nll_np(edge_targets, edge_logits) * (edge_targets != 0)).sum() / (edge_targets != 0).sum())
        got = _call_valid(f"sequence_cross_entropy on {what}", "any finite float32 logits are valid.", fn,
                          edge_targets, edge_logits, code="extreme-logits")
        expect_close(_numbers(got, f"sequence_cross_entropy on {what}"), want, what=f"the loss on {what}",
                     atol=LOSS_ATOL, rtol=1e-6, code="log-of-softmax",
                     hint="Compute the log-probabilities with ops.log_softmax(logits, axis=-1), which subtracts the max "
                          "logit: the log of ops.softmax gives log 0 = -inf where a probability underflows to 0, and "
                          "exp of a logit of 1e4 overflows to inf.")
    passed(f"sequence_cross_entropy: masked mean NLL {expected:.4f} (padding excluded); ln V for uniform logits.")


def check_perplexity(fn) -> None:
    """Checks `perplexity(targets, logits, mask=None)`: exp of the mean NLL over the real targets."""
    targets, logits = _loss_case(seed=5)
    mask = (targets != 0).astype("float64")
    nll = _nll_np(targets, logits)
    expected = math.exp((nll * mask).sum() / mask.sum())
    value = _call("perplexity(targets, logits)", fn, targets, logits)
    value = to_numpy(value, "perplexity(targets, logits)")
    if value.ndim != 0:
        fail(f"the perplexity must be one number. Received shape {value.shape}.", code="not-a-scalar")
    value = float(value)
    if not math.isclose(value, expected, rel_tol=1e-4):
        per_seq = np.exp((nll * mask).sum(1) / mask.sum(1)).mean()
        mistakes = (  # (the wrong value, its hint, its mistake code)
            (math.exp(nll.mean()), "padded steps are counted: average the NLL only over the real targets.",
             "padding-counted"),
            (math.exp((nll * mask).sum() / mask.size), "you divide by every position, padding included.",
             "divided-by-all-positions"),
            (math.exp((nll * mask).sum()), "the NLL is summed, not averaged: perplexity = exp(mean NLL).",
             "sum-not-mean"),
            ((nll * mask).sum() / mask.sum(), "you return the loss; the perplexity is its exponential.",
             "loss-not-exp"),
            (2 ** ((nll * mask).sum() / mask.sum()), "the loss is in nats (natural log), so use exp, not 2**.",
             "log-base-2"),
            (per_seq, "you average per-sequence perplexities; the perplexity is exp of the mean NLL over ALL "
                      "real tokens, so every token weighs the same.", "mean-of-sequence-perplexities"),
        )
        for wrong, hint, code in mistakes:
            if math.isclose(value, wrong, rel_tol=1e-4):
                fail(f"received {value:.4f}, expected {expected:.4f}: {hint}", code=code)
        fail(f"received {value:.4f}, expected {expected:.4f} = exp(mean NLL over the non-<pad> targets).",
             code="wrong-perplexity")
    V = logits.shape[-1]
    uniform = float(to_numpy(_call("the perplexity of uniform logits", fn, targets, np.zeros_like(logits)),
                             "the perplexity of uniform logits"))
    if not math.isclose(uniform, V, rel_tol=1e-4):
        fail(f"uniform logits over V = {V} tokens must give perplexity V = {V}; received {uniform:.4f}.",
             code="uniform-not-V")
    explicit = mask.copy()
    explicit[0, :2] = 0
    want = math.exp((nll * explicit).sum() / explicit.sum())
    got = float(to_numpy(_call("perplexity with an explicit mask", fn, targets, logits, explicit.astype("float32")),
                         "perplexity with an explicit mask"))
    if not math.isclose(got, want, rel_tol=1e-4):
        fail(f"with an explicit mask, received {got:.4f}, expected {want:.4f}: use the mask when one is passed.",
             code="mask-ignored")
    # Extreme but valid logits, ±1e4 in float32: every target ties with one other token at 1e4 and all other
    # logits are -1e4, so each target has probability 1/2 and the perplexity is exactly 2. And one target alone.
    tied_targets = np.array([[1, 2, 3], [4, 1, 0]], dtype="int32")  # (batch, steps); one <pad>
    tied = np.full((2, 3, 5), -1e4, dtype="float32")  # (batch, steps, vocab)
    for (i, j), target in np.ndenumerate(tied_targets):
        tied[i, j, [target, target % 4 + 1]] = 1e4
    one_logits = np.array([[[0.0, 1.0, 2.0]]], dtype="float32")
    for edge_targets, edge_logits, want, what in (
            (tied_targets, tied, 2.0, "logits of ±1e4 (float32), each target tied at 1e4 with one other token"),
            (np.array([[2]], dtype="int32"), one_logits, 1 + math.exp(-1) + math.exp(-2),
             "one sequence of one target, logits (0, 1, 2), target 2")):
        got = _call_valid(f"perplexity on {what}", "any finite float32 logits are valid.", fn, edge_targets, edge_logits,
                          code="extreme-logits")
        got = float(_numbers(got, f"perplexity on {what}"))
        if not math.isclose(got, want, rel_tol=1e-5):
            fail(f"perplexity on {what}: received {got!r}, expected {want:.6g}."
                 + ("" if math.isfinite(got) else " Subtract the max logit before exponentiating (ops.log_softmax "
                                                 "does): exp(1e4) overflows to inf, and inf / inf is NaN."),
                 code="extreme-logits" if math.isfinite(got) else "no-max-subtraction")
    passed(f"perplexity: exp(masked mean NLL) = {expected:.3f} on the test batch; uniform logits give V = {V}.")


# --------------------------------------------------------- 2.6 generation
def _softmax_np(z):
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class _CountingLM:
    """A toy LM whose state is the sum of the tokens fed so far: it predicts (sum mod V), sharply."""

    def __init__(self, vocab=7, sharpness=60.0):
        self.V, self.sharpness, self.fed = vocab, sharpness, []

    def initial_state(self):
        return [np.zeros(1, dtype=np.int64)]

    def step(self, token_ids, state):
        token = int(np.asarray(token_ids).reshape(-1)[0])
        self.fed.append(token)
        total = (int(np.asarray(state[0]).reshape(-1)[0]) + token) % self.V
        logits = np.zeros((1, self.V))
        logits[0, total] = self.sharpness
        return logits, [np.array([total])]


def _counting_reference(prompt, num_tokens, vocab=7):
    total, out = sum(prompt) % vocab, []
    for _ in range(num_tokens):
        out.append(total)
        total = (total + total) % vocab
    return out


def check_generation(sample_next, generate) -> None:
    """Checks `sample_next(logits, temperature, top_k, rng)` and
    `generate(step, state, prompt_ids, num_tokens, temperature, top_k, seed)`."""
    logits = np.array([2.0, 1.0, 0.0, -1.0, 0.5])
    n = 8000
    batch = np.tile(logits, (n, 1))  # (n, vocab)
    for temperature in (1.0, 0.5, 2.0):
        ids = np.asarray(_call(f"sample_next(logits of shape {batch.shape}, temperature={temperature})",
                               sample_next, batch, temperature=temperature, rng=np.random.default_rng(7)))
        if ids.shape != (n,):
            fail(f"for logits of shape (batch, vocab) = {batch.shape}, sample_next must return one id per row, "
                 f"shape ({n},). Received {ids.shape}.", code="wrong-shape")
        if not np.issubdtype(ids.dtype, np.integer) or ids.min() < 0 or ids.max() >= len(logits):
            fail(f"sample_next must return integer ids in [0, vocab). Received dtype {ids.dtype}, values "
                 f"{ids.min()}..{ids.max()}.", code="ids-not-in-vocabulary")
        freq = np.bincount(ids, minlength=len(logits)) / n
        want = _softmax_np(logits / temperature)
        if np.max(np.abs(freq - want)) > 0.03:
            if np.max(np.abs(freq - _softmax_np(logits * temperature))) < 0.03:
                fail(f"temperature is inverted: sample from softmax(logits / T), not softmax(logits * T). "
                     f"At T={temperature} the probabilities should be {np.round(want, 3).tolist()}.",
                     code="temperature-inverted")
            if np.all(ids == np.argmax(logits)):
                fail("sample_next always returns the most likely token (argmax): it must SAMPLE from the distribution.",
                     code="argmax-not-sample")
            if np.max(np.abs(freq - _softmax_np(logits))) < 0.03:
                fail(f"the temperature has no effect: at T={temperature} the frequencies should be close to "
                     f"{np.round(want, 3).tolist()}, received {np.round(freq, 3).tolist()}.", code="temperature-ignored")
            fail(f"at T={temperature} the sampled frequencies {np.round(freq, 3).tolist()} are far from "
                 f"softmax(logits / T) = {np.round(want, 3).tolist()}.", code="wrong-distribution")
    ids = np.asarray(_call("sample_next(..., top_k=2)", sample_next, batch, temperature=1.0, top_k=2,
                           rng=np.random.default_rng(8)))
    outside = set(np.unique(ids).tolist()) - {0, 1}
    if outside:
        fail(f"with top_k=2 only the 2 most likely tokens (ids 0 and 1) may be sampled; received ids {sorted(outside)}. "
             "Set the other logits to -inf before the softmax.", code="top-k-not-applied")
    share = np.mean(ids == 0)
    want = _softmax_np(logits[:2])[0]
    if abs(share - want) > 0.03:
        fail(f"with top_k=2 token 0 should come {want:.3f} of the time (softmax over the kept logits); "
             f"received {share:.3f}.", code="top-k-wrong-distribution")
    single = _call("sample_next on 1-D logits", sample_next, logits, temperature=0.01, rng=np.random.default_rng(0))
    if np.ndim(single) != 0 or _ids(single, "sample_next on 1-D logits") != [0]:
        fail(f"for 1-D logits (vocab,) sample_next must return one id; at T=0.01 it is the argmax 0. Received {single!r}.",
             code="1d-logits")
    a = np.asarray(_call("sample_next", sample_next, batch[:50], temperature=1.0, rng=np.random.default_rng(3)))
    b = np.asarray(_call("sample_next", sample_next, batch[:50], temperature=1.0, rng=np.random.default_rng(3)))
    if not np.array_equal(a, b):
        fail("two calls with generators seeded alike gave different samples: draw the randomness from `rng` only.",
             code="rng-not-used")

    _check_sample_next_edges(sample_next, logits, batch)

    # generate: the prompt is fed through `step`, the state is carried, each sample is fed back.
    lm = _CountingLM()
    prompt = [1, 2, 3]
    out = _call("generate(step, state, [1, 2, 3], num_tokens=6)", generate, lm.step, lm.initial_state(), prompt, 6,
                temperature=1.0, seed=0)
    out = _ids(out, "generate(step, state, [1, 2, 3], num_tokens=6)")
    want = _counting_reference(prompt, 6)
    if lm.fed[:3] != prompt:
        fail(f"the prompt must be fed to `step` first, token by token, in order; `step` received {lm.fed[:3]} first.",
             code="prompt-not-fed")
    if len(out) != 6:
        fail(f"generate(..., num_tokens=6) must return the 6 new tokens (not the prompt). Received {len(out)}: {out}.",
             code="wrong-token-count")
    if out != want:
        if out[0] != want[0]:
            fail(f"the first sampled token must come from the logits after the LAST prompt token, with the state "
                 f"carried through the whole prompt; expected {want[0]}, received {out[0]}.", code="first-token-wrong")
        if lm.fed[3:8] != out[:5]:
            fail(f"each sampled token must be the next step's input: you sampled {out[:5]} but fed {lm.fed[3:8]}.",
                 code="sample-not-fed-back")
        fail(f"the toy LM (state = running sum of the tokens) should generate {want}; received {out}. Carry the "
             "state returned by `step` into the next call.", code="state-not-carried")
    def run(step, prompt, num_tokens, **kwargs):
        out = _call(f"generate(step, state, {prompt}, {num_tokens}, {kwargs})", generate, step, [np.zeros(1)],
                    prompt, num_tokens, **kwargs)
        return _ids(out, f"generate(step, state, {prompt}, {num_tokens}, {kwargs})")

    flat = _FlatLM(6)
    one = run(flat.step, [1], 40, temperature=1.0, seed=11)
    two = run(flat.step, [1], 40, temperature=1.0, seed=11)
    other = run(flat.step, [1], 40, temperature=1.0, seed=12)
    if one != two:
        fail("generate with the same seed gave different tokens: make one rng = np.random.default_rng(seed) and draw "
             "everything from it.", code="not-reproducible")
    if one == other:
        fail("generate with seeds 11 and 12 gave the same 40 tokens: the seed is not used.", code="seed-ignored")
    if len(set(one)) == 1:
        fail("on a model with uniform logits generate returns one token over and over: it must sample.",
             code="argmax-not-sample")
    greedy = run(_FixedLM().step, [0], 5, temperature=1.0, top_k=1, seed=0)
    if greedy != [2] * 5:
        fail(f"generate must pass top_k to sample_next: with top_k=1 it always picks the argmax (2). Received {greedy}.",
             code="top-k-not-passed")
    cold = run(_FixedLM().step, [0], 300, temperature=0.25, seed=0)
    if np.mean(np.asarray(cold) == 2) < 0.9:
        fail("generate must pass the temperature to sample_next: at T=0.25 the argmax should come almost always.",
             code="temperature-not-passed")
    none = run(_FixedLM().step, [0], 0, temperature=1.0, seed=0)
    if none != []:
        fail(f"generate(..., num_tokens=0) must return no new token, []; received {none}.", code="zero-tokens")
    passed("sample_next follows softmax(logits / T) (and top-k); generate feeds the prompt, carries the state, feeds "
           "each sample back, and is reproducible for a given seed.")


def _check_sample_next_edges(sample_next, logits, batch) -> None:
    """The valid extremes of `sample_next`: logits of ±1e4 in float32, temperatures down to 1e-3 (and 1e-308),
    one token, top_k = V, the uniform draws 0.0 and the largest float below 1; and ValueError for T <= 0."""
    overflow = ("Subtract the max logit before dividing by T and exponentiating: the largest scaled logit is then "
                "exactly 0, so exp cannot overflow (exp(1e4) is inf, and inf / inf is NaN), and tiny temperatures give "
                "the argmax.")

    def draws(what, why, z, *, code, **kwargs):
        ids = np.asarray(_call_valid(what, why, sample_next, z, code=code, **kwargs))
        want_shape = np.shape(z)[:-1]
        if ids.shape != want_shape or not np.issubdtype(ids.dtype, np.integer) or np.any(ids < 0) \
                or np.any(ids >= np.shape(z)[-1]):
            fail(f"{what} returned {ids.reshape(-1)[:8].tolist()}... (shape {ids.shape}, dtype {ids.dtype}); expected "
                 f"integer ids in [0, {np.shape(z)[-1]}) of shape {want_shape}. {overflow}", code=code)
        return ids

    big = np.array([1e4, 9999.0, -1e4, 0.0], dtype="float32")  # (vocab,)
    ids = draws("sample_next(logits (1e4, 9999, -1e4, 0) in float32, tiled to (4000, 4), temperature=1.0)",
                "logits may be as large as ±1e4.", np.tile(big, (4000, 1)), temperature=1.0, rng=np.random.default_rng(9),
                code="large-logits")
    freq, want = np.bincount(ids, minlength=4) / len(ids), _softmax_np(big)
    if np.max(np.abs(freq - want)) > 0.03:
        fail(f"logits (1e4, 9999, -1e4, 0) in float32 at T=1 must be sampled with probabilities "
             f"{np.round(want, 3).tolist()}; received frequencies {np.round(freq, 3).tolist()}. {overflow}",
             code="large-logits")
    for z, temperature, argmax in ((big, 1e-3, 0), (np.array([1.0, 3.0, 2.0]), 1e-308, 1)):
        what = f"sample_next(logits {z.tolist()} ({z.dtype}), tiled to (200, {len(z)}), temperature={temperature:g})"
        ids = draws(what, "any temperature > 0 is valid.", np.tile(z, (200, 1)), temperature=temperature,
                    rng=np.random.default_rng(10), code="tiny-temperature")
        if np.any(ids != argmax):
            fail(f"{what} must always return the argmax {argmax}; received ids {sorted(set(ids.tolist()))}. {overflow}",
                 code="tiny-temperature")
    one = draws("sample_next(logits of one token, shape (1, 1))", "a vocabulary of one token is valid.",
                np.array([[0.3]]), temperature=1.0, top_k=1, rng=np.random.default_rng(11), code="one-token-vocabulary")
    if one.tolist() != [0]:
        fail(f"with one token in the vocabulary sample_next must return it, id 0; received {one.tolist()}.",
             code="one-token-vocabulary")
    ids = draws(f"sample_next(logits of shape {batch.shape}, top_k=5)", "top_k = V keeps every token.", batch,
                temperature=1.0, top_k=len(logits), rng=np.random.default_rng(12), code="top-k-equals-V")
    freq, want = np.bincount(ids, minlength=len(logits)) / len(ids), _softmax_np(logits)
    if np.max(np.abs(freq - want)) > 0.03:
        fail(f"top_k = V = {len(logits)} keeps every token, so the frequencies should be softmax(logits) = "
             f"{np.round(want, 3).tolist()}; received {np.round(freq, 3).tolist()}.", code="top-k-equals-V")
    # Tokens 0 and 4 are outside the top 3, so their probability is 0, whatever the uniform draw u in [0, 1).
    cut = np.array([-4.0, -1.5, 2.0, 0.0, -4.0])
    for u in (0.0, float(np.nextafter(1.0, 0.0))):
        what = f"sample_next({cut.tolist()}, temperature=1.0, top_k=3, rng) with a first uniform draw of u = {u!r}"
        got = _call_valid(what, "any rng state is valid.", sample_next, cut, temperature=1.0, top_k=3,
                          rng=generator_with_first_draw(u), code="zero-probability-drawn")
        if np.ndim(got) != 0 or int(got) not in (1, 2, 3):
            fail(f"{what} returned {got!r}; top_k=3 keeps tokens 1, 2 and 3 only, so tokens 0 and 4 have probability "
                 "0 and must never be drawn. In an inverse CDF take the first token whose cumulative probability is "
                 "> u (not >= u), with the cumulative sums divided by their last value so that they end at exactly 1.0 "
                 "(or use rng.choice(V, p=p)).", code="zero-probability-drawn")
    for bad in (0.0, -1.0):
        try:
            with np.errstate(all="ignore"):
                sample_next(logits, temperature=bad, rng=np.random.default_rng(0))
        except ValueError:
            continue
        except Exception as err:  # noqa: BLE001: the student's error
            raise CheckFailed(f"sample_next(logits, temperature={bad}) should raise ValueError (the temperature must "
                              f"be > 0); it raised {type(err).__name__}: {err}", code="not-ValueError") from err
        fail(f"sample_next(logits, temperature={bad}) must raise ValueError: the temperature must be > 0 "
             "(dividing by 0 or flipping the sign of the logits is not a distribution).",
             code="temperature-not-positive-accepted")


def _ids(value, what: str) -> list[int]:
    """The token ids the student's function returned, flattened to a list of ints; fails unless they are integers."""
    with guard(f"reading the ids that {what} returned"):
        array = np.asarray(value).reshape(-1)
    if not (np.issubdtype(array.dtype, np.integer) or (np.issubdtype(array.dtype, np.floating)
                                                       and np.all(array == np.round(array)))):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:80] + "..."
        fail(f"{what} must return integer token ids. Received {type(value).__name__} {shown}.", code="ids-not-integer")
    return [int(t) for t in array]


class _FlatLM:
    def __init__(self, vocab):
        self.V = vocab

    def step(self, token_ids, state):
        return np.zeros((1, self.V)), state


class _FixedLM:
    def step(self, token_ids, state):
        return np.array([[0.0, 1.0, 2.0, -1.0]]), state
