"""Public checks for notebook 05, stacked and bidirectional RNNs.

Each check runs the student's answer on small deterministic inputs, compares it with
Keras's own layers (`keras.layers.Bidirectional`, `keras.layers.GRU`) or NumPy, and prints
one "✓" line, or raises `CheckFailed` with a hint that names the wrong part. They write
only to stdout and never depend on a training run.

| check                  | exercise                                                                     |
|------------------------|------------------------------------------------------------------------------|
| `check_birnn`          | 5.1 a bidirectional layer around a given cell, against                       |
|                        | `keras.layers.Bidirectional(merge_mode="concat")` after a weight transplant  |
| `check_stacked_rnn`    | 5.2 L stacked sequence layers with optional residuals (a bias-free `Dense`   |
|                        | projection where the sizes differ)                                           |
| `check_masked_pooling` | 5.3 masked mean and max over time                                            |

The probes are right-padded batches whose padded steps hold large non-zero values, so any
padding that leaks in shows; the max is probed on all-negative states, where a padded 0
would win. Sequence outputs are compared at the real steps only (what a layer emits at a
padded step is its own business: Keras's RNN repeats the last output unless told
`zero_output_for_mask=True`).

Tolerances (float32): outputs and states within `OUTPUT_ATOL` = 1e-5, gradients (one SGD
step with learning rate 1 on an MSE loss) within `GRAD_ATOL` = 1e-4.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from rnn_course.checks import attribute, expect_close, fail, guard, passed, to_numpy
from rnn_course.checks.cells import GRAD_ATOL, OUTPUT_ATOL, call, sgd_step_deltas, unroll

#: Right-padded probe masks: the first sequence has 3 real steps of 5, the second all 5.
MASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)


def _probe(rng, batch=2, steps=5, dim=3, pad_value=7.0):
    """Inputs `(batch, steps, dim)` whose padded steps (MASK False) hold `pad_value`: any leak shows."""
    x = rng.normal(size=(batch, steps, dim)).astype("float32")
    x[~MASK] = pad_value
    return x


def _valid(seq):
    """The real steps of a `(2, 5, d)` sequence as one `(n_real, d)` array."""
    return to_numpy(seq)[MASK]


def _close(a, b, atol=OUTPUT_ATOL) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, atol=atol, rtol=0))


def _as_list(result):
    return list(result) if isinstance(result, (list, tuple)) else [result]


# ------------------------------------------------------------ 5.1 the bidirectional layer
_ELMAN_CELL = None


def elman_cell_class():
    """A cell the course wrote itself, not one of Keras's: the lecture's Elman cell in `keras.ops`.

    h(t) = tanh(W_h h(t-1) + W_e e(t) + b), as notebook 02's exercise 2.1 (which a notebook
    cannot import). The layers of notebook 05 must wrap any cell class, so the checks probe
    them with this one as well as Keras's: it has no Keras-internal shortcut (no cuDNN
    path, no `reset_dropout_mask`), only `state_size`, `output_size`, `build`, `call`,
    `get_initial_state` and `get_config`. Registered for saving as `rnn_course_checks>ElmanCell`.

    Returns:
        The class (created once, on first use, so that importing the checks does not import Keras).
    """
    global _ELMAN_CELL
    if _ELMAN_CELL is None:
        import keras
        from keras import ops

        @keras.saving.register_keras_serializable(package="rnn_course_checks")
        class ElmanCell(keras.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = int(units)
                self.state_size = self.units
                self.output_size = self.units

            def build(self, input_shape):
                self.W_e = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform",
                                           name="W_e")
                self.W_h = self.add_weight(shape=(self.units, self.units), initializer="orthogonal", name="W_h")
                self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

            def call(self, inputs, states, training=None):
                h = ops.tanh(ops.matmul(states[0], self.W_h) + ops.matmul(inputs, self.W_e) + self.b)
                return h, [h]

            def get_initial_state(self, batch_size=None):
                return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

            def get_config(self):
                return {**super().get_config(), "units": self.units}

        _ELMAN_CELL = ElmanCell
    return _ELMAN_CELL


def _cells():
    import keras

    return {"keras.layers.SimpleRNNCell(3, activation='relu')": lambda: keras.layers.SimpleRNNCell(3, activation="relu"),
            "keras.layers.LSTMCell(3)": lambda: keras.layers.LSTMCell(3),
            "ElmanCell(3), a cell of the course's own": lambda: elman_cell_class()(3)}


def _directions(layer, what):
    """The student's forward_layer and backward_layer, each a keras.layers.RNN, with no variable in common."""
    import keras

    expected = ("two keras.layers.RNN layers, self.forward_layer and self.backward_layer (go_backwards=True), "
                "created in __init__")
    fw = attribute(layer, "forward_layer", owner=what, expected=expected)
    bw = attribute(layer, "backward_layer", owner=what, expected=expected)
    for name, rnn in (("forward_layer", fw), ("backward_layer", bw)):
        if not isinstance(rnn, keras.layers.RNN):
            fail(f"{what}.{name} is a {type(rnn).__name__}; expected a keras.layers.RNN around the cell.",
                 code="direction-not-rnn")
    with guard(f"reading the weights of {what}'s two directions"):
        shared = {id(v) for v in fw.weights} & {id(v) for v in bw.weights}
        same_cell = fw.cell is bw.cell
    if fw is bw or same_cell or shared:
        fail(f"{what}: the forward and backward directions share weights (the same cell object in both RNNs). "
             "Each direction needs its own: give the backward RNN a new cell of the same class and configuration, "
             "cell.__class__.from_config(cell.get_config()).", code="shared-weights")
    with guard(f"reading the configuration of {what}'s two cells"):
        fw_config = {k: v for k, v in fw.cell.get_config().items() if k != "name"}
        bw_config = {k: v for k, v in bw.cell.get_config().items() if k != "name"}
    differing = sorted(k for k in fw_config.keys() | bw_config.keys() if fw_config.get(k) != bw_config.get(k))
    if differing:
        fail(f"{what}: the backward cell is not configured as the forward one ("
             + "; ".join(f"{k}: {fw_config.get(k)!r} forward, {bw_config.get(k)!r} backward" for k in differing[:3])
             + "). Create it from the cell's own settings, cell.__class__.from_config(cell.get_config()), not from "
             "its units alone.", code="backward-cell-config")
    if not attribute(bw, "go_backwards", owner=f"{what}.backward_layer", expected="go_backwards=True"):
        fail(f"{what}.backward_layer reads the sequence forwards: create it with go_backwards=True (it then starts at "
             "each sequence's last real step, with a mask), or it is just a second forward RNN.",
             code="backward-not-reversed")
    return fw, bw


