"""Public checks for notebook 04, LSTM and GRU cells.

Each check runs the student's answer on small deterministic inputs, compares it
with Keras's own layers or the known formulas in float64 NumPy, and prints one
"✓" line, or raises `CheckFailed` with a hint that names the wrong term. They
write only to stdout and never depend on a training run.

| check                        | exercise                                                              |
|------------------------------|-----------------------------------------------------------------------|
| `check_lstm_cell`            | 4.1 the LSTM cell (f, i, o, c̃; forget bias 1; states [h, c]) against  |
|                              | `keras.layers.LSTM`                                                   |
| `check_gru_cell`             | 4.2 the GRU cell (u, r, h̃) against `keras.layers.GRU(reset_after=False)` |
| `check_state_gradient_norms` | 4.3 ‖∂J/∂s(t)‖ for every state s of a cell (h, and c for the LSTM)     |

The cells go through the stages of `rnn_course.checks.cells` (interface, config,
inside `keras.layers.RNN`, the formula, the built-in after a weight transplant with
go_backwards and a mask, gradients, save/load). A mismatch in the formula stage is
matched against the known mistakes (gates swapped, tanh for σ, o∘c, (1 − u) and u
swapped, the reset gate after the matmul, states in the wrong order, W and U swapped, W
transposed),
so the hint names the wrong term, and its mistake code (`forget-input-swapped`, ...) what
`rnn-course report` counts. The weights' names come from
`rnn_course.transplant.MAPPINGS` (W multiplies h(t-1), U the input x(t)).

Tolerances: outputs and states within 1e-5 of the built-in (absolute, float32),
gradients with respect to every weight within 1e-4; gradient norms within 1e-4
relative.
"""

from __future__ import annotations

import numpy as np

from rnn_course.checks import fail, mark, passed, to_numpy
from rnn_course.checks.cells import GRAD_ATOL, OUTPUT_ATOL, CellSpec, call, check_cell, weight

NORM_RTOL = 1e-4


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _swap_wu(weights, gates):
    """W_g and U_g exchanged for every gate g, or None when their shapes differ (input_dim != units)."""
    if any(weights[f"W_{g}"].shape != weights[f"U_{g}"].shape for g in gates):
        return None
    out = dict(weights)
    for g in gates:
        out[f"W_{g}"], out[f"U_{g}"] = weights[f"U_{g}"], weights[f"W_{g}"]
    return out


# ------------------------------------------------------------ 4.1 the LSTM
#: The same mistake in both cells: the input and recurrent weights exchanged.
_W_U_SWAPPED = mark("W and U are swapped: U_• multiplies the input x(t) and W_• the previous hidden state h(t-1) "
                    "(Keras: x(t) @ U_•, h(t-1) @ W_•).", "W-U-swapped")

#: The same mistake in both cells: the column-vector habit, h(t-1) @ W_•ᵀ for the lecture's W_• h(t-1).
_W_TRANSPOSED = mark("the recurrent weights are used transposed, h(t-1) @ W_•ᵀ: Keras multiplies row vectors, so the "
                     "lecture's W_• h(t-1) is h(t-1) @ W_• with W_• of shape (units, units), as Keras's "
                     "recurrent_kernel. Drop the transpose.", "W-transposed")


def _transpose_w(weights):
    """Every recurrent weight W_• transposed (the column-vector habit)."""
    return {k: (v.T if k.startswith("W_") else v) for k, v in weights.items()}


#: The hint when the cell is wrong only with input_dim == units, where a swapped product still has the
#: right shape (LSTM and GRU alike).
_WHICH_PRODUCT = mark("Check which matrix multiplies which vector: x(t) @ U_•, h(t-1) @ W_•.", "wrong-matrix-product")

