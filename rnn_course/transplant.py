"""Weight transplants between Keras's built-in RNN layers and cells named as in the lectures.

This module is the one place where the lecture's names meet Keras's weights: the checks, their
hints, `bench/cells.py` and the notebooks all take the names from `MAPPINGS`.

The lectures' notation (CS224N lectures 6-7; CS388 lecture 8):

    Elman:  h(t) = tanh(W_h h(t-1) + W_e e(t) + b)
    gates:  g(t) = sigma(W_g h(t-1) + U_g x(t) + b_g)      W multiplies the previous
                                                          hidden state, U the input
    LSTM:   f, i, o gates; c~ = tanh(W_c h(t-1) + U_c x(t) + b_c)
            c(t) = f * c(t-1) + i * c~;  h(t) = o * tanh(c(t))
    GRU:    u, r gates; h~ = tanh(W_h (r * h(t-1)) + U_h x(t) + b_h)
            h(t) = (1 - u) * h(t-1) + u * h~

Keras multiplies *row* vectors (a batch is a stack of rows), so a cell stores the
transposes: an input weight has shape `(input_dim, units)`, a recurrent weight
`(units, units)`, and the step computes `h(t-1) @ W + x(t) @ U + b`: the lecture's
equation, transposed. Those are the shapes of Keras's `kernel` (input),
`recurrent_kernel` (previous hidden state) and `bias`.

Gated cells concatenate one block per gate along the last axis of each Keras weight
(LSTM: `i, f, c, o`; GRU: `z, r, h`). Keras's GRU computes
`h(t) = z * h(t-1) + (1 - z) * h~`, so the lecture's update gate is u = 1 - z =
sigma(-(pre-activation of z)): its blocks are Keras's z blocks negated, exactly. Only
`GRU(reset_after=False)` is the lecture's GRU (Keras's default, `reset_after=True`,
applies the reset gate after the recurrent matmul and has two biases).

| kind         | Keras cell      | lecture names (input / recurrent / bias)                    |
|--------------|-----------------|-------------------------------------------------------------|
| `simple_rnn` | `SimpleRNNCell` | `W_e` / `W_h` / `b`                                         |
| `lstm`       | `LSTMCell`      | `U_i U_f U_c U_o` / `W_i W_f W_c W_o` / `b_i b_f b_c b_o`   |
| `gru`        | `GRUCell`       | `U_u U_r U_h` / `W_u W_r W_h` / `b_u b_r b_h` (u = 1 - z)   |

| function            | what it does                                                          |
|---------------------|-----------------------------------------------------------------------|
| `to_lecture`        | a Keras built-in's weights as `{lecture name: numpy array}`           |
| `from_lecture`      | sets a Keras built-in's weights from such a dict                      |
| `lecture_weights`   | the weights of a lecture-named cell (yours) as such a dict            |
| `set_lecture_weights` | assigns such a dict to a lecture-named cell                         |
| `copy_weights`      | built-in -> lecture-named cell, or the reverse                       |
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class CellMapping:
    """How one Keras built-in cell's weights map to the lecture's names.

    Attributes:
        kind: the key in `MAPPINGS` ("simple_rnn", "lstm", "gru").
        keras_cell: the class name of the Keras cell (`SimpleRNNCell`).
        gates: the lecture's name of each block Keras concatenates along the
            last axis, in Keras's order; `("",)` for a cell without gates.
        names: Keras weight name -> lecture name template, where `{gate}` is
            replaced by each gate's name.
        negated: the gates whose blocks are Keras's negated (the GRU's u = 1 - z:
            sigma(-a) = 1 - sigma(a)).
    """

    kind: str
    keras_cell: str
    gates: tuple = ("",)
    names: dict = dataclasses.field(default_factory=dict)
    negated: tuple = ()

    def lecture_names(self) -> list[str]:
        return [template.format(gate=g) for template in self.names.values() for g in self.gates]

    def split(self, keras_weights: dict) -> dict:
        """`{keras name: array}` -> `{lecture name: array}` (blocks split per gate)."""
        out = {}
        for keras_name, template in self.names.items():
            if keras_name not in keras_weights:
                continue  # e.g. no bias when use_bias=False
            value = np.asarray(keras_weights[keras_name])
            if value.ndim == 2 and keras_name == "bias":
                raise ValueError(
                    f"Keras's {self.keras_cell} has a bias of shape {value.shape} (two biases: reset_after=True). "
                    "Expected the lecture's cell: use reset_after=False, which has one bias of shape (3 * units,).")
            blocks = np.split(value, len(self.gates), axis=-1)
            for gate, block in zip(self.gates, blocks):
                out[template.format(gate=gate)] = -block if gate in self.negated else block
        return out

    def join(self, lecture_weights: dict) -> dict:
        """`{lecture name: array}` -> `{keras name: array}` (blocks concatenated in Keras's order)."""
        out = {}
        for keras_name, template in self.names.items():
            names = [template.format(gate=g) for g in self.gates]
            present = [n in lecture_weights for n in names]
            if not any(present):
                continue
            if not all(present):
                missing = [n for n, p in zip(names, present) if not p]
                raise ValueError(f"Incomplete weights for Keras's {keras_name!r}: missing {missing}. "
                                 f"Expected all of {names}.")
            out[keras_name] = np.concatenate(
                [-np.asarray(lecture_weights[n]) if g in self.negated else np.asarray(lecture_weights[n])
                 for g, n in zip(self.gates, names)], axis=-1)
        return out


MAPPINGS = {
    "simple_rnn": CellMapping(
        kind="simple_rnn",
        keras_cell="SimpleRNNCell",
        gates=("",),
        names={"kernel": "W_e", "recurrent_kernel": "W_h", "bias": "b"},
    ),
    "lstm": CellMapping(
        kind="lstm",
        keras_cell="LSTMCell",
        gates=("i", "f", "c", "o"),  # Keras's order
        names={"kernel": "U_{gate}", "recurrent_kernel": "W_{gate}", "bias": "b_{gate}"},
    ),
    "gru": CellMapping(
        kind="gru",
        keras_cell="GRUCell",
        gates=("u", "r", "h"),  # Keras's z, r, h, with the lecture's u = 1 - z
        names={"kernel": "U_{gate}", "recurrent_kernel": "W_{gate}", "bias": "b_{gate}"},
        negated=("u",),
    ),
}


def _mapping(kind: str, cell=None) -> CellMapping:
    """`MAPPINGS[kind]`; if `cell` is a Keras built-in, it must be that kind's cell."""
    if kind not in MAPPINGS:
        raise ValueError(f"Unknown cell kind: {kind!r}. Expected one of {sorted(MAPPINGS)}.")
    actual = None if cell is None else _builtin_kind(cell)
    if actual is not None and actual != kind:
        raise ValueError(f"The Keras layer is a {type(cell).__name__}; expected the {MAPPINGS[kind].keras_cell} "
                         f"of kind={kind!r}. Pass kind={actual!r}, or leave kind out to take it from the layer.")
    return MAPPINGS[kind]


def keras_cell(layer):
    """The cell of a Keras RNN layer (`SimpleRNN`, `RNN(cell)`), or the cell itself."""
    cell = getattr(layer, "cell", layer)
    return cell


def _builtin_kind(cell) -> str | None:
    """The `MAPPINGS` key of a Keras built-in cell, or None for any other cell."""
    import keras

    for kind, mapping in MAPPINGS.items():
        if isinstance(cell, getattr(keras.layers, mapping.keras_cell)):
            return kind
    return None


def _kind_of(cell) -> str:
    kind = _builtin_kind(cell)
    if kind is None:
        raise ValueError(
            f"No lecture-name mapping for a {type(cell).__name__}. Expected a Keras built-in cell among "
            f"{[m.keras_cell for m in MAPPINGS.values()]} (or a layer wrapping one)."
        )
    return kind


def _short(variable) -> str:
    """A variable's own name: 'recurrent_kernel' for 'simple_rnn/simple_rnn_cell/recurrent_kernel'."""
    return getattr(variable, "path", variable.name).split("/")[-1].split(":")[0]


def _require_built(layer, what):
    if not getattr(layer, "built", False) or not layer.weights:
        raise ValueError(f"The {what} has no weights yet: {type(layer).__name__} is not built. "
                         "Expected a built layer: call it once on an input (or call `build`) first.")


def to_lecture(layer, kind: str | None = None) -> dict:
    """A Keras built-in RNN's weights under the lecture's names, as numpy arrays.

    Args:
        layer: a built `keras.layers.SimpleRNN`, `LSTM`, `GRU(reset_after=False)`, an
            `RNN` wrapping one of their cells, or the cell itself.
        kind: the `MAPPINGS` key; found from the cell's class if `None`.

    Returns:
        `{lecture name: array}`; input weights `(input_dim, units)`, recurrent
        weights `(units, units)`, biases `(units,)`.

    Raises:
        ValueError: the layer is not built, has no mapping, or is a
            `GRU(reset_after=True)`.

    Example:

    >>> rnn = keras.layers.SimpleRNN(4); rnn(np.zeros((1, 2, 3)))
    >>> {k: v.shape for k, v in to_lecture(rnn).items()}
    {'W_e': (3, 4), 'W_h': (4, 4), 'b': (4,)}
    """
    cell = keras_cell(layer)
    _require_built(cell, "Keras layer")
    mapping = _mapping(kind or _kind_of(cell), cell)
    return mapping.split({_short(v): np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in cell.weights})


def from_lecture(weights: dict, layer, kind: str | None = None) -> None:
    """Sets a Keras built-in RNN's weights from `{lecture name: array}`."""
    cell = keras_cell(layer)
    _require_built(cell, "Keras layer")
    mapping = _mapping(kind or _kind_of(cell), cell)
    by_name = {_short(v): v for v in cell.weights}
    for keras_name, value in mapping.join(weights).items():
        variable = by_name[keras_name]
        if tuple(variable.shape) != value.shape:
            raise ValueError(f"Keras's {keras_name!r} has shape {tuple(variable.shape)}; the lecture weights "
                             f"give shape {value.shape}. Expected the same shapes (same input_dim and units).")
        variable.assign(value.astype(variable.dtype))


def _lecture_variable(cell, name):
    """The variable `name` of a lecture-named cell: its attribute, else a weight of that name."""
    value = getattr(cell, name, None)
    if value is not None and hasattr(value, "assign"):
        return value
    for v in cell.weights:
        if _short(v) == name:
            return v
    return None


def lecture_weights(cell, kind: str = "simple_rnn") -> dict:
    """The weights of a lecture-named cell (e.g. your `ElmanCell`) as `{name: numpy array}`."""
    cell = keras_cell(cell)
    _require_built(cell, "cell")
    out = {}
    for name in _mapping(kind).lecture_names():
        variable = _lecture_variable(cell, name)
        if variable is not None:
            out[name] = np.asarray(variable.numpy())
    return out


def set_lecture_weights(cell, weights: dict, kind: str = "simple_rnn") -> None:
    """Assigns `{lecture name: array}` to the same-named variables of a lecture-named cell.

    Raises:
        ValueError: the cell has no variable of a given name, or its shape differs.
    """
    cell = keras_cell(cell)
    _require_built(cell, "cell")
    for name, value in weights.items():
        variable = _lecture_variable(cell, name)
        if variable is None:
            raise ValueError(
                f"{type(cell).__name__} has no weight named {name!r}. Expected `self.{name} = "
                f"self.add_weight(..., name={name!r})` in build(); it has "
                f"{[_short(v) for v in cell.weights]}."
            )
        value = np.asarray(value)
        if tuple(variable.shape) != value.shape:
            raise ValueError(
                f"{type(cell).__name__}.{name} has shape {tuple(variable.shape)}; expected {value.shape} "
                "(Keras multiplies row vectors: an input weight is (input_dim, units), a recurrent weight "
                "(units, units), a bias (units,))."
            )
        variable.assign(value.astype(variable.dtype))


def copy_weights(source, target, kind: str | None = None) -> None:
    """Copies weights between a Keras built-in and a lecture-named cell, in either direction
    (or between two built-ins of the same kind).

    Args:
        source: a built Keras built-in (`SimpleRNN`, `RNN(SimpleRNNCell)`,
            `SimpleRNNCell`) or a lecture-named cell (or an `RNN` wrapping one).
        target: the other kind, built, with the same input size and units.
    """
    src, dst = keras_cell(source), keras_cell(target)
    if _builtin_kind(src) is not None and _builtin_kind(dst) is not None:  # built-in to built-in
        kind = kind or _kind_of(src)
        from_lecture(to_lecture(src, kind), dst, kind)
    elif _builtin_kind(src) is not None:
        kind = kind or _kind_of(src)
        set_lecture_weights(dst, to_lecture(src, kind), kind)
    elif _builtin_kind(dst) is not None:
        kind = kind or _kind_of(dst)
        from_lecture(lecture_weights(src, kind), dst, kind)
    else:
        raise ValueError(
            "copy_weights copies between a Keras built-in and a lecture-named cell. Received "
            f"{type(src).__name__} and {type(dst).__name__}; expected one of them to be among "
            f"{[m.keras_cell for m in MAPPINGS.values()]} (or a layer wrapping one)."
        )