def _fail_birnn_output(what, got, ref, x, mask, return_sequences, units):
    """Fails with a hint for an output that differs: tries the known mistakes with Keras's own two directions."""
    from keras import ops

    seq = return_sequences
    fw = to_numpy(ref.forward_layer(x, mask=mask)[0])
    bw_raw = to_numpy(ref.backward_layer(x, mask=mask)[0])
    bw = to_numpy(ops.flip(bw_raw, axis=1)) if seq else bw_raw
    bw_nomask = to_numpy(ref.backward_layer(x)[0])
    bw_nomask = to_numpy(ops.flip(bw_nomask, axis=1)) if seq else bw_nomask
    got = to_numpy(got)
    pick = _valid if seq else (lambda a: a)  # noqa: E731
    prefix = (f"{what}: the output differs from keras.layers.Bidirectional(merge_mode=\"concat\") with the same "
              "weights (at the real steps of a right-padded batch). ")
    candidates = (
        ("backward-not-re-reversed",
         "the backward half is in reversed time order: the backward RNN's outputs come out last step first; flip "
         "them back along time (ops.flip(y, axis=1)) before concatenating.",
         np.concatenate([fw, bw_raw], -1) if seq else None),
        ("backward-mask-ignored",
         "the backward half starts in the padding: pass the mask to the backward RNN too, so that it starts at each "
         "sequence's last real step.", np.concatenate([fw, bw_nomask], -1)),
        ("concat-order", "the halves are in the wrong order: concatenate [forward, backward] along the last axis.",
         np.concatenate([bw, fw], -1)),
    )
    for code, hint, candidate in candidates:
        if candidate is not None and _close(pick(got), pick(candidate)):
            fail(prefix + hint, code=code)
    if got.shape[-1] == 2 * units and _close(pick(got)[..., :units], pick(fw)):
        fail(prefix + "the forward half matches, the backward half does not: run the backward RNN (go_backwards=True) "
             "on the same inputs with the same mask, and flip its output sequence back.", code="backward-half-wrong")
    fail(prefix + "concatenate the forward RNN's output and the backward RNN's output, [forward, backward], along the "
         "last axis.", code="output-differs")


