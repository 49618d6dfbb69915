"""Public checks for notebook 03, vanishing and exploding gradients.

Each check runs the student's answer on small deterministic inputs, compares it
with the known formulas, NumPy in float64 or Keras's own layers and optimizers,
and prints one "✓" line, or raises `CheckFailed` with a hint that names the wrong
term. They write only to stdout and never depend on a training run.

| check                            | exercise                                                            |
|----------------------------------|---------------------------------------------------------------------|
| `check_timestep_gradient_norms`  | 3.1 ‖∂J(T)/∂h(t)‖ for t = 1..T, by unrolling a Keras cell            |
| `check_linear_case`              | 3.2 ‖g W_h^ℓ‖, the spectral radius, and the fitted rate of growth    |
| `check_clip_by_global_norm`      | 3.3 Pascanu et al.'s Algorithm 1 on a list of tensors                |
| `check_irnn_cell`                | 3.4 a SimpleRNNCell initialised as Le et al. (2015): the IRNN         |

Tolerances: gradient norms within 1e-4 relative (float32 through a cell); the
linear case in float64, the fitted rate within 1% of the spectral radius over
ℓ = 50..200; clipping within 1e-6 relative of the formula and of Keras's
`global_clipnorm`.
"""

from __future__ import annotations

import math

import numpy as np

from rnn_course.checks import attribute, fail, guard, passed, to_numpy
from rnn_course.checks.cells import code_of as _code_of

NORM_RTOL = 1e-4
RATE_RTOL = 1e-2
CLIP_RTOL = 1e-6
LENGTHS = np.arange(50, 201)  # ℓ for the fitted rate: long enough for the asymptotic rate


def call(what: str, fn, *args, **kwargs):
    """`fn(*args, **kwargs)` for a function of the student's; an error becomes a hint naming the call."""
    with guard(what):
        return fn(*args, **kwargs)




def _close(a, b, rtol, atol=0.0) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _norm_list(value, steps, what) -> np.ndarray:
    arr = to_numpy(value, what)
    if arr.shape != (steps,):
        fail(f"{what} has shape {arr.shape}; expected ({steps},), one norm per time step t = 1..T.", code="wrong-shape")
    if not np.all(np.isfinite(arr)):
        fail(f"{what} contains NaN or inf: {np.round(arr, 4).tolist()}. Expected finite norms.", code="not-finite")
    return arr


# ------------------------------------------------------------ 3.1 per-timestep gradient norms
def _linear_cell(w, kernel=2.0, units=1):
    import keras

    cell = keras.layers.SimpleRNNCell(units, activation="linear", use_bias=False)
    cell(np.zeros((1, 1), "float32"), cell.get_initial_state(batch_size=1))
    cell.kernel.assign(np.full((1, units), kernel, "float32"))
    cell.recurrent_kernel.assign((w * np.eye(units)).astype("float32"))
    return cell


def _tanh_norms_np(x, W_e, W_h, b, v):
    """‖∂(Σ v·h(T))/∂h(t)‖ for t = 1..T by the chain rule, float64, row vectors as Keras stores them."""
    hs, h = [], np.zeros((x.shape[0], W_h.shape[0]))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ W_e + h @ W_h + b)
        hs.append(h)
    g = np.broadcast_to(v, h.shape).astype(np.float64)
    norms = [np.linalg.norm(g)]
    for t in range(x.shape[1] - 1, 0, -1):  # ∂J/∂h(t-1) = (∂J/∂h(t) ∘ tanh'(·)) W_h^T
        g = (g * (1 - hs[t] ** 2)) @ W_h.T
        norms.append(np.linalg.norm(g))
    return np.array(norms[::-1])


def _leaky_cell_class():
    import keras
    from keras import ops

    class LeakyCell(keras.layers.Layer):
        """The check's own cell: h(t) = (1 - a) h(t-1) + a tanh(x W + h(t-1) U), a = 0.5."""

        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = self.state_size = self.output_size = units

        def build(self, input_shape):
            self.W = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform", name="W")
            self.U = self.add_weight(shape=(self.units, self.units), initializer="orthogonal", name="U")

        def call(self, inputs, states):
            h = 0.5 * states[0] + 0.5 * ops.tanh(ops.matmul(inputs, self.W) + ops.matmul(states[0], self.U))
            return h, [h]

        def get_initial_state(self, batch_size=None):
            return [ops.zeros((batch_size, self.units))]

    return LeakyCell