LSTM_MISTAKES = (
    ("fi_swapped", mark("the forget and input gates are swapped: the forget gate f multiplies the previous cell state, "
                        "c(t) = f∘c(t-1) + i∘c̃(t); yours multiplies c(t-1) by i and the new content by f.",
                        "forget-input-swapped")),
    ("no_forget", mark("the forget gate is missing: c(t) = f∘c(t-1) + i∘c̃(t); yours adds c(t-1) unscaled.",
                       "no-forget-gate")),
    ("gates_tanh", mark("the gates use tanh where σ belongs: f, i and o are σ(W h(t-1) + U x(t) + b) (ops.sigmoid), "
                        "between 0 and 1.",
                        "tanh-not-sigmoid")),
    ("candidate_sigmoid", mark("the new content uses σ where tanh belongs: c̃(t) = tanh(W_c h(t-1) + U_c x(t) + b_c).",
                               "candidate-sigmoid-not-tanh")),
    ("h_o_c", mark("h(t) = o∘c(t) in your cell: the tanh is missing, h(t) = o(t)∘tanh(c(t)).",
                   "o-times-c-not-tanh-c")),
    ("h_o_sigmoid_c", mark("h(t) = o∘σ(c(t)) in your cell: the output squashes the cell with tanh, h(t) = o(t)∘tanh(c(t)).",
                           "o-times-sigmoid-c")),
    ("io_swapped", mark("the input and output gates are swapped: i(t) scales the new content c̃(t), o(t) scales "
                        "tanh(c(t)) into h(t).",
                        "input-output-swapped")),
    ("states_order", mark("the states are in the wrong order: Keras's LSTM keeps [h, c], h first. Read "
                          "`h_prev, c_prev = states` and return `h, [h, c]`.",
                          "states-order")),
    ("wu_swapped", _W_U_SWAPPED),
    ("w_transposed", _W_TRANSPOSED),
)


def lstm_reference(x, weights, states0, mistake=None):
    """The lecture's LSTM in float64, Keras's row-vector form, with one known mistake written in.

    Args:
        x: `(batch, steps, input_dim)`.
        weights: `{"U_i", "W_i", "b_i", ... "o"}` as in `rnn_course.transplant.MAPPINGS["lstm"]`.
        states0: `[h0, c0]`, each `(batch, units)`, or None for zeros.
        mistake: a key of `LSTM_MISTAKES`, or None.

    Returns:
        `(outputs (batch, steps, units), [h(T), c(T)])`, or None if the mistake cannot show with
        these weights (W and U swapped needs input_dim == units).
    """
    w = weights
    if mistake == "wu_swapped":
        w = _swap_wu(weights, "ifco")
        if w is None:
            return None
    if mistake == "w_transposed":
        w = _transpose_w(weights)
    batch, units = x.shape[0], w["W_i"].shape[0]
    h, c = (np.zeros((batch, units)), np.zeros((batch, units))) if states0 is None else states0
    if mistake == "states_order" and states0 is not None:
        h, c = c, h
    gate = np.tanh if mistake == "gates_tanh" else _sigmoid
    squash = _sigmoid if mistake == "candidate_sigmoid" else np.tanh
    outputs = []
    for t in range(x.shape[1]):
        pre = {g: x[:, t] @ w[f"U_{g}"] + h @ w[f"W_{g}"] + w[f"b_{g}"] for g in "ifco"}
        i, f, o, c_new = gate(pre["i"]), gate(pre["f"]), gate(pre["o"]), squash(pre["c"])
        if mistake == "fi_swapped":
            i, f = f, i
        if mistake == "io_swapped":
            i, o = o, i
        c = (c if mistake == "no_forget" else f * c) + i * c_new
        h = o * {"h_o_c": lambda v: v, "h_o_sigmoid_c": _sigmoid}.get(mistake, np.tanh)(c)
        outputs.append(h)
    finals = [c, h] if mistake == "states_order" else [h, c]
    return np.stack(outputs, axis=1), finals