def _unroll_on_jax(*rnns):
    """Unrolls the student's RNNs on the short probes on JAX (`rnn_course.checks.cells.unroll`): the same
    numbers, without compiling a `lax.scan` for every layer."""
    if unroll():
        for rnn in rnns:
            rnn.unroll = True


def _birnn_pair(BiRNN, make_cell, cell_name, rng, x, return_sequences):
    """Keras's Bidirectional and the student's layer with the same weights, both built on `x`."""
    import keras

    what = f"BiRNN({cell_name}, return_sequences={return_sequences}, return_state=True)"
    ref = keras.layers.Bidirectional(keras.layers.RNN(make_cell(), return_sequences=return_sequences,
                                                      return_state=True, unroll=unroll()))
    ref(x)
    for v in ref.weights:
        v.assign(rng.normal(scale=0.6, size=tuple(v.shape)).astype("float32"))
    mine = call(what, BiRNN, make_cell(), return_sequences=return_sequences, return_state=True)
    call(f"calling {what} on inputs of shape {x.shape}", mine, x)
    fw, bw = _directions(mine, what)
    _unroll_on_jax(fw, bw)
    for name, src, dst in (("forward", ref.forward_layer, fw), ("backward", ref.backward_layer, bw)):
        with guard(f"copying keras.layers.Bidirectional's {name} weights into your {name}_layer"):
            dst.set_weights(src.get_weights())
    return what, ref, mine


def check_birnn(BiRNN) -> None:
    """Checks `BiRNN(cell, return_sequences=False, return_state=False)` against `keras.layers.Bidirectional`.

    It must hold `self.forward_layer` and `self.backward_layer`, two `keras.layers.RNN` with
    separate weights (the backward one `go_backwards=True`); run both on the inputs with the
    mask; flip the backward outputs back into time order when returning sequences; return
    `concat([forward, backward], axis=-1)`, `(batch, T, 2 units)` or `(batch, 2 units)`, and
    with `return_state` the forward states then the backward ones. Probed with Keras's
    LSTMCell (two states; sequences on and off), SimpleRNNCell with a ReLU (the backward cell
    must keep the cell's settings) and a cell of the course's own (`elman_cell_class`, not one
    of Keras's), right-padded masks, gradients (SimpleRNN), and save/load (GRUCell, and the
    course's cell).

    Raises:
        CheckFailed: with a hint naming the wrong part.
    """
    import keras

    rng = np.random.default_rng(51)
    x = _probe(rng)
    units = 3
    cells = _cells()
    for cell_name, return_sequences in (("keras.layers.LSTMCell(3)", True), ("keras.layers.LSTMCell(3)", False),
                                        ("keras.layers.SimpleRNNCell(3, activation='relu')", True),
                                        ("ElmanCell(3), a cell of the course's own", False)):
        make_cell = cells[cell_name]
        what, ref, mine = _birnn_pair(BiRNN, make_cell, cell_name, rng, x, return_sequences)
        expected = _as_list(ref(x, mask=MASK))
        got = _as_list(call(f"{what} on inputs of shape {x.shape} with a mask", mine, x, mask=MASK))
        if len(got) != len(expected):
            fail(f"{what} returned {len(got)} tensor(s); expected {len(expected)}: the output, then the forward "
                 "RNN's final states, then the backward RNN's.", code="return-state-wrong")
        out = to_numpy(got[0], f"the output of {what}")
        shape = (2, 5, 2 * units) if return_sequences else (2, 2 * units)
        if out.shape != shape:
            fail(f"{what} returned an output of shape {out.shape}; expected {shape}: the forward and backward "
                 "outputs concatenated along the last axis.", code="wrong-shape")
        pick = _valid if return_sequences else to_numpy
        if not _close(pick(out), pick(expected[0])):
            _fail_birnn_output(what, out, ref, x, MASK, return_sequences, units)
        for i, (a, e) in enumerate(zip(got[1:], expected[1:])):
            expect_close(a, e, what=f"{what}'s final state {i + 1}", atol=OUTPUT_ATOL,
                         hint="return [output, *forward_states, *backward_states], each direction's final states "
                              "as its RNN returns them (return_state=True).", code="final-states-wrong")
    # return_state=False: one tensor.
    plain = call("BiRNN(keras.layers.GRUCell(3))", BiRNN, keras.layers.GRUCell(3))
    _unroll_on_jax(*_directions(plain, "BiRNN(keras.layers.GRUCell(3))"))
    single = call("BiRNN(keras.layers.GRUCell(3)) on inputs", plain, x)
    if isinstance(single, (list, tuple)):
        fail("BiRNN(cell) with return_state=False returned a list; expected a single tensor (batch, 2 units).",
             code="list-without-return-state")
    _check_birnn_gradients(BiRNN, rng)
    _check_birnn_save_load(BiRNN, x, "keras.layers.GRUCell(3)", lambda: keras.layers.GRUCell(3))
    _check_birnn_save_load(BiRNN, x, "ElmanCell(3)", cells["ElmanCell(3), a cell of the course's own"])
    passed("BiRNN: outputs (return_sequences on and off) and final states match keras.layers.Bidirectional with "
           "the same weights on right-padded masked batches (LSTMCell, SimpleRNNCell with a ReLU and a cell of the "
           f"course's own; within {OUTPUT_ATOL:g}), "
           f"the gradients too (within {GRAD_ATOL:g}); the two directions have their own weights; it saves and loads.")


