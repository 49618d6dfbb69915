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
    with pytest.raises(ValueError, match="Unknown cell kind: 'conv_lstm'"):
        transplant.to_lecture(built_simple_rnn(), kind="conv_lstm")
    with pytest.raises(ValueError, match="is a SimpleRNNCell; expected the LSTMCell"):
        transplant.to_lecture(built_simple_rnn(), kind="lstm")  # would split W_e into four "gates"
    dense = keras.layers.Dense(2)
    dense(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="No lecture-name mapping for a Dense"):
        transplant.to_lecture(dense)


def test_an_incomplete_set_of_gate_weights_is_named():
    layer = _randomised(keras.layers.LSTM(5), 3, seed=0)
    weights = transplant.to_lecture(layer)
    with pytest.raises(ValueError, match=r"missing \['U_c'\]"):
        transplant.MAPPINGS["lstm"].join({k: v for k, v in weights.items() if k != "U_c"})


# ------------------------------------------------------------------ gated cells in the lecture's notation
def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _randomised(layer, input_dim, seed):
    layer(np.zeros((1, 2, input_dim), "float32"))
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(scale=0.5, size=tuple(w.shape)).astype("float32"))
    return layer


def _lecture_lstm(x, p):
    """The lecture's LSTM (gates: sigma(W h(t-1) + U x(t) + b)), rows as Keras has them."""
    h = c = np.zeros((x.shape[0], p["W_f"].shape[0]))
    for t in range(x.shape[1]):
        def gate(g, act=_sigmoid):
            return act(h @ p[f"W_{g}"] + x[:, t] @ p[f"U_{g}"] + p[f"b_{g}"])
        f, i, o, c_tilde = gate("f"), gate("i"), gate("o"), gate("c", np.tanh)
        c = f * c + i * c_tilde
        h = o * np.tanh(c)
    return h, c


def _lecture_gru(x, p):
    """The lecture's GRU: h(t) = (1 - u) h(t-1) + u h~, h~ = tanh(W_h (r h(t-1)) + U_h x(t) + b_h)."""
    h = np.zeros((x.shape[0], p["W_u"].shape[0]))
    for t in range(x.shape[1]):
        u = _sigmoid(h @ p["W_u"] + x[:, t] @ p["U_u"] + p["b_u"])
        r = _sigmoid(h @ p["W_r"] + x[:, t] @ p["U_r"] + p["b_r"])
        h_tilde = np.tanh((r * h) @ p["W_h"] + x[:, t] @ p["U_h"] + p["b_h"])
        h = (1 - u) * h + u * h_tilde
    return h


def test_lstm_weights_in_the_lecture_notation_give_keras_lstm():
    """W multiplies h(t-1) and U the input: the lecture's equations on the transplanted weights
    reproduce keras.layers.LSTM (Keras's gate order i, f, c, o)."""
    layer = _randomised(keras.layers.LSTM(4, return_state=True), 3, seed=1)
    weights = transplant.to_lecture(layer)
    assert {k: v.shape for k, v in weights.items()} == {
        **{f"U_{g}": (3, 4) for g in "ifco"}, **{f"W_{g}": (4, 4) for g in "ifco"}, **{f"b_{g}": (4,) for g in "ifco"}}
    np.testing.assert_array_equal(weights["W_f"], keras.ops.convert_to_numpy(layer.cell.recurrent_kernel)[:, 4:8])
    np.testing.assert_array_equal(weights["U_f"], keras.ops.convert_to_numpy(layer.cell.kernel)[:, 4:8])
    x = np.random.default_rng(2).normal(size=(2, 5, 3)).astype("float32")
    _, h, c = (keras.ops.convert_to_numpy(v) for v in layer(x))
    h_ref, c_ref = _lecture_lstm(x.astype("float64"), weights)
    np.testing.assert_allclose(h, h_ref, atol=1e-5)
    np.testing.assert_allclose(c, c_ref, atol=1e-5)


def test_gru_update_gate_is_one_minus_keras_z_exactly():
    """Keras's GRU keeps z of the old state; the lecture's u takes the new content. The transplant
    negates z's pre-activation (sigma(-a) = 1 - sigma(a)), so the lecture's equations on the
    transplanted weights reproduce keras.layers.GRU(reset_after=False), and back again."""
    layer = _randomised(keras.layers.GRU(4, reset_after=False), 3, seed=3)
    weights = transplant.to_lecture(layer)
    kernel = keras.ops.convert_to_numpy(layer.cell.kernel)
    np.testing.assert_array_equal(weights["U_u"], -kernel[:, :4])
    np.testing.assert_array_equal(weights["U_r"], kernel[:, 4:8])
    x = np.random.default_rng(4).normal(size=(2, 6, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), _lecture_gru(x.astype("float64"), weights),
                               atol=1e-5)
    other = _randomised(keras.layers.GRU(4, reset_after=False), 3, seed=5)
    transplant.from_lecture(weights, other)
    for a, b in zip(layer.weights, other.weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_gru_with_reset_after_is_refused_with_the_fix():
    layer = _randomised(keras.layers.GRU(4), 3, seed=6)  # Keras's default: reset_after=True
    with pytest.raises(ValueError, match="reset_after=False"):
        transplant.to_lecture(layer)