def check_timestep_gradient_norms(timestep_gradient_norms) -> None:
    """Checks `timestep_gradient_norms(cell, inputs, loss_fn)` -> the (T,) norms ‖∂J(T)/∂h(t)‖, t = 1..T.

    On a one-unit linear cell (hand-checkable powers of w), a tanh `keras.layers.SimpleRNNCell`
    against the chain rule in float64, and a cell of the check's own (leaky, not a Keras cell).
    """
    import keras
    from keras import ops

    from rnn_course.gradients import hidden_state_gradient_norms

    source = _code_of(timestep_gradient_norms) or ""
    if "hidden_state_gradient_norms" in source:
        fail("your function calls rnn_course.gradients.hidden_state_gradient_norms, the answer itself: unroll the "
             "cell step by step and take the gradient with rnn_course.gradients.value_and_grad.",
             code="calls-the-answer")

    # A linear unit: h(t) = w h(t-1) + 2 x(t), J = h(T), so ∂J/∂h(t) = w^(T-t).
    x = np.ones((1, 4, 1), "float32")
    got = _norm_list(call("timestep_gradient_norms(linear cell w=0.5, inputs (1, 4, 1), loss_fn=ops.sum)",
                          timestep_gradient_norms, _linear_cell(0.5), x, ops.sum),
                     4, "timestep_gradient_norms(linear cell w=0.5, ...)")
    want = np.array([0.125, 0.25, 0.5, 1.0])
    if not _close(got, want, NORM_RTOL):
        shown = np.round(got, 5).tolist()
        if _close(got, want[::-1], NORM_RTOL):
            hint, code = ("your list is reversed: entry t-1 must be step t, so the first entry is the oldest state "
                          "(distance T-1) and the last is ‖∂J/∂h(T)‖ = 1.", "time-reversed")
        elif _close(got, want / 2, NORM_RTOL):
            hint, code = ("these are the gradients with respect to h(t-1), not h(t): the last entry must be "
                          "‖∂J/∂h(T)‖ = 1. Perturb the state the cell returns at step t (after the step), not the one "
                          "it receives.", "grad-wrt-h-prev")
        elif _close(got, want ** 2, NORM_RTOL):
            hint, code = "these are squared norms: take the square root of Σ g² (np.linalg.norm).", "squared-norm"
        elif _close(got, 2 * want, NORM_RTOL):
            hint, code = ("these are the gradients with respect to the inputs x(t) (the kernel is 2 here): "
                          "differentiate with respect to the hidden states h(t).", "grad-wrt-inputs")
        elif _close(got, np.cumsum(want[::-1])[::-1], NORM_RTOL) or _close(got, [1.875, 1.75, 1.5, 1.0], NORM_RTOL):
            hint, code = ("your loss adds loss_fn(h(t)) over every step: J(T) is loss_fn(h(T)), the last state only.",
                          "loss-over-all-steps")
        else:
            hint, code = ("J(T) = loss_fn(h(T)) and h(t) = w h(t-1) + 2 x(t), so ∂J(T)/∂h(t) = w^(T-t).",
                          "wrong-linear-norms")
        fail(f"on a one-unit linear cell with w = 0.5 and T = 4 you returned {shown}; expected "
             f"[0.125, 0.25, 0.5, 1.0] (0.5^(T-t)). {hint}", code=code)

    # A tanh SimpleRNNCell against the chain rule, with a readout v·h(T) (so loss_fn must be used).
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 9, 3)).astype("float32")
    cell = keras.layers.SimpleRNNCell(4)
    cell(x[:, 0], cell.get_initial_state(batch_size=2))
    W_e, W_h, b = (rng.normal(scale=0.8, size=s) for s in ((3, 4), (4, 4), (4,)))
    for var, value in zip((cell.kernel, cell.recurrent_kernel, cell.bias), (W_e, W_h, b)):
        var.assign(value.astype("float32"))
    v = np.array([1.0, -2.0, 0.5, 3.0], "float32")
    got = _norm_list(call("timestep_gradient_norms(SimpleRNNCell(4), inputs (2, 9, 3), loss_fn=v·h(T))",
                          timestep_gradient_norms, cell, x, lambda h: ops.sum(h * v)),
                     9, "timestep_gradient_norms(SimpleRNNCell(4), ...)")
    want = _tanh_norms_np(x.astype(np.float64), W_e, W_h, b, v.astype(np.float64))
    if not _close(got, want, NORM_RTOL):
        if _close(got, _tanh_norms_np(x.astype(np.float64), W_e, W_h, b, np.ones(4)), NORM_RTOL):
            hint, code = "use the loss_fn you are given: J(T) = loss_fn(h(T)).", "loss_fn-ignored"
        else:
            hint, code = ("unroll the cell you are given from its zero initial state, feeding inputs[:, t] at step t.",
                          "wrong-unroll")
        fail(f"on a tanh SimpleRNNCell(4) the norms differ from the chain rule by up to "
             f"{float(np.max(np.abs(got - want) / want)):.3g} relative (tolerance {NORM_RTOL:g}). {hint}", code=code)

    # The check's own cell, not a Keras one.
    keras.utils.set_random_seed(7)
    leaky = _leaky_cell_class()(3)
    x = rng.normal(size=(1, 6, 2)).astype("float32")
    got = _norm_list(call("timestep_gradient_norms(a leaky cell of the check's own, inputs (1, 6, 2), loss_fn=ops.sum)",
                          timestep_gradient_norms, leaky, x, ops.sum),
                     6, "timestep_gradient_norms(leaky cell, ...)")
    want = hidden_state_gradient_norms(leaky, x, ops.sum)
    if not _close(got, want, NORM_RTOL):
        fail(f"on a cell that is not a Keras layer of its own (h(t) = h(t-1)/2 + tanh(x W + h U)/2) you returned "
             f"{np.round(got, 4).tolist()}; expected {np.round(want, 4).tolist()}. Call the cell you are given, "
             "as cell(x_t, states) -> (output, new_states), with h(t) = new_states[0].", code="cell-not-called")
    passed("timestep_gradient_norms gives ‖∂J(T)/∂h(t)‖ for every t: 0.5^(T-t) on a linear unit, the chain rule "
           "on a tanh SimpleRNNCell, and the right values on another cell.")