def _check_birnn_gradients(BiRNN, rng):
    import keras

    x = rng.normal(size=(2, 4, 3)).astype("float32")
    y = rng.normal(size=(2, 4, 6)).astype("float32")
    ref = keras.Sequential([keras.Input((4, 3)), keras.layers.Bidirectional(
        keras.layers.SimpleRNN(3, return_sequences=True, unroll=unroll()))])
    for v in ref.weights:
        v.assign(rng.normal(scale=0.6, size=tuple(v.shape)).astype("float32"))
    what = "keras.Sequential([keras.Input((4, 3)), BiRNN(keras.layers.SimpleRNNCell(3), return_sequences=True)])"
    with guard(what):
        mine = keras.Sequential([keras.Input((4, 3)), BiRNN(keras.layers.SimpleRNNCell(3), return_sequences=True)])
    fw, bw = _directions(mine.layers[0], "BiRNN")
    _unroll_on_jax(fw, bw)
    with guard("copying keras.layers.Bidirectional's weights into your two directions"):
        fw.set_weights(ref.layers[0].forward_layer.get_weights())
        bw.set_weights(ref.layers[0].backward_layer.get_weights())
    ref_ids = [id(v) for v in ref.trainable_weights]
    ref_deltas = sgd_step_deltas(ref, x, y)
    mine_ids = [id(v) for v in mine.trainable_weights]
    deltas = call("a training step on your BiRNN", sgd_step_deltas, mine, x, y)
    for direction, src, dst in (("forward", ref.layers[0].forward_layer, fw), ("backward",
                                                                              ref.layers[0].backward_layer, bw)):
        for v_ref, v_mine in zip(src.trainable_weights, dst.trainable_weights):
            if id(v_mine) not in mine_ids:
                fail(f"the {direction} direction's weight {v_mine.name} is not among the model's trainable weights: "
                     "create the two RNNs in __init__ as attributes of the layer, so Keras tracks them.",
                     code="weight-not-tracked")
            expect_close(deltas[mine_ids.index(id(v_mine))], ref_deltas[ref_ids.index(id(v_ref))],
                         what=f"the gradient for the {direction} direction's {v_mine.name}", atol=GRAD_ATOL, rtol=0,
                         hint="the outputs match, so the gradients should too: compute the output only with keras.ops "
                              "from the two RNNs' outputs.", code="gradient-differs")