def lstm_spec(cell_class) -> CellSpec:
    """Exercise 4.1's cell as the cell-check protocol sees it (rnn_course.checks.cells)."""
    import keras

    return CellSpec(
        cell_class=cell_class, kind="lstm",
        formula="c(t) = f∘c(t-1) + i∘c̃(t), h(t) = o∘tanh(c(t))",
        row_formula="the LSTM (f, i, o = σ(h(t-1) W + x(t) U + b), c̃ = tanh(...), c(t) = f∘c(t-1) + i∘c̃, "
                    "h(t) = o∘tanh(c(t)))",
        builtin=lambda units, **kwargs: keras.layers.LSTM(units, **kwargs),
        builtin_name="keras.layers.LSTM",
        reference=lstm_reference, mistakes=LSTM_MISTAKES, state_names=("h", "c"),
        value_hint=mark("Check each term against the lecture: i, f, o = σ(W h(t-1) + U x(t) + b); "
                        "c̃ = tanh(W_c h(t-1) + U_c x(t) + b_c); c(t) = f∘c(t-1) + i∘c̃; h(t) = o∘tanh(c(t)).",
                        "wrong-LSTM-recurrence"),
        square_hint=_WHICH_PRODUCT,
        builtin_hint=mark("your cell must compute exactly what keras.layers.LSTMCell computes with the same weights "
                          "(Keras's kernel holds U_i, U_f, U_c, U_o side by side; see rnn_course.transplant).",
                          "differs-from-LSTM"),
        units=4, input_dim=3, batch=2, steps=6, seed=4)


def _forget_bias_is_one(cell) -> None:
    b_f = to_numpy(weight(cell, "b_f"), "the forget gate's bias b_f")
    if not np.allclose(b_f, 1.0):
        fail(f"b_f starts at {np.round(b_f, 3).tolist()}; expected ones: initialise the forget gate's bias to 1 "
             "(initializer=\"ones\"), as keras.layers.LSTM does (unit_forget_bias=True), so that at the start of "
             "training f ≈ σ(1) ≈ 0.73 and the cell keeps its memory.", code="forget-bias-not-1")


def check_lstm_cell(cell_class) -> None:
    """Checks an LSTM cell class against `keras.layers.LSTM`.

    It must: take `units`; set `state_size = [units, units]` (Keras's order [h, c]) and
    `output_size = units`; create in `build` the weights `U_i, U_f, U_c, U_o`
    `(input_dim, units)`, `W_i, W_f, W_c, W_o` `(units, units)` and `b_i, b_f, b_c, b_o`
    `(units,)`, with `b_f` initialised to ones; compute with `keras.ops`
    i, f, o = σ(h(t-1) @ W + x(t) @ U + b), c̃ = tanh(h(t-1) @ W_c + x(t) @ U_c + b_c),
    c = f∘c(t-1) + i∘c̃, h = o∘tanh(c), and return `(h, [h, c])`; give zeros from
    `get_initial_state(batch_size)`; and serialise.

    Raises:
        CheckFailed: with a hint naming the wrong term.
    """
    check_cell(lstm_spec(cell_class), after_build=_forget_bias_is_one)
    passed(f"{getattr(cell_class, '__name__', 'your cell')}: f, i, o, c̃ and c(t) = f∘c(t-1) + i∘c̃, "
           f"h(t) = o∘tanh(c(t)) match keras.layers.LSTM (outputs, both states, go_backwards, masks; within "
           f"{OUTPUT_ATOL:g}) and its gradients for all 12 weights (within {GRAD_ATOL:g}); b_f starts at 1; "
           "it saves and loads.")


