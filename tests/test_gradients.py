"""rnn_course.gradients and notebook 03's figures: values checked by hand or against NumPy. Runs on every backend."""

from __future__ import annotations

import math

import keras
import matplotlib
import numpy as np
import pytest
from keras import ops

from rnn_course import gradients, plotting

matplotlib.use("Agg")


# ------------------------------------------------------------------ value_and_grad
def test_value_and_grad_gives_the_value_and_one_gradient_per_argument():
    x = np.array([1.0, -2.0, 3.0], "float32")
    y = np.array([[2.0]], "float32")
    value, (gx, gy) = gradients.value_and_grad(lambda a, b: ops.sum(a * a) * ops.sum(b), [x, y])
    assert float(value) == pytest.approx(28.0)
    np.testing.assert_allclose(ops.convert_to_numpy(gx), 2 * x * 2.0)
    np.testing.assert_allclose(ops.convert_to_numpy(gy), [[14.0]])


def test_value_and_grad_gives_zeros_for_an_argument_the_function_ignores():
    _, (ga, gb) = gradients.value_and_grad(lambda a, b: ops.sum(a), [np.ones(2, "float32"), np.ones((2, 2), "float32")])
    np.testing.assert_array_equal(ops.convert_to_numpy(ga), [1.0, 1.0])
    np.testing.assert_array_equal(ops.convert_to_numpy(gb), np.zeros((2, 2)))


def test_value_and_grad_refuses_a_function_that_is_not_scalar_and_args_that_are_not_a_list():
    with pytest.raises(ValueError, match=r"must return a scalar.*shape \(3,\)"):
        gradients.value_and_grad(lambda a: a * 2, [np.ones(3, "float32")])
    with pytest.raises(ValueError, match="list or tuple"):
        gradients.value_and_grad(lambda a: ops.sum(a), np.ones(3, "float32"))


# ------------------------------------------------------------------ hidden-state gradients
def _linear_cell(w):
    cell = keras.layers.SimpleRNNCell(1, activation="linear", use_bias=False)
    cell(np.zeros((1, 1), "float32"), cell.get_initial_state(batch_size=1))
    cell.kernel.assign([[1.0]])
    cell.recurrent_kernel.assign([[w]])
    return cell


def test_hidden_state_gradient_norms_of_a_linear_unit_are_powers_of_its_weight():
    # h(t) = 0.5 h(t-1) + x(t), J = h(4): dJ/dh(t) = 0.5^(4-t).
    norms = gradients.hidden_state_gradient_norms(_linear_cell(0.5), np.ones((1, 4, 1), "float32"))
    np.testing.assert_allclose(norms, [0.125, 0.25, 0.5, 1.0], rtol=1e-6)


def _tanh_backprop_np(x, W_e, W_h, b):
    """∂(Σ h(T))/∂h(t) by the chain rule in float64 (row vectors, as Keras stores the weights)."""
    hs, h = [], np.zeros((x.shape[0], W_h.shape[0]))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W_e + h @ W_h + b)
        hs.append(h)
    g = np.ones_like(h)
    norms = [np.linalg.norm(g)]
    for t in range(x.shape[1] - 1, 0, -1):  # from ∂J/∂h(t) to ∂J/∂h(t-1)
        g = (g * (1 - hs[t] ** 2)) @ W_h.T
        norms.append(np.linalg.norm(g))
    return np.array(norms[::-1])


def test_hidden_state_gradient_norms_of_a_tanh_cell_match_the_chain_rule():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    cell = keras.layers.SimpleRNNCell(4)
    cell(x[:, 0], cell.get_initial_state(batch_size=2))
    W_e, W_h, b = (rng.normal(scale=0.8, size=s) for s in ((3, 4), (4, 4), (4,)))
    for var, value in zip((cell.kernel, cell.recurrent_kernel, cell.bias), (W_e, W_h, b)):
        var.assign(value.astype("float32"))
    norms = gradients.hidden_state_gradient_norms(cell, x)
    np.testing.assert_allclose(norms, _tanh_backprop_np(x.astype(np.float64), W_e, W_h, b), rtol=1e-4)