def _check_birnn_save_load(BiRNN, x, cell_name, make_cell):
    import keras

    what = f"keras.Sequential([keras.Input((None, 3)), BiRNN({cell_name}, return_sequences=True)])"
    with guard(what):
        model = keras.Sequential([keras.Input((None, 3)), BiRNN(make_cell(), return_sequences=True)])
    before = to_numpy(call("model.predict with your BiRNN", model.predict, x, verbose=0), "model.predict")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "birnn.keras")
        call("model.save", model.save, path)
        loaded = call("keras.saving.load_model", keras.saving.load_model, path)
    if not isinstance(loaded.layers[0], BiRNN):
        fail(f"the loaded model's layer is a {type(loaded.layers[0]).__name__}, not your BiRNN: register the class "
             "with @keras.saving.register_keras_serializable().", code="loaded-layer-not-yours")
    expect_close(call("the loaded model's predict", loaded.predict, x, verbose=0), before,
                 what="outputs after save and load", atol=OUTPUT_ATOL,
                 hint="get_config must return everything __init__ needs, and both directions must be built in build().",
                 code="save-load-differs")


# ------------------------------------------------------------ 5.2 the stacked RNN
#: How the check names the stack of `_stack_layers`.
STACK_NAME = "[Bidirectional(GRU(2)), Bidirectional(GRU(2)), RNN(ElmanCell(5))]"


def _stack_layers():
    """Three sequence layers 3 -> 4 -> 4 -> 5, not built: the first two bidirectional, so that every layer
    before the last needs the mask (with residuals, the sum of a layer's output and its input carries no
    mask on to the next layer), with non-zero biases, so that padding set to 0 still shows; the last an RNN
    around a cell of the course's own."""
    import keras

    steps = {"return_sequences": True, "unroll": unroll()}

    def gru():
        return keras.layers.GRU(2, bias_initializer=keras.initializers.RandomNormal(stddev=0.5, seed=52), **steps)

    return [keras.layers.Bidirectional(gru()), keras.layers.Bidirectional(gru()),
            keras.layers.RNN(elman_cell_class()(5), **steps)]


def stacked_reference(layers, projections, x, mask, residual):
    """h_i = layer_i(h_{i-1}, mask) (+ P_i h_{i-1} if residual; P_i a kernel `(d_in, d_out)` or None): the last h."""
    from keras import ops

    h = ops.convert_to_tensor(x)
    for layer, kernel in zip(layers, projections):
        out = layer(h, mask=mask)
        if residual:
            out = out + (h if kernel is None else ops.matmul(h, kernel))
        h = out
    return to_numpy(h)


def _projection_kernels(stack, what, residual, sizes):
    """The student's P_i kernels (None for identity), after checking each is a bias-free linear Dense of the right shape."""
    import keras

    projections = attribute(stack, "projections", owner=what,
                            expected="a list with one entry per layer, set in build(): a Dense(size, use_bias=False) "
                                     "where the sizes differ, None where they match")
    with guard(f"reading {what}.projections"):
        projections = list(projections)
    if len(projections) != len(sizes) - 1:
        fail(f"{what}.projections has {len(projections)} entries; expected {len(sizes) - 1}, one per layer (None where "
             "no projection is needed).", code="projections-wrong")
    kernels = []
    for i, p in enumerate(projections):
        d_in, d_out = sizes[i], sizes[i + 1]
        needed = residual and d_in != d_out
        if p is None:
            if needed:
                fail(f"{what}: layer {i + 1} maps size {d_in} to {d_out}, so its input cannot be added to its output "
                     f"as it is: project it first with keras.layers.Dense({d_out}, use_bias=False), created in "
                     "build().", code="projection-missing")
            kernels.append(None)
            continue
        if not residual:
            fail(f"{what} has residual=False but projections[{i}] is {type(p).__name__}: without residuals no "
                 "projection is used (set None).", code="projection-without-residual")
        if not isinstance(p, keras.layers.Dense):
            fail(f"{what}.projections[{i}] is a {type(p).__name__}; expected keras.layers.Dense({d_out}, "
                 "use_bias=False).", code="projection-not-dense")
        with guard(f"reading {what}.projections[{i}]"):
            use_bias, activation = p.use_bias, getattr(p.activation, "__name__", repr(p.activation))
            kernel = p.kernel if p.built else None
        if use_bias or activation != "linear":
            fail(f"{what}.projections[{i}] has use_bias={use_bias}, activation={activation!r}; expected a linear "
                 "projection: keras.layers.Dense(size, use_bias=False) with no activation.",
                 code="projection-not-linear")
        if not needed:
            fail(f"{what}: layer {i + 1} keeps size {d_in}, so its input is added as it is (the identity); "
                 f"projections[{i}] should be None.", code="projection-not-needed")
        if kernel is None or tuple(kernel.shape) != (d_in, d_out):
            fail(f"{what}.projections[{i}]'s kernel has shape {None if kernel is None else tuple(kernel.shape)}; "
                 f"expected ({d_in}, {d_out}), built in build().", code="projection-shape")
        kernels.append(kernel)
    return kernels