# ------------------------------------------------------------ 4.2 the GRU
GRU_MISTAKES = (
    ("u_swapped", mark("(1 - u) and u are swapped: h(t) = (1 - u)∘h(t-1) + u∘h̃(t), the update gate u lets the new "
                       "content in. (Keras's z is 1 - u: Keras writes h = z∘h(t-1) + (1 - z)∘h̃.)",
                       "u-and-1-minus-u-swapped")),
    ("reset_after", mark("the reset gate is applied after the matmul, r∘(h(t-1) W_h) (Keras's reset_after=True); the "
                         "lecture's GRU resets the state before it: h̃ = tanh(W_h (r∘h(t-1)) + U_h x(t) + b_h).",
                         "reset-after-matmul")),
    ("no_reset", mark("the reset gate is not applied: h̃ = tanh(W_h (r∘h(t-1)) + U_h x(t) + b_h).",
                      "no-reset-gate")),
    ("ur_swapped", mark("the update and reset gates are swapped: u (from W_u, U_u, b_u) mixes h(t-1) and h̃, "
                        "r (from W_r, U_r, b_r) scales h(t-1) inside h̃.",
                        "update-reset-swapped")),
    ("gates_tanh", mark("the gates use tanh where σ belongs: u and r are σ(W h(t-1) + U x(t) + b) (ops.sigmoid).",
                        "tanh-not-sigmoid")),
    ("candidate_sigmoid", mark("the new content uses σ where tanh belongs: h̃ = tanh(W_h (r∘h(t-1)) + U_h x(t) + b_h).",
                               "candidate-sigmoid-not-tanh")),
    ("wu_swapped", _W_U_SWAPPED),
    ("w_transposed", _W_TRANSPOSED),
)


def gru_reference(x, weights, states0, mistake=None):
    """The lecture's GRU in float64 (Keras's `GRU(reset_after=False)` with u = 1 - z), with one mistake written in.

    Args:
        x: `(batch, steps, input_dim)`.
        weights: `{"U_u", "W_u", "b_u", "U_r", ..., "b_h"}` as in `rnn_course.transplant.MAPPINGS["gru"]`.
        states0: `[h0]` `(batch, units)`, or None for zeros.
        mistake: a key of `GRU_MISTAKES`, or None.

    Returns:
        `(outputs (batch, steps, units), [h(T)])`, or None if the mistake cannot show here.
    """
    w = weights
    if mistake == "wu_swapped":
        w = _swap_wu(weights, "urh")
        if w is None:
            return None
    if mistake == "w_transposed":
        w = _transpose_w(weights)
    batch, units = x.shape[0], w["W_u"].shape[0]
    h = np.zeros((batch, units)) if states0 is None else states0[0]
    gate = np.tanh if mistake == "gates_tanh" else _sigmoid
    squash = _sigmoid if mistake == "candidate_sigmoid" else np.tanh
    outputs = []
    for t in range(x.shape[1]):
        u = gate(x[:, t] @ w["U_u"] + h @ w["W_u"] + w["b_u"])
        r = gate(x[:, t] @ w["U_r"] + h @ w["W_r"] + w["b_r"])
        if mistake == "ur_swapped":
            u, r = r, u
        if mistake == "reset_after":
            recurrent = r * (h @ w["W_h"])
        elif mistake == "no_reset":
            recurrent = h @ w["W_h"]
        else:
            recurrent = (r * h) @ w["W_h"]
        h_new = squash(x[:, t] @ w["U_h"] + recurrent + w["b_h"])
        h = u * h + (1 - u) * h_new if mistake == "u_swapped" else (1 - u) * h + u * h_new
        outputs.append(h)
    return np.stack(outputs, axis=1), [h]