def test_hidden_state_gradient_norms_use_the_loss_and_an_lstm_cells_first_state():
    norms = gradients.hidden_state_gradient_norms(_linear_cell(2.0), np.ones((1, 3, 1), "float32"),
                                                  loss_fn=lambda h: 3.0 * ops.sum(h))
    np.testing.assert_allclose(norms, [12.0, 6.0, 3.0], rtol=1e-6)
    lstm = keras.layers.LSTMCell(5)
    norms = gradients.hidden_state_gradient_norms(lstm, np.ones((2, 6, 3), "float32"))
    assert norms.shape == (6,) and np.all(np.isfinite(norms)) and norms[-1] == pytest.approx(math.sqrt(10))


def test_hidden_state_gradient_norms_refuse_inputs_without_a_time_axis():
    with pytest.raises(ValueError, match=r"\(batch, T, input_dim\).*Received shape \(4, 3\)"):
        gradients.hidden_state_gradient_norms(keras.layers.SimpleRNNCell(2), np.ones((4, 3), "float32"))


# ------------------------------------------------------------------ the training-loop hook
def _one_weight_model():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")])
    return model


def test_the_recorded_norm_is_the_global_norm_before_clipping():
    # J = (w·x - y)² with w = 0, x = (1, 2), y = 1: ∂J/∂w = -2 x, norm 2√5 ≈ 4.47.
    model = _one_weight_model()
    optimizer = gradients.record_gradient_norms(keras.optimizers.SGD(learning_rate=1.0, global_clipnorm=1.0), 5)
    model.compile(optimizer=optimizer, loss="mse")
    model.train_on_batch(np.array([[1.0, 2.0]], "float32"), np.array([[1.0]], "float32"))
    np.testing.assert_allclose(gradients.recorded_gradient_norms(optimizer), [2 * math.sqrt(5)], rtol=1e-6)
    # The step itself was clipped to norm 1: w = x / |x|.
    np.testing.assert_allclose(ops.convert_to_numpy(model.layers[0].kernel)[:, 0], [1 / math.sqrt(5), 2 / math.sqrt(5)],
                               rtol=1e-6)
    assert type(optimizer).__name__ == "RecordingSGD" and optimizer.global_clipnorm == 1.0


def test_record_gradient_norms_records_every_step_of_model_fit():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(12, 2)).astype("float32")
    y = x @ np.array([[1.0], [-1.0]], "float32")
    model = _one_weight_model()
    optimizer = gradients.record_gradient_norms(keras.optimizers.SGD(learning_rate=0.1), 4)
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)  # 6 steps, 4 recorded
    norms = gradients.recorded_gradient_norms(optimizer)
    assert norms.shape == (4,) and np.all(norms > 0)
    # The first step's norm, by hand: w = 0, ∂J/∂w = -2/4 Σ x_i y_i over the first batch.
    first = -2 / 4 * x[:4].T @ y[:4]
    assert norms[0] == pytest.approx(float(np.linalg.norm(first)), rel=1e-5)


def test_record_gradient_norms_refuses_what_it_cannot_record():
    with pytest.raises(ValueError, match="Keras optimizer"):
        gradients.record_gradient_norms("sgd", 3)
    with pytest.raises(ValueError, match="positive integer. Received: max_steps=0"):
        gradients.record_gradient_norms(keras.optimizers.SGD(), 0)
    with pytest.raises(ValueError, match="does not record gradient norms"):
        gradients.recorded_gradient_norms(keras.optimizers.SGD())