def check_stacked_rnn(StackedRNN) -> None:
    """Checks `StackedRNN(layers, residual=False)`: each layer reads the previous layer's output sequence.

    With `residual=True`, layer i's input is added to its output, through
    `projections[i] = keras.layers.Dense(size_i, use_bias=False)` where the sizes differ (None
    where they match). The mask goes to every layer. Probed on a stack 3 -> 4 -> 4 -> 5 whose
    first two layers are bidirectional (with non-zero biases), on right-padded batches and with
    mask=None, against the same layers run by hand.

    Raises:
        CheckFailed: with a hint naming the wrong part.
    """
    import keras

    rng = np.random.default_rng(52)
    x = _probe(rng)
    sizes = (3, 4, 4, 5)
    for residual in (False, True):
        what = f"StackedRNN({STACK_NAME}, residual={residual})"
        layers = _stack_layers()
        stack = call(what, StackedRNN, layers, residual=residual)
        got = call(f"{what} on inputs of shape {x.shape} with a mask", stack, x, mask=MASK)
        got = to_numpy(got, f"the output of {what}")
        if got.shape != (2, 5, 5):
            fail(f"{what} returned shape {got.shape}; expected (2, 5, 5): the last layer's output sequence.",
                 code="stack-wrong-shape")
        kernels = _projection_kernels(stack, what, residual, sizes)
        expected = stacked_reference(layers, kernels, x, MASK, residual)
        if _close(_valid(got), _valid(expected)):
            continue
        prefix = f"{what}: the output differs from the layers run by hand (at the real steps of a right-padded batch). "
        if residual and _close(_valid(got), _valid(stacked_reference(layers, kernels, x, MASK, False))):
            fail(prefix + "the residuals are missing: with residual=True add each layer's input (projected where the "
                 "sizes differ) to its output.", code="residual-skipped")
        if _close(_valid(got), _valid(stacked_reference(layers, kernels, x, None, residual))):
            fail(prefix + "the mask is not passed on: give every layer mask=mask, or the bidirectional layer's "
                 "backward direction starts in the padding.", code="mask-not-passed")
        fail(prefix + "run each layer on the previous layer's output sequence, with the mask.", code="stack-differs")
    what = f"StackedRNN({STACK_NAME}) on inputs of shape {x.shape}, mask=None"
    layers = _stack_layers()
    stack = call(what, StackedRNN, layers)
    got = to_numpy(call(what, stack, x), f"the output of {what}")
    expect_close(got, stacked_reference(layers, [None] * len(layers), x, None, False), what=what, atol=OUTPUT_ATOL,
                 hint="mask=None means every step is real: pass it on to each layer as it is.", code="stack-no-mask-wrong")
    passed("StackedRNN: each layer reads the previous layer's outputs with the mask; with residual=True each input is "
           "added to its layer's output, through a bias-free Dense where the sizes differ (3 -> 4 -> 4 -> 5 stack; "
           f"mask=None too; within {OUTPUT_ATOL:g}).")


# ------------------------------------------------------------ 5.3 masked pooling
def pooling_probe(rng):
    """All-negative states `(2, 5, 3)` whose padded steps hold +50: a leak into the mean or the max shows."""
    states = -rng.uniform(0.5, 2.0, size=(2, 5, 3)).astype("float32")
    states[~MASK] = 50.0
    return states


def masked_mean_reference(states, mask):
    return np.stack([states[b][mask[b]].mean(axis=0) for b in range(len(states))])


def masked_max_reference(states, mask):
    return np.stack([states[b][mask[b]].max(axis=0) for b in range(len(states))])