# ------------------------------------------------------------ 3.2 the linear case
def _non_normal(eigen_block, scale, seed):
    """S D S^-1 with S = I + scale * (a random strictly upper-triangular matrix): the same eigenvalues, not normal."""
    rng = np.random.default_rng(seed)
    n = eigen_block.shape[0]
    S = np.eye(n) + scale * np.triu(rng.normal(size=(n, n)), 1)
    return S @ eigen_block @ np.linalg.inv(S)


def _rotation(r, theta):
    return r * np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def linear_case_matrices() -> dict:
    """The check's test matrices: non-normal, so the largest singular value is far from the spectral radius.

    `{name: (W, spectral radius, largest real eigenvalue, largest singular value)}`.
    """
    complex_pair = np.zeros((4, 4))
    complex_pair[:2, :2] = _rotation(0.9, np.pi / 3)  # eigenvalues 0.9 e^{±iπ/3}: real part 0.45
    complex_pair[2, 2], complex_pair[3, 3] = 0.6, -0.2
    cases = {
        "hand-checkable [[0.5, 1], [0, -0.8]]": np.array([[0.5, 1.0], [0.0, -0.8]]),
        "complex pair 0.9·e^(±iπ/3)": _non_normal(complex_pair, 0.7, seed=3),
        "exploding, ρ = 1.05": _non_normal(np.diag([1.05, -0.3, 0.5]), 1.0, seed=4),
        "negative dominant eigenvalue -0.5": _non_normal(np.diag([-0.5, 0.45, 0.2]), 1.0, seed=5),
    }
    out = {}
    for name, W in cases.items():
        eig = np.linalg.eigvals(W)
        out[name] = (W, float(np.max(np.abs(eig))), float(np.max(eig.real)), float(np.linalg.norm(W, 2)))
    return out


