"""Weight transplants between Keras built-ins and lecture-named cells (rnn_course.transplant)."""

import keras
import numpy as np
import pytest

from rnn_course import transplant


class LectureNamed(keras.layers.Layer):
    """Just the lecture's three weights (no call): enough to test the name mapping."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = self.state_size = units

    def build(self, input_shape):
        self.W_e = self.add_weight(shape=(input_shape[-1], self.units), initializer="zeros", name="W_e")
        self.W_h = self.add_weight(shape=(self.units, self.units), initializer="zeros", name="W_h")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")


def built_simple_rnn(units=4, input_dim=3, seed=0):
    layer = keras.layers.SimpleRNN(units)
    layer(np.zeros((1, 2, input_dim), "float32"))
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(size=tuple(w.shape)).astype("float32"))
    return layer


def test_simple_rnn_weights_get_the_lecture_names():
    layer = built_simple_rnn()
    weights = transplant.to_lecture(layer)
    assert {k: v.shape for k, v in weights.items()} == {"W_e": (3, 4), "W_h": (4, 4), "b": (4,)}
    np.testing.assert_array_equal(weights["W_e"], keras.ops.convert_to_numpy(layer.cell.kernel))
    np.testing.assert_array_equal(weights["W_h"], keras.ops.convert_to_numpy(layer.cell.recurrent_kernel))
    np.testing.assert_array_equal(weights["b"], keras.ops.convert_to_numpy(layer.cell.bias))


def test_copy_both_ways_and_through_wrappers():
    source = built_simple_rnn(seed=1)
    cell = LectureNamed(4)
    cell.build((None, 3))
    transplant.copy_weights(source, keras.layers.RNN(cell))  # the wrapper's cell receives the weights
    for name, value in transplant.to_lecture(source).items():
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(getattr(cell, name)), value)
    target = built_simple_rnn(seed=2)  # the reverse direction, into a SimpleRNN layer
    transplant.copy_weights(cell, target)
    for name, value in transplant.to_lecture(target).items():
        np.testing.assert_array_equal(value, transplant.to_lecture(source)[name])
    wrapped = keras.layers.RNN(keras.layers.SimpleRNNCell(4))  # RNN(SimpleRNNCell) counts as the built-in
    wrapped(np.zeros((1, 2, 3), "float32"))
    transplant.copy_weights(source, wrapped)
    np.testing.assert_array_equal(transplant.to_lecture(wrapped)["W_h"], transplant.to_lecture(source)["W_h"])


def test_lecture_weights_round_trip_through_from_lecture():
    source = built_simple_rnn(seed=3)
    target = built_simple_rnn(seed=4)
    transplant.from_lecture(transplant.to_lecture(source), target)
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


@pytest.mark.parametrize("make, match", [
    (lambda: (built_simple_rnn(units=4, input_dim=3), LectureNamed(4), (None, 5)), r"W_e has shape \(5, 4\); expected \(3, 4\)"),
    (lambda: (built_simple_rnn(), keras.layers.Dense(4), (None, 3)), r"no weight named 'W_e'"),
    (lambda: (built_simple_rnn(), LectureNamed(4), None), r"not built"),
    (lambda: (LectureNamed(4), LectureNamed(4), (None, 3)), r"between a Keras built-in and a lecture-named cell"),
])
def test_mismatches_are_explained(make, match):
    source, target, shape = make()
    if isinstance(source, LectureNamed):
        source.build((None, 3))
    if shape is not None:
        target.build(shape)
    with pytest.raises(ValueError, match=match):
        transplant.copy_weights(source, target)


def test_unknown_kind_and_unmapped_cell_are_explained():
    with pytest.raises(ValueError, match="Unknown cell kind: 'lstm'"):
        transplant.to_lecture(built_simple_rnn(), kind="lstm")
    lstm = keras.layers.LSTM(2)
    lstm(np.zeros((1, 2, 3), "float32"))
    with pytest.raises(ValueError, match="No lecture-name mapping for a LSTMCell"):
        transplant.to_lecture(lstm)


def test_gated_cells_fit_the_same_structure(monkeypatch):
    """How notebook 04 will add the LSTM: a mapping that splits Keras's blocks per gate."""
    mapping = transplant.CellMapping(kind="lstm", keras_cell="LSTMCell", gates=("i", "f", "c", "o"),
                                     names={"kernel": "W_{gate}", "recurrent_kernel": "U_{gate}", "bias": "b_{gate}"})
    monkeypatch.setitem(transplant.MAPPINGS, "lstm", mapping)
    source, target = keras.layers.LSTM(5), keras.layers.LSTM(5)
    for layer, seed in ((source, 0), (target, 1)):
        layer(np.zeros((1, 2, 3), "float32"))
        for w in layer.weights:
            w.assign(np.random.default_rng(seed).normal(size=tuple(w.shape)).astype("float32"))
    weights = transplant.to_lecture(source)
    assert sorted(weights) == sorted(mapping.lecture_names()) and len(weights) == 12
    assert weights["W_f"].shape == (3, 5) and weights["U_o"].shape == (5, 5) and weights["b_c"].shape == (5,)
    kernel = keras.ops.convert_to_numpy(source.cell.kernel)
    np.testing.assert_array_equal(weights["W_f"], kernel[:, 5:10])  # Keras's order: i, f, c, o
    transplant.from_lecture(weights, target)
    for a, b in zip(source.weights, target.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    with pytest.raises(ValueError, match="missing"):
        mapping.join({k: v for k, v in weights.items() if k != "U_c"})