def check_masked_pooling(masked_mean, masked_max) -> None:
    """Checks `masked_mean(states, mask)` and `masked_max(states, mask)`: `(batch, T, d)` -> `(batch, d)`.

    Only the steps where `mask` is True count: the mean divides by each sequence's number of
    real steps, the max never picks a padded step (probed with all-negative states and a large
    value at padded steps, so a padded step that leaks in, as a value or as a 0, shows).
    `mask=None` means every step is real. Each row of a mask has at least one True.

    Raises:
        CheckFailed: with a hint naming the wrong part.
    """
    from keras import ops

    rng = np.random.default_rng(53)
    states = pooling_probe(rng)
    # For the max, the first feature's real states lie between -20000 and -5000: below the constants a max
    # might put in the padding (-1, -100, -1000; a fill far below every real state, such as -1e9, is as good
    # as -inf). Selecting is exact, so the large values cost no precision; the mean keeps the small ones.
    low = states.copy()
    low[..., 0] = np.where(MASK, states[..., 0] * 1e4, states[..., 0])
    for mask, mask_name in ((MASK, "a boolean mask"), (MASK.astype("float32"), "a 0/1 float mask")):
        what = f"masked_mean(states of shape {states.shape}, {mask_name})"
        got = to_numpy(call(what, masked_mean, ops.convert_to_tensor(states), ops.convert_to_tensor(mask)), what)
        expected = masked_mean_reference(states, MASK)
        if got.shape == expected.shape and not _close(got, expected):
            lengths = MASK.sum(1, keepdims=True)
            masked_sum = np.stack([states[b][MASK[b]].sum(0) for b in range(2)])
            if _close(got, masked_sum / MASK.shape[1]):
                fail(f"{what}: the sum is right but it is divided by the padded length T = {MASK.shape[1]}; divide "
                     f"by each sequence's number of real steps, the sum of its mask ({lengths.ravel().tolist()}).",
                     code="mean-padded-length")
            if _close(got, states.sum(1) / lengths):
                fail(f"{what}: the padded steps are in the sum: multiply the states by the mask before summing.",
                     code="mean-padding-summed")
            if _close(got, states.mean(1)):
                fail(f"{what}: the mask is ignored: this is the mean over all T steps, padding included.",
                     code="mean-mask-ignored")
        expect_close(got, expected, what=what, atol=OUTPUT_ATOL,
                     hint="the mean over the real steps only: sum(states * mask) / sum(mask), per sequence.",
                     code="mean-wrong")
        what = f"masked_max(states of shape {states.shape}, {mask_name}) (all real states negative)"
        got = to_numpy(call(what, masked_max, ops.convert_to_tensor(low), ops.convert_to_tensor(mask)), what)
        expected = masked_max_reference(low, MASK)
        if got.shape == expected.shape and not _close(got, expected):
            if np.any(got == 0.0):
                fail(f"{what}: returned 0 where every real state is negative: the padded steps were set to 0 "
                     "(states * mask), and 0 beats a negative number. Replace the padded steps by -inf instead "
                     "(ops.where(mask, states, -inf)).", code="max-picks-padding-zero")
            if _close(got, low.max(1)):
                fail(f"{what}: the mask is ignored: the max picks the padded steps.", code="max-mask-ignored")
            off = ~np.isclose(got, expected, atol=OUTPUT_ATOL)
            fill = got[off].flat[0] if off.any() else None
            if fill is not None and np.all(got[off] == fill) and np.all(fill > expected[off]):
                fail(f"{what}: returned {fill:g} where every real state is below it: the padded steps were replaced "
                     f"by {fill:g}, which then wins the max. Replace them by -inf (ops.where(mask, states, -inf)).",
                     code="max-padding-fill-too-high")
        expect_close(got, expected, what=what, atol=OUTPUT_ATOL,
                     hint="the max over the real steps only, never a padded one.", code="max-wrong")
    for name, fn, ref in (("masked_mean", masked_mean, lambda s: s.mean(1)),
                          ("masked_max", masked_max, lambda s: s.max(1))):
        what = f"{name}(states of shape {states.shape}, mask=None)"
        expect_close(call(what, fn, ops.convert_to_tensor(states), None), ref(states), what=what, atol=OUTPUT_ATOL,
                     hint="mask=None means every step is real.", code="no-mask-wrong")
    passed("masked_mean and masked_max: padding leaks into neither (boolean and 0/1 masks, all-negative states, "
           f"mask=None; within {OUTPUT_ATOL:g}).")


__all__ = ["check_birnn", "check_stacked_rnn", "check_masked_pooling", "stacked_reference", "MASK",
           "masked_mean_reference", "masked_max_reference"]