def _powers_norms(g, W, lengths, *, left=True):
    out, v, done = [], np.array(g, dtype=np.float64), 0
    M = W if left else W.T  # W^ℓ g as a row vector is g (W^T)^ℓ
    for length in lengths:
        v = v @ np.linalg.matrix_power(M, int(length) - done)
        done = int(length)
        out.append(np.linalg.norm(v))
    return np.array(out)


def check_linear_case(linear_gradient_norms, spectral_radius, fitted_rate) -> None:
    """Checks the three functions of exercise 3.2.

    * `linear_gradient_norms(g, W_h, lengths)` -> ‖g W_h^ℓ‖ for each ℓ (float64, g a row vector);
    * `spectral_radius(W_h)` -> max |λ| over the eigenvalues of W_h;
    * `fitted_rate(lengths, norms)` -> exp(slope) of the least-squares line through (ℓ, ln norm).

    The matrices are not normal, so the largest singular value differs clearly from the spectral
    radius, and in two of them the largest real eigenvalue does too.
    """
    matrices = linear_case_matrices()

    # spectral_radius on every matrix.
    for name, (W, rho, real_max, sigma) in matrices.items():
        got = to_numpy(call(f"spectral_radius(W) for the {name} matrix", spectral_radius, W.copy()),
                       f"spectral_radius(W) for the {name} matrix")
        if got.shape not in ((), (1,)):
            fail(f"spectral_radius must return one number. Received an array of shape {got.shape}.", code="not-a-scalar")
        got = float(got.reshape(()))
        if not math.isclose(got, rho, rel_tol=1e-9):
            if math.isclose(got, sigma, rel_tol=1e-6):
                hint, code = ("that is the largest singular value ‖W‖₂ (np.linalg.norm(W, 2)), which bounds the growth "
                              "of one step but not the rate: the spectral radius is the largest |λ| over the "
                              "eigenvalues.", "largest-singular-value")
            elif math.isclose(got, real_max, rel_tol=1e-6):
                hint, code = ("that is the largest real part of an eigenvalue: the spectral radius is the largest "
                              "absolute value |λ| (a complex or negative eigenvalue can have the largest |λ|).",
                              "largest-real-eigenvalue")
            elif math.isclose(got, rho ** 2, rel_tol=1e-6):
                hint, code = ("that is the radius squared: take |λ| = sqrt(re² + im²), i.e. np.abs of the eigenvalues.",
                              "radius-squared")
            else:
                hint, code = ("the spectral radius is max |λ| over the eigenvalues λ of W (np.linalg.eigvals).",
                              "wrong-spectral-radius")
        else:
            continue
        fail(f"spectral_radius({name}) returned {got:.6g}; expected {rho:.6g}. {hint}", code=code)

    # linear_gradient_norms on the hand-checkable matrix, with ℓ = 0.
    W, *_ = matrices["hand-checkable [[0.5, 1], [0, -0.8]]"]
    g, lengths = np.array([1.0, 0.0]), np.array([0, 1, 2, 3])
    got = to_numpy(call("linear_gradient_norms(g=[1, 0], W=[[0.5, 1], [0, -0.8]], lengths=[0, 1, 2, 3])",
                        linear_gradient_norms, g.copy(), W.copy(), lengths.copy()),
                   "linear_gradient_norms(g=[1, 0], W=[[0.5, 1], [0, -0.8]], lengths=[0, 1, 2, 3])")
    want = _powers_norms(g, W, lengths)
    if not _close(got, want, 1e-6):
        if _close(got, _powers_norms(g, W, lengths, left=False), 1e-6):
            hint, code = ("you computed W^ℓ g, the product in the wrong order: the gradient is a row vector that the "
                          "Jacobians multiply from the right, ∂J/∂h(t-ℓ) = g W_h^ℓ (g @ W^ℓ).", "W-times-g-not-g-times-W")
        elif _close(got, want ** 2, 1e-6):
            hint, code = "these are squared norms: take the square root (np.linalg.norm).", "squared-norm"
        elif got.shape == want.shape and math.isclose(float(got[0]), 1.0) is False:
            hint, code = "at ℓ = 0, W^0 is the identity, so the norm is ‖g‖ = 1.", "W0-not-identity"
        else:
            hint, code = "entry i must be ‖g @ W^ℓ‖ for ℓ = lengths[i] (np.linalg.matrix_power).", "wrong-power-norms"
        fail(f"linear_gradient_norms returned {np.round(got, 6).tolist()}; expected {np.round(want, 6).tolist()} "
             f"([‖g‖, ‖g W‖, ‖g W²‖, ‖g W³‖]). {hint}", code=code)

    # fitted_rate on an exact geometric sequence and on an oscillating one.
    ells = np.arange(0, 6)
    got = float(to_numpy(call("fitted_rate(lengths=0..5, norms=3·0.5^ℓ)", fitted_rate, ells, 3 * 0.5 ** ells),
                         "fitted_rate(lengths=0..5, norms=3·0.5^ℓ)"))
    if not math.isclose(got, 0.5, rel_tol=1e-9):
        if math.isclose(got, math.log(0.5), rel_tol=1e-6):
            hint, code = "that is the slope of ln‖·‖, the log of the rate: return exp(slope).", "slope-not-exp"
        elif math.isclose(got, 10 ** (math.log(0.5)), rel_tol=1e-6) or math.isclose(got, math.log10(0.5), rel_tol=1e-6):
            hint, code = "mixing log bases: fit np.log (natural) and return np.exp(slope).", "log-bases-mixed"
        else:
            hint, code = ("fit a line to (ℓ, ln norm) with np.polyfit(lengths, np.log(norms), 1) and return exp(slope).",
                          "wrong-fitted-rate")
        fail(f"fitted_rate on norms 3·0.5^ℓ returned {got:.6g}; expected 0.5. {hint}", code=code)
    wobbly = np.array([1.0, 1.0, 4.0, 4.0])
    want = float(np.exp(np.polyfit(np.arange(4), np.log(wobbly), 1)[0]))
    got = float(to_numpy(call("fitted_rate(lengths=[0, 1, 2, 3], norms=[1, 1, 4, 4])", fitted_rate,
                              np.arange(4), wobbly), "fitted_rate(lengths=[0, 1, 2, 3], norms=[1, 1, 4, 4])"))
    if not math.isclose(got, want, rel_tol=1e-9):
        if math.isclose(got, 1.0) or math.isclose(got, 4 ** (1 / 3)):
            hint, code = ("you read the rate from the last points only; fit the slope over every ℓ, since norms "
                          "oscillate when the largest eigenvalues are complex.", "rate-from-last-points")
        else:
            hint, code = "fit one least-squares line through every (ℓ, ln norm) point.", "not-least-squares"
        fail(f"fitted_rate on norms [1, 1, 4, 4] returned {got:.6g}; expected {want:.6g}. {hint}", code=code)

    # The whole story: the fitted rate over ℓ = 50..200 is the spectral radius, in float64.
    for name, (W, rho, real_max, sigma) in matrices.items():
        g = np.ones(W.shape[0])
        norms = to_numpy(call(f"linear_gradient_norms(ones, {name} matrix, lengths=50..200)", linear_gradient_norms,
                              g.copy(), W.copy(), LENGTHS.copy()), f"linear_gradient_norms for the {name} matrix")
        if norms.shape != LENGTHS.shape or not np.all(np.isfinite(norms)) or np.any(norms <= 0):
            fail(f"linear_gradient_norms for the {name} matrix and ℓ = 50..200 returned zeros, NaN or inf (smallest "
                 f"{np.min(norms) if norms.size else 'none'}). Compute in float64: in float32, 0.5^200 underflows to 0.",
                 code="float32-underflow")
        rate = float(to_numpy(call("fitted_rate(lengths=50..200, those norms)", fitted_rate, LENGTHS.copy(), norms),
                              "fitted_rate(lengths=50..200, those norms)"))
        if not math.isclose(rate, rho, rel_tol=RATE_RTOL):
            fail(f"for the {name} matrix the fitted rate is {rate:.4g} but the spectral radius is {rho:.4g} "
                 f"(tolerance {RATE_RTOL:.0%}). Check linear_gradient_norms in float64 over the whole range.",
                 code="rate-not-spectral-radius")
    passed("‖g W^ℓ‖, the spectral radius and the fitted rate agree: over ℓ = 50..200 the norms change by a factor "
           "ρ = max |λ| per step, not by the largest singular value or the largest real eigenvalue.")


