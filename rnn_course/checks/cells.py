"""The cell-check protocol: the named stages that every student RNN cell goes through.

A public check for a recurrent cell (notebook 02's Elman cell, notebook 04's LSTM and GRU)
describes the cell in a `CellSpec` and calls `check_cell(spec)`, which runs the stages
below in order and stops at the first that fails, with a hint. The model is Keras's own
`run_layer_test` (keras/src/testing/test_case.py), which puts every layer through the same
sequence: instantiate, config round trip, build, call, masks, save/load.

| stage                | what it checks                                                                   |
|----------------------|----------------------------------------------------------------------------------|
| `stage_class`        | a `keras.layers.Layer` subclass whose `call` uses `keras.ops` only               |
| `stage_interface`    | `state_size`, `output_size`, `get_initial_state(batch_size)` (zeros, one per state) |
| `stage_config`       | `get_config` -> `from_config` round trip, and registration with Keras           |
| `stage_inside_rnn`   | runs inside `keras.layers.RNN`; its weights have the lecture's names and shapes |
| `stage_formula`      | the recurrence against float64 NumPy, non-zero bias and initial states, and with |
|                      | input_dim == units (where swapped weights show); known mistakes are named       |
| `stage_builtin`      | after a weight transplant (`rnn_course.transplant`), outputs and every state     |
|                      | equal the Keras built-in's, forwards, with `go_backwards` and with a mask        |
| `stage_gradients`    | the gradient of a loss with respect to every weight equals the built-in's       |
| `stage_save_load`    | a model using the cell saves and loads, and predicts the same                    |

Every access to the student's objects goes through `guard`, `attribute` or `method`
(rnn_course.checks), so a missing or broken piece gives a hint, never a raw traceback.

Every hint carries a mistake code (rnn_course.checks: `[mistake: <code>]`). The stages give
their own (`state-size-wrong`, `config-round-trip`, `weight-shapes-swapped`, `go-backwards-ignored`,
`gradient-differs`, ...); a hint of the `CellSpec` (a known mistake, `value_hint`, ...) gives
the code it is marked with (`rnn_course.checks.mark`), or the stage's default if it is not
marked (`hint_code`). An error raised inside `keras.layers.RNN` is `raised-inside-RNN` on every
backend (TensorFlow and JAX raise different classes for the same wrong matmul).

Tolerances (float32): outputs and states within `OUTPUT_ATOL` = 1e-5 of the built-in,
gradients within `GRAD_ATOL` = 1e-4 (one SGD step with learning rate 1 on an MSE loss).
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import tempfile
from typing import Callable

import numpy as np

from rnn_course.checks import _MARK, CheckFailed, attribute, expect_close, fail, guard, mark, method, to_numpy

OUTPUT_ATOL = 1e-5
GRAD_ATOL = 1e-4
_FOREIGN = re.compile(r"\b(tf|tensorflow|jnp|jax|torch|np|numpy|math)\s*\.")


# ------------------------------------------------------------------ helpers
def call(what, fn, *args, **kwargs):
    """Runs student code; any exception becomes a hint naming the call (the student's error is the cause)."""
    with guard(what):
        return fn(*args, **kwargs)


def unroll() -> bool:
    """Unroll the short probe sequences on JAX: an eager `lax.scan` is compiled anew at every call,
    while the unrolled steps run op by op from JAX's cache. TensorFlow keeps its `while_loop`."""
    import keras

    return keras.backend.backend() == "jax"


def code_of(fn) -> str | None:
    """The source of a function without comments or docstrings (None if unavailable)."""
    try:
        src = inspect.getsource(fn)
    except Exception:  # noqa: BLE001: OSError, TypeError, or a student's object that inspect cannot read
        return None
    src = re.sub(r'("""|\'\'\')(.|\n)*?\1', "", src)
    return "\n".join(line.split("#", 1)[0] for line in src.splitlines())


def foreign_call(fn) -> str | None:
    """The first `np.`, `tf.`, `jnp.`, `torch.` or `math.` call in `fn`'s source, or None."""
    code = code_of(fn)
    if code is None:
        return None
    m = _FOREIGN.search(code)
    return m.group(0).rstrip(" .") if m else None


def is_size(value, units, *, sequences=True) -> bool:
    """Whether a student's `state_size` (or `units`) is `units`, or `[units]` / `(units,)` if `sequences`."""
    options = (units, [units], (units,)) if sequences else (units,)
    try:
        return any(bool(value == o) for o in options)
    except Exception:  # noqa: BLE001: an object whose comparison raises is not a size
        return False


def hint_code(hint: str | None, default: str) -> str:
    """The mistake code `hint` is marked with (`rnn_course.checks.mark`; the last marker), or `default`."""
    found = _MARK.findall(hint or "")
    return found[-1] if found else default


def weight(cell, name):
    """The cell's variable `self.{name}`; fails with a hint naming the cell's weights if it is not one."""
    expected = f"`self.{name} = self.add_weight(..., name={name!r})` in build()"
    v = attribute(cell, name, owner="your cell", expected=expected, default=None)
    with guard(f"reading your cell's weight self.{name}"):
        is_variable = v is not None and hasattr(v, "assign") and hasattr(v, "shape")
    if not is_variable:
        with guard("reading your cell's weights"):
            names = [str(getattr(w, "path", None) or getattr(w, "name", w)).split("/")[-1]
                     for w in getattr(cell, "weights", [])]
        fail(f"your cell has no weight `self.{name}`. Expected {expected}; its weights are {names}.",
             code="missing-weight")
    return v


def sgd_step_deltas(model, x, y):
    """-gradient of the MSE loss for each weight, via one SGD step with learning rate 1 (any backend)."""
    import keras

    before = [to_numpy(w) for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse", run_eagerly=True)
    model.train_on_batch(x, y)
    return [to_numpy(w) - b for w, b in zip(model.trainable_weights, before)]


def _short(variable) -> str:
    return str(getattr(variable, "path", None) or variable.name).split("/")[-1].split(":")[0]


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


# ------------------------------------------------------------------ the description of a cell
@dataclasses.dataclass
class CellSpec:
    """What a check knows about the cell it checks.

    Attributes:
        cell_class: the student's class.
        kind: the `rnn_course.transplant.MAPPINGS` key ("simple_rnn", "lstm", "gru"); the weight
            names, their roles (input, recurrent, bias) and the transplant come from there.
        formula: the recurrence in the lecture's notation, for the hints and the ✓ line.
        row_formula: the recurrence as Keras computes it (row vectors), for the value hints.
        builtin: `(units, **rnn_kwargs) -> keras layer`, the built-in that the cell must match.
        builtin_name: how the hints name it ("keras.layers.SimpleRNN").
        reference: `(x, weights, states0, mistake=None) -> (outputs, [final states])`, the recurrence
            in float64 NumPy. `weights` is `{lecture name: array}`, `states0` a list of arrays or None
            (zeros); `mistake` one of the keys of `mistakes` (or None, the right recurrence); a
            mistake that does not apply to these weights returns None.
        mistakes: `((key, hint), ...)`: the known mistakes, tried in this order on a mismatch. Each
            hint, like the four hints below, carries its mistake code (`mark(hint, "forget-input-swapped")`);
            an unmarked one gets the stage's generic code (`hint_code`).
        state_names: the states in Keras's order, e.g. ("h", "c").
        input_symbol: the name of the cell's input in the hints ("e(t)" or "x(t)").
        ops_example: the keras.ops functions named in the "keras.ops only" hint.
        value_hint: the hint when the values differ and no known mistake matches.
        square_hint: the same, for input_dim == units.
        builtin_hint: the hint when the cell differs from the built-in after a transplant.
        init_hint: the hint when get_initial_state does not give zeros.
        random_weights: `(rng, shapes) -> {name: array}`, the test values of the weights.
        units, input_dim, batch, steps, seed: the sizes of the probes.
    """

    cell_class: type
    kind: str
    formula: str
    row_formula: str
    builtin: Callable
    builtin_name: str
    reference: Callable
    mistakes: tuple = ()
    state_names: tuple = ("h",)
    input_symbol: str = "x(t)"
    ops_example: str = "ops.matmul, ops.sigmoid, ops.tanh"
    value_hint: str = "Check each term against the formula."
    square_hint: str = "Check which matrix multiplies which vector."
    builtin_hint: str = ""
    init_hint: str = ""
    random_weights: Callable | None = None
    units: int = 4
    input_dim: int = 3
    batch: int = 2
    steps: int = 6
    seed: int = 2

    # -------- derived
    @property
    def name(self) -> str:
        return getattr(self.cell_class, "__name__", repr(self.cell_class))

    @property
    def owner(self) -> str:
        return f"{self.name}(units={self.units})"

    @property
    def n_states(self) -> int:
        return len(self.state_names)

    @property
    def mapping(self):
        from rnn_course import transplant

        return transplant.MAPPINGS[self.kind]

    def roles(self) -> dict:
        """`{lecture name: "input" | "recurrent" | "bias"}`, in the mapping's order."""
        role = {"kernel": "input", "recurrent_kernel": "recurrent", "bias": "bias"}
        return {template.format(gate=g): role[keras_name]
                for keras_name, template in self.mapping.names.items() for g in self.mapping.gates}

    def shapes(self, input_dim: int | None = None, units: int | None = None) -> dict:
        d, u = input_dim or self.input_dim, units or self.units
        by_role = {"input": (d, u), "recurrent": (u, u), "bias": (u,)}
        return {n: by_role[r] for n, r in self.roles().items()}

    def weight_list(self) -> str:
        names = list(self.roles())
        return ", ".join(names[:-1]) + " and " + names[-1]

    def states_text(self, suffix: str) -> str:
        """'[h]' / '[h, c]' with a suffix such as '(T)' or '(0)'."""
        return ", ".join(f"{s}{suffix}" for s in self.state_names)

    def make_weights(self, rng, input_dim=None, units=None) -> dict:
        shapes = self.shapes(input_dim, units)
        if self.random_weights is not None:
            return self.random_weights(rng, shapes)
        return {n: rng.normal(scale=0.5 if len(s) == 1 else 0.6, size=s) for n, s in shapes.items()}

    def diagnose(self, actual, x, weights, states0, *, index=0) -> str | None:
        """The hint of the first known mistake whose recurrence reproduces `actual` (the outputs, or the
        final state number `index - 1` when index > 0), or None."""
        for key, hint in self.mistakes:
            with np.errstate(all="ignore"):
                result = self.reference(x, weights, states0, mistake=key)
            if result is None:
                continue
            candidate = result[0] if index == 0 else result[1][index - 1]
            if candidate.shape == actual.shape and np.allclose(actual, candidate, atol=1e-4):
                return hint
        return None


# ------------------------------------------------------------------ the stages
def stage_class(spec: CellSpec) -> None:
    """A Layer subclass whose `call` uses keras.ops only (so it runs, and compiles, on every backend)."""
    import keras

    cls = spec.cell_class
    if not (isinstance(cls, type) and issubclass(cls, keras.layers.Layer)):
        fail(f"expected a class that subclasses keras.layers.Layer. Received: {cls!r}.", code="not-a-layer-class")
    foreign = foreign_call(getattr(cls, "call", None))
    if foreign:
        fail(f"call() uses `{foreign}.`: write the cell with keras.ops only ({spec.ops_example}), "
             "so it runs on every backend (TensorFlow, JAX, PyTorch).", code="not-keras-ops")


def stage_interface(spec: CellSpec):
    """`state_size`, `output_size` and `get_initial_state(batch_size)`; returns the instance made."""
    units, batch, n = spec.units, spec.batch, spec.n_states
    cell = call(spec.owner, spec.cell_class, units)
    if n == 1:
        expected_state = f"{units} (the size of h(t))"
    else:
        expected_state = (f"[{', '.join([str(units)] * n)}] (the sizes of {spec.states_text('(t)')}, in Keras's "
                          f"order [{', '.join(spec.state_names)}])")
    for attr in ("state_size", "output_size"):
        several = attr == "state_size" and n > 1
        setting = f"`self.state_size = [{', '.join(['units'] * n)}]`" if several else f"`self.{attr} = units`"
        value = attribute(cell, attr, owner=spec.owner, expected=setting, default=None)
        if several:
            ok = isinstance(value, (list, tuple)) and len(value) == n and all(
                is_size(v, units, sequences=False) for v in value)
        else:
            ok = is_size(value, units)
        if not ok:
            fail(f"{spec.name}(units={units}).{attr} is {value!r}; expected "
                 f"{expected_state if attr == 'state_size' else f'{units} (the size of h(t))'}. "
                 f"Set {setting} in __init__.",
                 code="state-size-wrong" if attr == "state_size" else "output-size-wrong")
    zeros = ", ".join(["keras.ops.zeros((batch_size, self.units))"] * n)
    get_initial_state = method(cell, "get_initial_state", owner=spec.owner,
                               expected=f"`def get_initial_state(self, batch_size=None)` returning the list "
                                        f"[{spec.states_text('(0)')}], [{zeros}]")
    init = call(f"get_initial_state(batch_size={batch})", get_initial_state, batch_size=batch)
    if not isinstance(init, (list, tuple)) or len(init) != n:
        count = "one tensor" if n == 1 else f"{n} tensors"
        fail(f"get_initial_state(batch_size={batch}) returned {type(init).__name__}"
             + (f" of length {len(init)}" if isinstance(init, (list, tuple)) else "")
             + f"; expected a list with {count}, {spec.states_text('(0)')}, of shape (batch_size, units) = "
             f"({batch}, {units}){' each' if n > 1 else ''}.", code="initial-states-count")
    for s, value in zip(spec.state_names, init):
        hint = spec.init_hint or (f"{s}(0) is a zero vector for each sequence: "
                                  "keras.ops.zeros((batch_size, self.units)).")
        expect_close(value, np.zeros((batch, units)), what=f"{s}(0) from get_initial_state(batch_size={batch})",
                     hint=hint, code=hint_code(hint, "initial-state-not-zeros"))
    return cell


def stage_config(spec: CellSpec, cell) -> None:
    """`get_config` -> `from_config` gives an equal cell, and the class is registered with Keras."""
    import keras

    units, name, cls = spec.units, spec.name, spec.cell_class
    get_config = method(cell, "get_config", owner=spec.owner,
                        expected="`def get_config(self)` returning {**super().get_config(), 'units': self.units}")
    config = call("get_config()", get_config)
    if not isinstance(config, dict) or config.get("units") != units:
        fail(f"get_config() must include 'units' (here {units}) so Keras can rebuild the cell. Received: {config!r}. "
             "Use `return {**super().get_config(), 'units': self.units}`.", code="config-without-units")
    from_config = method(cls, "from_config", owner=name,
                         expected="the classmethod keras.layers.Layer.from_config (do not replace it)")
    clone = call(f"{name}.from_config(cell.get_config())", from_config, config)
    clone_units = attribute(clone, "units", owner=f"{name}.from_config(cell.get_config())", expected="", default=None)
    if not is_size(clone_units, units, sequences=False):
        fail(f"{name}.from_config(cell.get_config()) gave a cell with units={clone_units!r}; "
             f"expected {units}. get_config must return the arguments of __init__.", code="config-round-trip")
    registered = keras.saving.get_registered_name(cls)
    if registered == cls.__name__ or keras.saving.get_registered_object(registered) is not cls:
        fail(f"{name} is not registered with Keras, so a saved model cannot be loaded. Decorate the class with "
             "`@keras.saving.register_keras_serializable(package=\"rnn_course\")` (and run the cell again).",
             code="not-registered")


def _returns_hint(spec: CellSpec) -> str:
    states = ", ".join(spec.state_names)
    return (f"with return_state=True the RNN should return [outputs, {spec.states_text('(T)')}]: the cell must "
            f"return (h, [{states}]), the output and the list of new states.")


def _check_structure(spec: CellSpec, result):
    if not isinstance(result, (list, tuple)) or len(result) != 1 + spec.n_states:
        fail(_returns_hint(spec), code="not-h-and-states")
    return result


def stage_inside_rnn(spec: CellSpec, cell, x):
    """Runs `cell` inside `keras.layers.RNN(return_sequences, return_state)` on `x`; checks the weights'
    names and shapes and that there are no others. Returns the RNN layer."""
    import keras

    name, units, d = spec.name, spec.units, x.shape[-1]
    rnn = call(f"keras.layers.RNN({name}({units}), return_sequences=True, return_state=True)", keras.layers.RNN,
               cell, return_sequences=True, return_state=True, unroll=unroll())
    roles = spec.roles()
    first_in = next(n for n, r in roles.items() if r == "input")
    first_rec = next(n for n, r in roles.items() if r == "recurrent")
    try:
        result = call(f"keras.layers.RNN({name}({units}), return_sequences=True, return_state=True) on inputs "
                      f"of shape {x.shape}", rnn, x)
    except CheckFailed as err:  # the unanswered stub keeps the grader's code; any other error one code on every backend
        code = err.code if err.code == "NotImplementedError" else "raised-inside-RNN"
        raise CheckFailed(f"{err.hint} Check the shapes: {spec.input_symbol} (batch, input_dim) @ {first_in} "
                          f"(input_dim, units) and h(t-1) (batch, units) @ {first_rec} (units, units).",
                          code=code) from err.__cause__
    _check_structure(spec, result)
    shapes = spec.shapes(d, units)
    inputs = [n for n, r in roles.items() if r == "input"]
    recurrents = [n for n, r in roles.items() if r == "recurrent"]
    got = {n: tuple(weight(cell, n).shape) for n in shapes}
    if all(got[n] == (units, units) for n in inputs) and all(got[n] == (d, units) for n in recurrents):
        fail(f"{', '.join(inputs)} {'has' if len(inputs) == 1 else 'have'} shape {(units, units)} and "
             f"{', '.join(recurrents)} {'has' if len(recurrents) == 1 else 'have'} shape {(d, units)}: "
             f"{' and '.join(sorted({recurrents[0], inputs[0]}, key=lambda s: s != recurrents[0]))} are swapped. "
             f"{first_in} multiplies the input {spec.input_symbol}: (input_dim, units); {first_rec} multiplies the "
             "state h(t-1): (units, units).", code="weight-shapes-swapped")
    for wname, shape in shapes.items():
        if got[wname] != shape:
            fail(f"{wname} has shape {got[wname]}; expected {shape}. Keras multiplies row vectors, so "
                 f"{spec.input_symbol} (input_dim={d}) @ {first_in} (input_dim, units) and h(t-1) @ {first_rec} "
                 "(units, units); a bias has one entry per unit.", code="wrong-weight-shape")
    own = {id(weight(cell, wname)) for wname in shapes}
    with guard(f"reading {spec.owner}.trainable_weights"):
        extra = [getattr(w, "name", repr(w)) for w in cell.trainable_weights if id(w) not in own]
    if extra:
        fail(f"the cell has weights beyond {spec.weight_list()}: {extra}. Expected exactly those {len(shapes)}.",
             code="extra-weights")
    return rnn


def _set(spec, cell, weights):
    from rnn_course import transplant

    call(f"setting {spec.weight_list()} to test values", transplant.set_lecture_weights, cell, weights, spec.kind)


def stage_formula(spec: CellSpec, cell, rnn, x, rng) -> None:
    """The recurrence against float64 NumPy with random weights and non-zero initial states; then with
    input_dim == units, where weights swapped between the input and the state show. A mismatch is
    matched against `spec.mistakes` to name the wrong term."""
    import keras

    units, batch = spec.units, spec.batch
    weights = spec.make_weights(rng, x.shape[-1])
    _set(spec, cell, weights)
    states0 = [rng.normal(scale=0.5, size=(batch, units)).astype("float32") for _ in spec.state_names]
    init = states0 if spec.n_states > 1 else [states0[0]]
    result = call(f"the RNN with initial_state=[{spec.states_text('0')}]", rnn, x, initial_state=init)
    _check_structure(spec, result)
    out, finals = result[0], list(result[1:])
    x64, s64 = x.astype(np.float64), [s.astype(np.float64) for s in states0]
    expected, expected_finals = spec.reference(x64, weights, s64)
    out = to_numpy(out, "the RNN's outputs")
    if out.shape != expected.shape:
        fail(f"the outputs have shape {out.shape}; expected (batch, steps, units) = {expected.shape}.",
             code="wrong-output-shape")
    if not np.allclose(out, expected, atol=OUTPUT_ATOL * 10):
        hint = spec.diagnose(out, x64, weights, s64)
        if hint is None and np.allclose(out, spec.reference(x64, weights, None)[0], atol=1e-4):
            hint = mark(f"the initial state is ignored: h(1) must use the {spec.states_text('(0)')} that arrive"
                        f"{'s' if spec.n_states == 1 else ''} in `states`, not zeros.", "initial-state-ignored")
        worst = float(np.max(np.abs(out - expected)))
        hint = hint or spec.value_hint
        fail(f"h(t) differs from {spec.row_formula} by up to {worst:.3g}. {hint}",
             code=hint_code(hint, "wrong-recurrence"))
    for i, (s, final, ref) in enumerate(zip(spec.state_names, finals, expected_finals)):
        final_np = to_numpy(final, f"the final state {s}(T)")
        if final_np.shape == ref.shape and not np.allclose(final_np, ref, atol=OUTPUT_ATOL * 10):
            hint = spec.diagnose(final_np, x64, weights, s64, index=i + 1)
            if hint:
                fail(f"the final state {s}(T) differs from the reference. {hint}",
                     code=hint_code(hint, "final-state-known-mistake"))
        expect_close(final_np, ref, what=f"the final state {s}(T)", atol=OUTPUT_ATOL * 10,
                     hint=f"return the new states as [{', '.join(spec.state_names)}]: "
                          f"`return h, [{', '.join(spec.state_names)}]`.", code="wrong-final-state")

    # Swapped input and recurrent weights only show numerically when their shapes are equal.
    x_sq = rng.normal(size=(batch, spec.steps, units)).astype("float32")
    with guard("the RNN on inputs with input_dim == units"):
        square = spec.cell_class(units)
        rnn_sq = keras.layers.RNN(square, return_sequences=True, unroll=unroll())
        rnn_sq(x_sq)
    ws = spec.make_weights(rng, units)
    _set(spec, square, ws)
    out_sq = to_numpy(call("the RNN on inputs with input_dim == units", rnn_sq, x_sq), "the RNN's outputs")
    ref_sq = spec.reference(x_sq.astype(np.float64), ws, None)[0]
    if not np.allclose(out_sq, ref_sq, atol=OUTPUT_ATOL * 10):
        hint = spec.diagnose(out_sq, x_sq.astype(np.float64), ws, None) or spec.square_hint
        fail(f"with input_dim == units, h(t) differs from {spec.row_formula}. {hint}",
             code=hint_code(hint, "wrong-matrix-product"))


def _builtin_layer(spec, x, rng, **kwargs):
    """The built-in, built on `x`, its biases random (so that a missing bias shows)."""
    layer = spec.builtin(spec.units, unroll=unroll(), **kwargs)
    layer(x)
    bias = layer.cell.bias
    bias.assign(rng.normal(scale=0.5, size=tuple(bias.shape)).astype("float32"))
    return layer


def stage_builtin(spec: CellSpec, x, rng) -> None:
    """After copying the built-in's weights into a fresh cell: outputs and every final state equal the
    built-in's, forwards, with go_backwards, with return_sequences=False, and with a mask."""
    import keras

    from rnn_course import transplant

    name, units = spec.name, spec.units
    mask = np.ones(x.shape[:2], dtype=bool)
    mask[0, -2:] = False  # the first sequence is two steps shorter (right padding)
    mask[1, 2] = False    # and the second skips a step in the middle
    hint = spec.builtin_hint or (f"your cell must compute exactly what {spec.mapping.keras_cell} computes with the "
                                 "same weights (see rnn_course.transplant for the names).")
    # (the RNN's arguments, the call's, the mistake code when only this setting differs from the built-in)
    for kwargs, call_kwargs, code in (
            ({"return_sequences": True, "return_state": True}, {}, hint_code(hint, "differs-from-builtin")),
            ({"return_sequences": True, "return_state": True, "go_backwards": True}, {}, "go-backwards-ignored"),
            ({"return_sequences": False}, {}, "last-output-differs"),
            ({"return_sequences": True, "return_state": True}, {"mask": mask}, "mask-ignored")):
        label = {**kwargs, **({"mask": "(2 padded steps)"} if call_kwargs else {})}
        ref_layer = _builtin_layer(spec, x, rng, **kwargs)
        ref = _as_list(ref_layer(x, **call_kwargs))
        with guard(f"keras.layers.RNN({name}({units}), {kwargs})"):
            mine_layer = keras.layers.RNN(spec.cell_class(units), unroll=unroll(), **kwargs)
            mine_layer(x)
        call(f"copying {spec.builtin_name}'s weights into your cell", transplant.copy_weights, ref_layer, mine_layer,
             spec.kind)
        mine = _as_list(call(f"keras.layers.RNN({name}({units}), {label})", mine_layer, x, **call_kwargs))
        if len(mine) != len(ref):
            fail(f"with {label} {spec.builtin_name} returns {len(ref)} tensors, yours {len(mine)}.",
                 code="wrong-number-of-outputs")
        for i, (r, m) in enumerate(zip(ref, mine)):
            part = "outputs" if i == 0 else ("final state" if spec.n_states == 1
                                             else f"final state {spec.state_names[i - 1]}(T)")
            expect_close(m, r, what=f"RNN({label}) {part} vs {spec.builtin_name}", atol=OUTPUT_ATOL, rtol=0, hint=hint,
                         code=code)


def stage_gradients(spec: CellSpec, x, rng) -> None:
    """One SGD step with learning rate 1 moves every weight by -dJ/dW: the cell's moves equal the
    built-in's (split into the lecture's names by the transplant's mapping)."""
    import keras

    from rnn_course import transplant

    name, units, steps, d = spec.name, spec.units, x.shape[1], x.shape[-1]
    y = rng.normal(size=(spec.batch, steps, units)).astype("float32")
    ref_model = keras.Sequential([keras.Input((steps, d)), spec.builtin(units, return_sequences=True, unroll=unroll())])
    bias = ref_model.layers[0].cell.bias
    bias.assign(rng.normal(scale=0.5, size=tuple(bias.shape)).astype("float32"))
    with guard(f"keras.Sequential([keras.Input((steps, input_dim)), keras.layers.RNN({name}({units}))])"):
        mine_model = keras.Sequential([keras.Input((steps, d)),
                                       keras.layers.RNN(spec.cell_class(units), return_sequences=True, unroll=unroll())])
    call(f"copying {spec.builtin_name}'s weights into your cell", transplant.copy_weights, ref_model.layers[0],
         mine_model.layers[0], spec.kind)
    ref_names = [_short(v) for v in ref_model.trainable_weights]
    ref_deltas = spec.mapping.split(dict(zip(ref_names, sgd_step_deltas(ref_model, x, y))))
    mine_cell = mine_model.layers[0].cell
    order = [id(v) for v in mine_model.trainable_weights]
    deltas = call("a training step on your cell", sgd_step_deltas, mine_model, x, y)
    for wname in spec.roles():
        if id(weight(mine_cell, wname)) not in order:
            fail(f"{wname} is not trainable, so training would never change it. Create it with "
                 f"self.add_weight(..., name={wname!r}) and the default trainable=True.", code="weight-not-trainable")
        expect_close(deltas[order.index(id(weight(mine_cell, wname)))], ref_deltas[wname],
                     what=f"the gradient dJ/d{wname}", atol=GRAD_ATOL, rtol=0,
                     hint="the forward pass matches, so the gradient should too: build h(t) only from keras.ops "
                          "on the cell's own weights (no constants copied out of the weights).",
                     code="gradient-differs")


def stage_save_load(spec: CellSpec, x) -> None:
    """A model that uses the cell saves to .keras and loads back to the same class and the same predictions."""
    import keras

    name, units, d = spec.name, spec.units, x.shape[-1]
    with guard(f"keras.Sequential([keras.Input((None, input_dim)), keras.layers.RNN({name}({units}))])"):
        model = keras.Sequential([keras.Input((None, d)), keras.layers.RNN(spec.cell_class(units), return_sequences=True)])
    before = to_numpy(call("model.predict (compiled) with your cell", model.predict, x, verbose=0), "model.predict")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cell.keras")
        call("model.save", model.save, path)
        loaded = call("keras.saving.load_model", keras.saving.load_model, path)
    loaded_cell = getattr(loaded.layers[0], "cell", None) if getattr(loaded, "layers", None) else None
    if not isinstance(loaded_cell, spec.cell_class):
        fail(f"the loaded model's cell is a {type(loaded_cell).__name__}, not your {name}.",
             code="loaded-cell-not-yours")
    expect_close(call("the loaded model's predict", loaded.predict, x, verbose=0), before,
                 what="outputs after save and load", atol=OUTPUT_ATOL,
                 hint="get_config must return everything __init__ needs, and the weights must be created in build().",
                 code="save-load-differs")


def check_cell(spec: CellSpec, *, after_build: Callable | None = None) -> None:
    """Runs every stage on `spec.cell_class`, in the order of the table above; fails at the first mistake.

    Args:
        spec: the description of the cell.
        after_build: `(cell) -> None`, an extra check run on the freshly built cell, before any
            weight is overwritten (e.g. the LSTM's forget-gate bias initialised to 1).

    Raises:
        CheckFailed: with the hint of the first stage that fails.
    """
    rng = np.random.default_rng(spec.seed)
    stage_class(spec)
    cell = stage_interface(spec)
    stage_config(spec, cell)
    x = rng.normal(size=(spec.batch, spec.steps, spec.input_dim)).astype("float32")  # (batch, steps, input)
    rnn = stage_inside_rnn(spec, cell, x)
    if after_build is not None:
        after_build(cell)
    stage_formula(spec, cell, rnn, x, rng)
    stage_builtin(spec, x, rng)
    stage_gradients(spec, x, rng)
    stage_save_load(spec, x)