def gru_spec(cell_class) -> CellSpec:
    """Exercise 4.2's cell as the cell-check protocol sees it (rnn_course.checks.cells)."""
    import keras

    return CellSpec(
        cell_class=cell_class, kind="gru",
        formula="h(t) = (1 - u)∘h(t-1) + u∘h̃(t)",
        row_formula="the GRU (u, r = σ(h(t-1) W + x(t) U + b), h̃ = tanh((r∘h(t-1)) W_h + x(t) U_h + b_h), "
                    "h(t) = (1 - u)∘h(t-1) + u∘h̃)",
        builtin=lambda units, **kwargs: keras.layers.GRU(units, reset_after=False, **kwargs),
        builtin_name="keras.layers.GRU(reset_after=False)",
        reference=gru_reference, mistakes=GRU_MISTAKES, state_names=("h",),
        value_hint=mark("Check each term against the lecture: u, r = σ(W h(t-1) + U x(t) + b); "
                        "h̃ = tanh(W_h (r∘h(t-1)) + U_h x(t) + b_h); h(t) = (1 - u)∘h(t-1) + u∘h̃.",
                        "wrong-GRU-recurrence"),
        square_hint=_WHICH_PRODUCT,
        builtin_hint=mark("your cell must compute exactly what keras.layers.GRUCell(reset_after=False) computes with "
                          "the same weights (u = 1 - z: rnn_course.transplant negates z's blocks).", "differs-from-GRU"),
        units=4, input_dim=3, batch=2, steps=6, seed=5)


def check_gru_cell(cell_class) -> None:
    """Checks a GRU cell class against `keras.layers.GRU(reset_after=False)`.

    It must: take `units`; set `state_size` and `output_size` to `units`; create in `build`
    `U_u, U_r, U_h` `(input_dim, units)`, `W_u, W_r, W_h` `(units, units)` and
    `b_u, b_r, b_h` `(units,)`; compute with `keras.ops` u, r = σ(h(t-1) @ W + x(t) @ U + b),
    h̃ = tanh((r∘h(t-1)) @ W_h + x(t) @ U_h + b_h), h = (1 - u)∘h(t-1) + u∘h̃, and return
    `(h, [h])`; give zeros from `get_initial_state(batch_size)`; and serialise.

    Raises:
        CheckFailed: with a hint naming the wrong term.
    """
    check_cell(gru_spec(cell_class))
    passed(f"{getattr(cell_class, '__name__', 'your cell')}: u, r, h̃ and h(t) = (1 - u)∘h(t-1) + u∘h̃ match "
           f"keras.layers.GRU(reset_after=False) (outputs, states, go_backwards, masks; within {OUTPUT_ATOL:g}) "
           f"and its gradients for all 9 weights (within {GRAD_ATOL:g}); it saves and loads.")


# ------------------------------------------------------------ 4.3 the gradient through every state
def state_gradient_norms_reference(cell, inputs) -> np.ndarray:
    """‖∂J/∂s_k(t)‖ for every state s_k of `cell` and t = 1..T, J = sum of h(T): shape `(n_states, T)`.

    A zero offset is added to every state that leaves step t; the gradient with respect to it at 0
    is ∂J/∂s_k(t) (`rnn_course.gradients.value_and_grad`, one backward pass). The norm is taken
    over the whole `(batch, units)` array.
    """
    from keras import ops

    from rnn_course import gradients

    x = ops.convert_to_tensor(np.asarray(inputs, dtype="float32"))
    batch, steps = int(x.shape[0]), int(x.shape[1])
    states = list(cell.get_initial_state(batch_size=batch))
    n = len(states)
    if not cell.built:
        cell(x[:, 0], states)

    def unrolled(*offsets):
        s = states
        for t in range(steps):
            _, s = cell(x[:, t], s)
            s = [s_k + offsets[t * n + k] for k, s_k in enumerate(s)]
        return ops.sum(s[0])

    _, grads = gradients.value_and_grad(unrolled, [ops.zeros_like(s) for _ in range(steps) for s in states])
    norms = [float(np.linalg.norm(ops.convert_to_numpy(g).astype(np.float64))) for g in grads]
    return np.array(norms).reshape(steps, n).T


def _probe_cells():
    """A built-in LSTMCell and SimpleRNNCell, built, with fixed weights: what 4.3's check probes."""
    import keras

    rng = np.random.default_rng(43)
    cells = {}
    for name, cell in (("keras.layers.LSTMCell(3)", keras.layers.LSTMCell(3)),
                       ("keras.layers.SimpleRNNCell(3)", keras.layers.SimpleRNNCell(3))):
        cell.build((None, 2))
        for v in cell.weights:
            v.assign(rng.normal(scale=0.8, size=tuple(v.shape)).astype("float32"))
        cells[name] = cell
    return cells