# ------------------------------------------------------------ 3.3 clipping by the global norm
def _clip_reference(grads, c):
    norm = math.sqrt(sum(float(np.sum(np.asarray(g, np.float64) ** 2)) for g in grads))
    return [np.asarray(g, np.float64) * c / max(norm, c) for g in grads], norm


def _run_clip(fn, grads, c, what):
    result = call(what, fn, [g.copy() for g in grads], c)
    if not isinstance(result, (list, tuple)) or len(result) != 2:
        fail(f"{what} returned {type(result).__name__}; expected a pair (clipped_grads, global_norm).", code="not-a-pair")
    clipped, norm = result
    if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
        fail(f"{what}: the clipped gradients must be a list with one tensor per gradient ({len(grads)}). "
             f"Received {type(clipped).__name__}.", code="not-a-list-per-gradient")
    clipped = [to_numpy(g, f"{what}: clipped gradient {i}") for i, g in enumerate(clipped)]
    for i, (a, g) in enumerate(zip(clipped, grads)):
        if a.shape != g.shape:
            fail(f"{what}: clipped gradient {i} has shape {a.shape}; expected {g.shape}, the shape of the gradient.",
                 code="wrong-shape")
    norm = to_numpy(norm, f"{what}: the global norm")
    if norm.shape not in ((), (1,)):
        fail(f"{what}: the global norm must be one number. Received shape {norm.shape}.", code="not-a-scalar")
    return clipped, float(norm.reshape(()))


