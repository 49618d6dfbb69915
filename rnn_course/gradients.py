"""Gradient probes for the course (notebook 03 onwards): gradients through time, and gradient norms in training.

Everything here runs on every Keras backend. Where autodiff through intermediate
values is needed (the gradient with respect to a hidden state h(t), not a weight),
`value_and_grad` puts TensorFlow's `GradientTape`, `jax.value_and_grad` and
PyTorch's autograd behind one function.

| name                          | what it is                                                          |
|-------------------------------|---------------------------------------------------------------------|
| `value_and_grad`              | `fn(*args)` and its gradient with respect to every argument          |
| `hidden_state_gradient_norms` | ‖∂J(T)/∂h(t)‖ for t = 1..T, by unrolling a Keras RNN cell step by step |
| `global_norm`                 | sqrt(Σ_i ‖g_i‖²) over a list of gradient tensors                     |
| `record_gradient_norms`       | an optimizer that records the global gradient norm of every step,    |
|                               | before clipping (Keras callbacks never see gradients)               |
| `recorded_gradient_norms`     | the norms such an optimizer has recorded, as a NumPy array            |
| `StepLog`, `train_steps`      | step-by-step training that records the loss and the gradient norm,   |
|                               | and stops at the first non-finite loss (notebook 03, section 4)     |
| `cliff_loss`                  | the one-hidden-unit RNN of Pascanu et al. (2013), Fig. 6: its loss   |
|                               | and exact gradient over (w, b), vectorised with NumPy                |
| `descend`                     | a gradient-descent path on `cliff_loss`, optionally clipped          |

Sources: Pascanu, Mikolov and Bengio, "On the difficulty of training recurrent neural
networks", ICML 2013 (the chain rule through time, Algorithm 1, Fig. 6); Le, Jaitly and
Hinton, "A Simple Way to Initialize Recurrent Networks of Rectified Linear Units", 2015.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


# ------------------------------------------------------------------ autodiff on every backend
def value_and_grad(fn, args):
    """`fn(*args)` and its gradient with respect to each of `args`, on the current Keras backend.

    Args:
        fn: a function of tensors written with `keras.ops` (or Keras layers) that returns a
            scalar, e.g. a loss. Build any layer it calls before (a layer built inside the
            gradient would create its weights from traced values on JAX).
        args: a list (or tuple) of tensors or arrays, the points to differentiate at.
            They are converted to backend tensors (floats keep their dtype).

    Returns:
        `(value, grads)`: the scalar `fn(*args)` as a backend tensor, and a list with one
        gradient per argument, each of that argument's shape (zeros where `fn` does not
        depend on it).

    Raises:
        ValueError: if `args` is not a list or tuple, or `fn` does not return a scalar.
        NotImplementedError: on a backend other than tensorflow, jax or torch.

    Example:
        >>> value, (gx,) = value_and_grad(lambda x: keras.ops.sum(x ** 2), [np.ones(3, "float32")])
        >>> keras.ops.convert_to_numpy(gx)
        array([2., 2., 2.], dtype=float32)
    """
    import keras
    from keras import ops

    if not isinstance(args, (list, tuple)):
        raise ValueError(f"`args` must be a list or tuple of tensors. Received: {type(args).__name__} {args!r:.80}")
    xs = [ops.convert_to_tensor(a) for a in args]
    backend = keras.backend.backend()

    def scalar(value):
        if tuple(ops.shape(value)) not in ((), (1,)):
            raise ValueError(f"`fn` must return a scalar (a loss). Received a tensor of shape {tuple(ops.shape(value))}.")
        return ops.reshape(value, ())

    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for x in xs:
                tape.watch(x)
            value = scalar(fn(*xs))
        grads = tape.gradient(value, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return value, list(grads)
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(lambda *a: scalar(fn(*a)), argnums=tuple(range(len(xs))))(*xs)
        return value, list(grads)
    if backend == "torch":  # pragma: no cover - torch is not installed in the course's CI
        import torch

        xs = [x.detach().clone().requires_grad_(True) for x in xs]
        value = scalar(fn(*xs))
        grads = torch.autograd.grad(value, xs, allow_unused=True)
        return value.detach(), [torch.zeros_like(x) if g is None else g for x, g in zip(xs, grads)]
    raise NotImplementedError(f"value_and_grad supports the tensorflow, jax and torch backends. Received: {backend!r}.")


def _as_states(states) -> list:
    return list(states) if isinstance(states, (list, tuple)) else [states]


def hidden_state_gradient_norms(cell, inputs, loss_fn=None, initial_state=None) -> np.ndarray:
    """‖∂J(T)/∂h(t)‖ for t = 1, …, T: how much the loss at the last step depends on each hidden state.

    The cell is unrolled step by step in Python, h(t) = cell(x(t), h(t-1)), and a zero
    offset ε(t) is added to every h(t); the gradient of J(T) = `loss_fn(h(T))` with respect
    to ε(t) at ε = 0 is ∂J(T)/∂h(t). One backward pass gives all T of them. For a cell
    with several states (an LSTM's [h, c]) the hidden state h(t) is `states[0]`.

    Args:
        cell: a Keras RNN cell (`keras.layers.SimpleRNNCell`, `LSTMCell`, `GRUCell` or your
            own) called as `cell(x_t, states) -> (output, new_states)`. It is built on the
            first step if it is not yet.
        inputs: `(batch, T, input_dim)` floats.
        loss_fn: `h(T) (batch, units) -> scalar`, written with `keras.ops`; default
            `keras.ops.sum`, the sum of the last hidden state.
        initial_state: the states before the first step (default: the cell's zeros).

    Returns:
        A float64 array of shape `(T,)`: entry t-1 is the Euclidean norm of ∂J(T)/∂h(t), the
        gradient taken over the whole `(batch, units)` array. The last entry is ‖∂J/∂h(T)‖,
        distance 0; entry t-1 is at distance T - t.

    Raises:
        ValueError: if `inputs` is not 3-dimensional with at least one step.
    """
    from keras import ops

    x = ops.convert_to_tensor(np.asarray(inputs, dtype="float32") if isinstance(inputs, (list, np.ndarray)) else inputs)
    if len(x.shape) != 3 or x.shape[1] < 1:
        raise ValueError(f"`inputs` must have shape (batch, T, input_dim) with T >= 1. Received shape {tuple(x.shape)}.")
    batch, steps = int(x.shape[0]), int(x.shape[1])
    loss_fn = loss_fn or ops.sum
    states = _as_states(initial_state if initial_state is not None else cell.get_initial_state(batch_size=batch))
    if not cell.built:  # build outside the gradient: weights must not be created from traced values
        cell(x[:, 0], states)

    def unrolled(*offsets):
        s = states
        for t in range(steps):
            _, s = cell(x[:, t], s)
            s = _as_states(s)
            s = [s[0] + offsets[t]] + s[1:]  # h(t) + ε(t)
        return loss_fn(s[0])

    zeros = [ops.zeros_like(states[0]) for _ in range(steps)]
    _, grads = value_and_grad(unrolled, zeros)
    return np.array([float(np.linalg.norm(ops.convert_to_numpy(g).astype(np.float64))) for g in grads])


def global_norm(grads) -> float:
    """sqrt(Σ_i Σ g_i²): the Euclidean norm of all gradients seen as one long vector (None entries skipped)."""
    total = 0.0
    for g in grads:
        if g is not None:
            a = np.asarray(g, dtype=np.float64)
            total += float(np.sum(a * a))
    return math.sqrt(total)


# ------------------------------------------------------------------ the training-loop hook
class _RecordsGradientNorms:
    """Mixed in before a Keras optimizer class: records the pre-clip global gradient norm per step.

    The norms live in an optimizer variable of length `max_steps` (so they survive `jit` on JAX
    and `tf.function` on TensorFlow); entry i is the norm of step i (`optimizer.iterations`
    before the update), -1 where no step has been recorded.
    """

    _record_max_steps = 0

    def build(self, variables):
        import keras

        super().build(variables)
        self.gradient_norms = self.add_variable(shape=(self._record_max_steps,), dtype="float32",
                                                initializer=keras.initializers.Constant(-1.0),
                                                name="gradient_norms")

    def _clip_gradients(self, grads):
        from keras import ops

        squares = [ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads if g is not None]
        norm = ops.sqrt(ops.sum(ops.stack(squares))) if squares else ops.convert_to_tensor(0.0)
        here = ops.equal(ops.arange(self._record_max_steps, dtype="int32"), ops.cast(self.iterations, "int32"))
        self.gradient_norms.assign(ops.where(here, norm, self.gradient_norms.value))
        return super()._clip_gradients(grads)


def record_gradient_norms(optimizer, max_steps: int):
    """A copy of a Keras optimizer that also records the global gradient norm of every step, before clipping.

    Keras 3 callbacks never see gradients, so the recording happens where the optimizer
    clips them: the returned optimizer is an instance of a subclass of `type(optimizer)`, with
    the same configuration (learning rate, `global_clipnorm`, `clipnorm`, `clipvalue`, …),
    whose `_clip_gradients` first stores sqrt(Σ_i ‖g_i‖²) of the gradients it receives. It
    works with `model.fit`, `train_on_batch` and `rnn_course.training.fit_lm(..., compile=False)`,
    on TensorFlow and JAX; read the norms with `recorded_gradient_norms`.

    Args:
        optimizer: a Keras optimizer that has not been used yet, e.g.
            `keras.optimizers.SGD(0.1, global_clipnorm=1.0)`.
        max_steps: how many steps to record (steps beyond are not recorded).

    Returns:
        The recording optimizer (pass it to `model.compile`).

    Raises:
        ValueError: if `optimizer` is not a Keras optimizer or `max_steps` is not a positive integer.
    """
    import keras

    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"`optimizer` must be a Keras optimizer. Received: {optimizer!r:.80}")
    if not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"`max_steps` must be a positive integer. Received: max_steps={max_steps!r}")
    base = type(optimizer)
    recording = type(f"Recording{base.__name__}", (_RecordsGradientNorms, base), {"_record_max_steps": int(max_steps)})
    return recording.from_config(optimizer.get_config())


def recorded_gradient_norms(optimizer) -> np.ndarray:
    """The global gradient norms (before clipping) that a `record_gradient_norms` optimizer has seen.

    Returns:
        A float64 array with one entry per step taken (at most `max_steps`): inf or NaN
        where the gradient was not finite.

    Raises:
        ValueError: if `optimizer` does not record gradient norms.
    """
    from keras import ops

    if not isinstance(optimizer, _RecordsGradientNorms):
        raise ValueError(f"`optimizer` does not record gradient norms: make it with "
                         f"`record_gradient_norms(optimizer, max_steps)`. Received: {optimizer!r:.80}")
    if not optimizer.built:
        return np.zeros(0)
    steps = min(int(ops.convert_to_numpy(optimizer.iterations)), optimizer._record_max_steps)
    return ops.convert_to_numpy(optimizer.gradient_norms).astype(np.float64)[:steps]


@dataclasses.dataclass
class StepLog:
    """What `train_steps` recorded: one entry per step taken.

    Attributes:
        loss: the training loss of each step's batch (before that step's update).
        gradient_norm: the global gradient norm of each step, before clipping.
        stopped_at: the step (0-based) whose loss was not finite, or None if every step was.
    """

    loss: list
    gradient_norm: list
    stopped_at: int | None = None

    @property
    def steps(self) -> np.ndarray:
        return np.arange(len(self.loss))


def train_steps(model, batches, steps: int, *, verbose: bool = True) -> StepLog:
    """Trains a compiled model one batch at a time; records the loss and gradient norm of each step.

    The model must be compiled with a `record_gradient_norms` optimizer. Training stops at the
    first step whose loss is Inf or NaN (every later step would be NaN too), and, if `verbose`,
    says so in one line; the non-finite step is kept in the log so a plot can mark it.

    Args:
        model: a compiled Keras model.
        batches: an iterator of `(x, y)` batches.
        steps: the most steps to take.
        verbose: print the one-line notice when training stops early.

    Returns:
        A `StepLog`.

    Raises:
        ValueError: if the model's optimizer does not record gradient norms.
    """
    if not isinstance(getattr(model, "optimizer", None), _RecordsGradientNorms):
        raise ValueError("compile the model with an optimizer from `record_gradient_norms(optimizer, max_steps)`. "
                         f"Received: {getattr(model, 'optimizer', None)!r:.80}")
    losses = []
    for step in range(steps):
        x, y = next(batches)
        logs = model.train_on_batch(x, y, return_dict=True)
        losses.append(float(logs["loss"]))
        if not math.isfinite(losses[-1]):
            break
    norms = recorded_gradient_norms(model.optimizer)[-len(losses):].tolist()
    log = StepLog(loss=losses, gradient_norm=norms)
    if losses and not math.isfinite(losses[-1]):
        log.stopped_at = len(losses) - 1
        if verbose:
            before = f" (the global gradient norm of step {log.stopped_at - 1} was {norms[-2]:.3g})" if len(norms) > 1 else ""
            print(f"stopped at step {log.stopped_at}: the loss is {losses[-1]}{before}; every later step would be NaN.")
    return log


# ------------------------------------------------------------------ the cliff (Pascanu et al., Fig. 6)
def cliff_loss(w, b, *, steps: int = 50, h0: float = 0.5, target: float = 0.7):
    """Loss and exact gradient of the one-hidden-unit RNN h(t) = w·σ(h(t-1)) + b, J = (h(T) - target)².

    This is the model of Pascanu et al. (2013), section 2.3 and Fig. 6: one unit, no input,
    σ the logistic sigmoid. For w above 4 the map has two stable fixed points, and a small
    change of b near the bifurcation moves h(T) from one to the other: the loss surface has
    a steep wall (the "cliff"). The derivatives dh/dw and dh/db are carried along the
    recurrence (forward-mode), so the gradient is exact.

    Args:
        w, b: floats or NumPy arrays of one shape (a grid, or a single point).
        steps: T, the number of steps.
        h0: h(0).
        target: the value h(T) should reach.

    Returns:
        `(loss, dloss_dw, dloss_db)`, float64 arrays of the shape of `w` and `b` broadcast.
    """
    w, b = np.broadcast_arrays(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
    h = np.full(w.shape, float(h0))
    dh_dw, dh_db = np.zeros(w.shape), np.zeros(w.shape)
    for _ in range(steps):
        s = 1.0 / (1.0 + np.exp(-h))
        ds = s * (1.0 - s)
        dh_dw, dh_db = s + w * ds * dh_dw, w * ds * dh_db + 1.0
        h = w * s + b
    err = h - target
    return err ** 2, 2 * err * dh_dw, 2 * err * dh_db


def descend(start, *, learning_rate: float, steps: int, clip: float | None = None, **cliff_kwargs) -> np.ndarray:
    """A gradient-descent path on `cliff_loss` from `start = (w, b)`.

    Args:
        start: `(w, b)`.
        learning_rate: the step size.
        steps: the number of updates.
        clip: if given, the gradient is rescaled to norm `clip` whenever its norm is larger
            (Pascanu et al., Algorithm 1); None: plain gradient descent.
        **cliff_kwargs: passed to `cliff_loss`.

    Returns:
        A `(steps + 1, 3)` float64 array of (w, b, loss) along the path, the start first.
    """
    w, b = (float(v) for v in start)
    path = []
    for _ in range(steps + 1):
        loss, gw, gb = (float(v) for v in cliff_loss(w, b, **cliff_kwargs))
        path.append((w, b, loss))
        norm = math.hypot(gw, gb)
        if clip is not None and norm > clip:
            gw, gb = gw * clip / norm, gb * clip / norm
        w, b = w - learning_rate * gw, b - learning_rate * gb
    return np.array(path[: steps + 1])