def test_train_steps_stops_at_the_first_non_finite_loss_and_says_so(capsys):
    model = _one_weight_model()
    model.compile(optimizer=gradients.record_gradient_norms(keras.optimizers.SGD(learning_rate=100.0), 50), loss="mse")
    x = np.array([[3.0, 4.0]], "float32")

    def batches():
        while True:
            yield x, np.array([[1.0]], "float32")

    log = gradients.train_steps(model, batches(), 50)
    assert log.stopped_at is not None and log.stopped_at == len(log.loss) - 1 < 49
    assert all(math.isfinite(v) for v in log.loss[:-1]) and not math.isfinite(log.loss[-1])
    assert len(log.gradient_norm) == len(log.loss)
    assert log.gradient_norm[1] > log.gradient_norm[0] > 0  # diverging: every step overshoots further
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith(f"stopped at step {log.stopped_at}: the loss is")
    with pytest.raises(ValueError, match="record_gradient_norms"):
        plain = _one_weight_model()
        plain.compile(optimizer="sgd", loss="mse")
        gradients.train_steps(plain, batches(), 2)


# ------------------------------------------------------------------ the cliff
def test_cliff_loss_gradient_matches_finite_differences():
    w, b = np.array([2.0, 5.0, 4.6]), np.array([-1.0, -2.5, -2.3])
    loss, gw, gb = gradients.cliff_loss(w, b)
    eps = 1e-6
    fw = (gradients.cliff_loss(w + eps, b)[0] - gradients.cliff_loss(w - eps, b)[0]) / (2 * eps)
    fb = (gradients.cliff_loss(w, b + eps)[0] - gradients.cliff_loss(w, b - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(gw, fw, rtol=1e-4)
    np.testing.assert_allclose(gb, fb, rtol=1e-4)
    # One step by hand: h(1) = w σ(0.5) + b.
    one, _, _ = gradients.cliff_loss(2.0, -1.0, steps=1)
    assert float(one) == pytest.approx((2 / (1 + math.exp(-0.5)) - 1 - 0.7) ** 2)


def test_descend_with_clipping_never_moves_further_than_the_threshold():
    plain = gradients.descend((5.0, -2.0), learning_rate=0.01, steps=60)
    clipped = gradients.descend((5.0, -2.0), learning_rate=0.01, steps=60, clip=1.0)
    assert plain.shape == clipped.shape == (61, 3)
    moves = lambda p: np.hypot(np.diff(p[:, 0]), np.diff(p[:, 1]))  # noqa: E731
    assert moves(clipped).max() <= 0.01 + 1e-12
    assert moves(plain).max() > 1.0  # the wall throws plain gradient descent far away
    assert clipped[-1, 2] < plain[-1, 2]
    # A threshold the gradient never reaches changes nothing (Algorithm 1 rescales only above it).
    np.testing.assert_array_equal(gradients.descend((5.0, -2.0), learning_rate=0.01, steps=60, clip=1e9), plain)


# ------------------------------------------------------------------ figures
def test_notebook_03_figures_are_drawn(capsys):
    import matplotlib.pyplot as plt

    ax = plotting.plot_gradient_norms_by_distance({"tanh": np.array([1e-3, 1e-2, 0.0, 1.0]), "relu": np.ones(4)})
    assert len(ax.lines) == 2 and "1 points 0 or not finite" in ax.get_legend().get_texts()[0].get_text()
    ax = plotting.plot_linear_powers(np.arange(5), {"A": 0.5 ** np.arange(5)}, {"A": 0.5})
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 0.5 ** np.arange(5))
    W, B = np.meshgrid(np.linspace(3, 6, 20), np.linspace(-3, -1, 15))
    fig = plotting.plot_cliff(W, B, gradients.cliff_loss(W, B)[0],
                              {"plain": gradients.descend((5.0, -2.0), learning_rate=0.01, steps=5)})
    assert len(fig.axes) == 3  # the surface, the map and its colour bar
    runs = {"no clipping": gradients.StepLog([1.0, 10.0, float("nan")], [2.0, 50.0, float("inf")], stopped_at=2),
            "clipped": gradients.StepLog([1.0, 0.9, 0.8], [2.0, 1.5, 1.2])}
    fig = plotting.plot_training_with_gradient_norms(runs, threshold=1.0)
    loss_ax = fig.axes[0]
    assert all(np.all(np.isfinite(line.get_ydata())) for line in loss_ax.lines)
    assert any("not finite at step 2" in t.get_text() for t in loss_ax.get_legend().get_texts())
    plt.close("all")