def check_clip_by_global_norm(clip_by_global_norm) -> None:
    """Checks `clip_by_global_norm(grads, threshold)` -> (clipped, norm) (Pascanu et al., Algorithm 1).

    `norm` is the global norm before clipping, sqrt(Σ_i ‖g_i‖²); the clipped gradients are
    g_i · c / max(norm, c). On finite gradients this equals Keras's `global_clipnorm` (one SGD
    step compared); zero gradients come back unchanged; when the norm is not finite every
    gradient comes back as zeros (the update is skipped) with the non-finite norm.
    """
    import keras

    three_four = [np.array([3.0], "float32"), np.array([4.0], "float32")]
    clipped, norm = _run_clip(clip_by_global_norm, three_four, 1.0, "clip_by_global_norm([[3.], [4.]], threshold=1)")
    if not math.isclose(norm, 5.0, rel_tol=CLIP_RTOL):
        if math.isclose(norm, 25.0, rel_tol=1e-6):
            hint, code = "that is the squared norm Σ g² (25): take its square root.", "squared-norm"
        elif not math.isclose(norm, 1.0, rel_tol=1e-6):
            hint, code = ("the global norm is the norm of every gradient together, sqrt(3² + 4²) = 5, before clipping.",
                          "wrong-global-norm")
        else:
            hint, code = ("return the norm before clipping (5), not after (1): it tells how large the gradient was.",
                          "norm-after-clipping")
        fail(f"the global norm of the gradients [3.] and [4.] is 5. Received {norm:.6g}. {hint}", code=code)
    got = [float(a[0]) for a in clipped]
    if not _close(got, [0.6, 0.8], CLIP_RTOL):
        if _close(got, [1.0, 1.0], 1e-6):
            hint, code = ("each tensor was clipped on its own (by its own norm, Keras's `clipnorm`, or entry by entry, "
                          "`clipvalue`): scale every tensor by the same factor c / max(‖g‖, c), with ‖g‖ the global "
                          "norm, so the direction of the whole gradient is kept.", "per-tensor-norm")
        elif _close(got, [3 / 25, 4 / 25], 1e-6):
            hint, code = ("you divided by the squared norm: scale by c / max(‖g‖, c) with ‖g‖ = sqrt(Σ g²).",
                          "divided-by-squared-norm")
        else:
            hint, code = "the clipped gradients are g · c / max(‖g‖, c) = [3, 4] · 1/5.", "wrong-clipped-gradients"
        fail(f"clip_by_global_norm([[3.], [4.]], threshold=1) gave {np.round(got, 6).tolist()}; expected [0.6, 0.8]. "
             f"{hint}", code=code)

    clipped, norm = _run_clip(clip_by_global_norm, three_four, 10.0, "clip_by_global_norm([[3.], [4.]], threshold=10)")
    got = [float(a[0]) for a in clipped]
    if not _close(got, [3.0, 4.0], CLIP_RTOL):
        fail(f"with threshold 10 and a global norm of 5 the gradients must come back unchanged, [3, 4]. Received "
             f"{np.round(got, 6).tolist()}: clip only when the norm is above the threshold (c / max(‖g‖, c)).",
             code="clipped-below-threshold")

    # Random tensors of several shapes: the formula and Keras's global_clipnorm, one SGD step compared.
    rng = np.random.default_rng(11)
    grads = [rng.normal(size=s).astype("float32") for s in ((3, 4), (4,), (2, 2, 3))]
    for c in (0.5, 2.0, 100.0):
        what = f"clip_by_global_norm(three random tensors, threshold={c})"
        clipped, norm = _run_clip(clip_by_global_norm, grads, c, what)
        want, want_norm = _clip_reference(grads, c)
        if not math.isclose(norm, want_norm, rel_tol=CLIP_RTOL):
            fail(f"{what}: the global norm is {want_norm:.6g}; received {norm:.6g}. It is sqrt(Σ_i Σ g_i²) over "
                 "every tensor, before clipping.", code="wrong-global-norm")
        if not all(_close(a, w, CLIP_RTOL, 1e-7) for a, w in zip(clipped, want)):
            fail(f"{what}: the clipped gradients differ from g · c / max(‖g‖, c) by up to "
                 f"{max(float(np.max(np.abs(a - w))) for a, w in zip(clipped, want)):.3g}.", code="wrong-clipped-gradients")
        with guard("Keras SGD(learning_rate=1, global_clipnorm) on the same gradients"):
            weights = [keras.Variable(np.zeros_like(g)) for g in grads]
            keras.optimizers.SGD(learning_rate=1.0, global_clipnorm=c).apply([keras.ops.convert_to_tensor(g) for g in grads],
                                                                               weights)
            keras_clipped = [-to_numpy(w) for w in weights]
        if not all(_close(a, k, CLIP_RTOL, 1e-7) for a, k in zip(clipped, keras_clipped)):
            fail(f"{what}: one SGD step of Keras with global_clipnorm={c} moves the weights by other amounts than "
                 "your clipped gradients.", code="differs-from-global_clipnorm")

    # Zero gradients: unchanged, norm 0, no NaN from 0/0.
    zeros = [np.zeros((2, 3), "float32"), np.zeros(4, "float32")]
    clipped, norm = _run_clip(clip_by_global_norm, zeros, 1.0, "clip_by_global_norm(zero gradients, threshold=1)")
    if norm != 0.0 or not all(np.array_equal(a, np.zeros_like(a)) for a in clipped):
        fail(f"zero gradients must come back as zeros with a norm of 0. Received norm {norm} and "
             f"{[np.round(a, 4).tolist() for a in clipped]}: c / max(‖g‖, c) is 1 when ‖g‖ = 0 (never divide by ‖g‖).",
             code="zero-gradients")

    # Non-finite norms: every gradient zero, the norm reported as it is.
    for bad, label in ((np.inf, "inf"), (np.nan, "nan")):
        broken = [np.array([1.0, bad], "float32"), np.array([2.0], "float32")]
        what = f"clip_by_global_norm(gradients with a {label} entry, threshold=1)"
        clipped, norm = _run_clip(clip_by_global_norm, broken, 1.0, what)
        if math.isfinite(norm) or (label == "inf" and not math.isinf(norm)):
            fail(f"{what}: the global norm must be {label}, as computed. Received {norm}.", code="non-finite-norm-hidden")
        if not all(np.array_equal(a, np.zeros_like(a)) for a in clipped):
            fail(f"{what}: when the norm is not finite every gradient must come back as zeros, so the update is "
                 f"skipped. Received {[a.tolist() for a in clipped]} (Keras's global_clipnorm would give NaN "
                 "everywhere, which ruins the weights).", code="non-finite-not-skipped")
    passed("clip_by_global_norm rescales all gradients together to norm ≤ c, leaves small ones alone, matches "
           "Keras's global_clipnorm, and handles zero and non-finite gradients.")