def check_state_gradient_norms(state_gradient_norms) -> None:
    """Checks `state_gradient_norms(cell, inputs) -> (n_states, T)` array of ‖∂J/∂s_k(t)‖, J = sum of h(T).

    Probed on a built-in `LSTMCell` (states [h, c]) and `SimpleRNNCell` (state [h]) with fixed
    weights, against the same gradient taken by `rnn_course.gradients.value_and_grad`.

    Raises:
        CheckFailed: with a hint naming the wrong part.
    """
    x = np.random.default_rng(44).normal(size=(2, 7, 2)).astype("float32")  # (batch, T, input_dim)
    for name, cell in _probe_cells().items():
        expected = state_gradient_norms_reference(cell, x)
        got = call(f"state_gradient_norms({name}, inputs of shape {x.shape})", state_gradient_norms, cell, x)
        got = to_numpy(got, f"what state_gradient_norms({name}, ...) returned")
        n, steps = expected.shape
        if got.shape != expected.shape:
            extra = " (one row per state: h, then c)" if n == 2 else " (one row per state)"
            fail(f"state_gradient_norms({name}, inputs of shape {x.shape}) returned shape {got.shape}; expected "
                 f"(n_states, T) = {expected.shape}{extra}.",
                 code="steps-by-states" if got.shape == expected.shape[::-1] else "wrong-shape")
        if np.allclose(got, expected, rtol=NORM_RTOL, atol=1e-6):
            continue
        hint, code = None, "wrong-state-gradient-norms"
        if n == 2 and np.allclose(got[0], expected[0], rtol=NORM_RTOL) and np.allclose(got[1], 0):
            hint, code = ("the gradient through c(t) is zero everywhere: add an offset to every state that leaves "
                          "step t (h and c), not only to h."), "offset-on-h-only"
        elif np.allclose(got, expected[:, ::-1], rtol=NORM_RTOL):
            hint, code = ("the steps are in reverse order: column t - 1 is step t, so the last column is t = T.",
                          "steps-reversed")
        elif np.allclose(got, expected ** 2, rtol=NORM_RTOL):
            hint, code = ("these are squared norms: return the Euclidean norm, the square root of the sum of squares.",
                          "squared-norm")
        elif n == 2 and np.allclose(got[::-1], expected, rtol=NORM_RTOL):
            hint, code = ("the rows are in the wrong order: row 0 is h(t), row 1 is c(t), Keras's order of the states.",
                          "rows-order")
        elif np.allclose(got[0, -1], expected[0, -1], rtol=NORM_RTOL):
            hint, code = ("the last step matches but earlier ones do not: J is the sum of h(T) only, the last "
                          "hidden state, not of every h(t); and the offset must be added after each step, to the "
                          "state that the next step reads."), "J-not-sum-of-h-T"
        worst = float(np.max(np.abs(got - expected) / np.maximum(np.abs(expected), 1e-6)))
        fail(f"state_gradient_norms({name}, ...) differs from ‖∂J/∂s(t)‖ (J = sum of h(T)) by up to {worst:.3g} "
             "relative. " + (hint or "Unroll the cell step by step, add a zero offset to each state after each "
                                     "step, and differentiate J with respect to the offsets "
                                     "(rnn_course.gradients.value_and_grad)."), code=code)
    passed("state_gradient_norms: ‖∂J/∂h(t)‖ and ‖∂J/∂c(t)‖ for every step match the reference for an LSTMCell "
           f"and a SimpleRNNCell (within {NORM_RTOL:g} relative).")


__all__ = ["check_lstm_cell", "check_gru_cell", "check_state_gradient_norms", "lstm_reference", "gru_reference",
           "state_gradient_norms_reference", "LSTM_MISTAKES", "GRU_MISTAKES"]