# ------------------------------------------------------------ 3.4 the IRNN
def check_irnn_cell(make_irnn_cell) -> None:
    """Checks `make_irnn_cell(units)` -> a `keras.layers.SimpleRNNCell` as Le et al. (2015) initialise it.

    ReLU activation; the recurrent matrix W_h the identity; the bias zero; the input weights
    small, N(0, 0.001²). Its property: with no input, a state of non-negative numbers is kept
    exactly, step after step.
    """
    import keras
    from keras import ops

    units, input_dim = 6, 40
    cell = call(f"make_irnn_cell({units})", make_irnn_cell, units)
    if not isinstance(cell, keras.layers.SimpleRNNCell):
        fail(f"make_irnn_cell must return a keras.layers.SimpleRNNCell. Received: {type(cell).__name__}.",
             code="not-a-SimpleRNNCell")
    if attribute(cell, "units", owner="your cell", expected="units") != units:
        fail(f"make_irnn_cell({units}) made a cell with {cell.units} units; expected {units}.", code="wrong-units")
    with guard("building the cell on inputs of shape (1, 40)"):
        cell(np.zeros((1, input_dim), "float32"), cell.get_initial_state(batch_size=1))
    act = attribute(cell, "activation", owner="your cell", expected="the activation")
    probe = to_numpy(act(ops.convert_to_tensor(np.array([-2.0, -0.5, 0.0, 0.7, 3.0], "float32"))), "the activation")
    if not _close(probe, [0, 0, 0, 0.7, 3.0], 1e-6):
        fail(f"the activation maps [-2, -0.5, 0, 0.7, 3] to {np.round(probe, 4).tolist()}; the IRNN uses ReLU, "
             "max(0, z) (activation=\"relu\"), which passes positive states through unchanged.", code="not-relu")
    W_h = to_numpy(cell.recurrent_kernel, "the recurrent kernel")
    if not _close(W_h, np.eye(units), 0, 1e-7):
        if _close(W_h @ W_h.T, np.eye(units), 0, 1e-5):
            hint, code = "it is orthogonal but not the identity: recurrent_initializer=\"identity\".", "W_h-orthogonal"
        elif _close(W_h, W_h[0, 0] * np.eye(units), 0, 1e-7):
            hint, code = f"it is {W_h[0, 0]:.3g} times the identity: use gain 1.", "W_h-scaled-identity"
        else:
            hint, code = "recurrent_initializer=\"identity\" (keras.initializers.Identity()).", "W_h-not-identity"
        fail(f"the recurrent matrix W_h must be the identity I. {hint}", code=code)
    if cell.use_bias and not np.all(to_numpy(cell.bias, "the bias") == 0):
        fail(f"the bias must start at zero; yours is {np.round(to_numpy(cell.bias), 4).tolist()} "
             "(bias_initializer=\"zeros\").", code="bias-not-zero")
    W_e = to_numpy(cell.kernel, "the input kernel")
    std = float(np.std(W_e))
    if not (0.0004 < std < 0.0025) or abs(float(np.mean(W_e))) > 0.0005:
        fail(f"the input weights W_e have mean {np.mean(W_e):.3g} and standard deviation {std:.3g}; Le et al. draw "
             "them from N(0, 0.001²): kernel_initializer=keras.initializers.RandomNormal(stddev=0.001).",
             code="W_e-not-small-normal")
    h = np.array([[0.0, 0.5, 1.0, 2.0, 3.5, 7.0]], "float32")
    states = [ops.convert_to_tensor(h)]
    with guard("running the cell for 100 steps with zero input"):
        for _ in range(100):
            _, states = cell(np.zeros((1, input_dim), "float32"), states)
    kept = to_numpy(states[0] if isinstance(states, (list, tuple)) else states, "the state after 100 steps")
    if not _close(kept, h, 0, 1e-6):
        fail(f"with zero input, 100 steps turned the state {h[0].tolist()} into {np.round(kept[0], 4).tolist()}; "
             "an IRNN keeps it: h = relu(I h + 0) = h.", code="state-not-kept")
    passed("make_irnn_cell gives a ReLU SimpleRNNCell with W_h = I, zero bias and N(0, 0.001²) input weights: "
           "with no input it keeps its state exactly.")
