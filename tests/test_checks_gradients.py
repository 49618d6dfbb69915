"""Notebook 03's graded exercises: the solution passes, plausible mistakes do not.

The answers and the hidden tests are read from `solutions/03_vanishing_exploding_gradients.ipynb`,
so these tests exercise exactly what students get graded on. Each wrong variant is the
solution's answer cell with one plausible mistake written in (a text edit that must apply, so a
variant cannot silently turn into the solution). Every variant must be rejected twice:

* by the public check, with a `CheckFailed` whose hint names the mistake, and
* by the whole test cell, public part and hidden tests (and, where marked, by the hidden tests alone).

The solution must pass both. Runs on every Keras backend.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gradecells import AnswerCells, cell_source, exec_cell as _exec_cell
from rnn_course.checks import CheckFailed
from rnn_course.checks import gradients as checks

NOTEBOOK = Path(__file__).resolve().parents[1] / "solutions" / "03_vanishing_exploding_gradients.ipynb"
# The names the notebook's import cell provides to the answer cells.
PRELUDE = ("import math\nimport time\n\nimport keras\nimport numpy as np\nfrom keras import ops\n\n"
           "from rnn_course import gradients, plotting\nfrom rnn_course.gradients import value_and_grad\n")
ANSWERS = ("q3_1_timestep_gradient_norms", "q3_2_linear_case", "q3_3_clip_by_global_norm", "q3_4_irnn_cell")
ANSWER_CELLS = AnswerCells(NOTEBOOK.name, ANSWERS, PRELUDE)
CELLS = ANSWER_CELLS.sources
hidden_tests, answers, mutate = ANSWER_CELLS.hidden_tests, ANSWER_CELLS.run, ANSWER_CELLS.mutate


def run_check(grade_id: str, namespace: dict) -> None:
    {
        "q3_1_timestep_gradient_norms": lambda ns: checks.check_timestep_gradient_norms(ns["timestep_gradient_norms"]),
        "q3_2_linear_case": lambda ns: checks.check_linear_case(ns["linear_gradient_norms"], ns["spectral_radius"],
                                                                ns["fitted_rate"]),
        "q3_3_clip_by_global_norm": lambda ns: checks.check_clip_by_global_norm(ns["clip_by_global_norm"]),
        "q3_4_irnn_cell": lambda ns: checks.check_irnn_cell(ns["make_irnn_cell"]),
    }[grade_id](namespace)


def run_hidden(grade_id: str, namespace: dict) -> None:
    _exec_cell(hidden_tests(grade_id), f"{grade_id}_tests", dict(namespace))


def run_whole_cell(grade_id: str, namespace: dict) -> None:
    _exec_cell(cell_source(NOTEBOOK.name, f"{grade_id}_tests"), f"{grade_id}_tests", dict(namespace))


# --------------------------------------------------------------------------- the wrong variants
# name: (edits, the hint the public check must give, whether the hidden tests alone reject it too)
OFFSET = "            s[0] = s[0] + offsets[t]                      # h(t) + ε(t): the state that step t returns\n"
NORM_RETURN = "    return np.array([np.linalg.norm(ops.convert_to_numpy(g).astype(np.float64)) for g in grads])"
STEP = "            _, s = cell(x[:, t], s)\n            s = list(s)\n"
TIMESTEP_MUTANTS = {
    "gradient with respect to h(t-1) (the offset added before the step)": (
        [(STEP + OFFSET, "            s = list(s)\n            s[0] = s[0] + offsets[t]\n"
                         "            _, s = cell(x[:, t], s)\n            s = list(s)\n")], r"h\(t-1\), not h\(t\)", True),
    "list reversed (indexed by distance)": ([(NORM_RETURN, NORM_RETURN.replace("for g in grads])", "for g in grads][::-1])"))],
                                            r"reversed", True),
    "squared norm": ([(NORM_RETURN, "    return np.array([np.sum(ops.convert_to_numpy(g).astype(np.float64) ** 2) "
                                    "for g in grads])")], r"squared norms", True),
    "loss over every step, not J(T)": (
        [("        return loss_fn(s[0])\n", "            total = loss_fn(s[0]) if t == 0 else total + loss_fn(s[0])\n"
                                           "        return total\n")], r"adds loss_fn\(h\(t\)\) over every step", True),
    "gradient with respect to the inputs x(t)": (
        [("    def loss_of_offsets(*offsets):", "    def loss_of_offsets(*offsets):\n        xs = [x[:, t] + offsets[t] for t in range(steps)]"),
         ("            _, s = cell(x[:, t], s)", "            _, s = cell(xs[t], s)"),
         ("            s[0] = s[0] + offsets[t]                      # h(t) + ε(t): the state that step t returns\n", ""),
         ("    zeros = [ops.zeros_like(states[0]) for _ in range(steps)]", "    zeros = [ops.zeros_like(x[:, 0]) for _ in range(steps)]")],
        r"inputs x\(t\)", True),
    "loss_fn ignored (sum of h(T))": ([("        return loss_fn(s[0])\n", "        return ops.sum(s[0])\n")],
                                      r"use the loss_fn", True),
}

EIG = "    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(W_h, dtype=np.float64)))))"
POWER = "        v = v @ np.linalg.matrix_power(W, int(length) - done)"
SLOPE = "    slope, _ = np.polyfit(np.asarray(lengths, dtype=np.float64), np.log(np.asarray(norms, dtype=np.float64)), 1)"
LINEAR_MUTANTS = {
    "largest singular value instead of the spectral radius": (
        [(EIG, "    return float(np.linalg.norm(np.asarray(W_h, dtype=np.float64), 2))")], r"largest singular value", True),
    "largest real eigenvalue instead of the spectral radius": (
        [(EIG, "    return float(np.max(np.linalg.eigvals(np.asarray(W_h, dtype=np.float64)).real))")],
        r"largest real part", True),
    "product in the wrong order (W^l g)": ([(POWER, "        v = np.linalg.matrix_power(W, int(length) - done) @ v")],
                                           r"wrong order", False),
    "the rate read from the last two norms": (
        [(SLOPE, "    slope = float(np.log(norms[-1] / norms[-2]) / (lengths[-1] - lengths[-2]))")], r"last points only", True),
    "the slope returned, not exp(slope)": ([("    return float(np.exp(slope))", "    return float(slope)")],
                                            r"log of the rate", True),
    "float32 powers (0.5^200 underflows)": (
        [("    g, W = np.asarray(g, dtype=np.float64), np.asarray(W_h, dtype=np.float64)",
          "    g, W = np.asarray(g, dtype=np.float32), np.asarray(W_h, dtype=np.float32)")], r"float64", False),
}

CLIP_NORM = '    norm = float(ops.sqrt(sum(ops.sum(ops.square(ops.cast(g, "float32"))) for g in grads)))'
CLIP_SCALE = "    scale = threshold / max(norm, threshold)              # 1 below the threshold, c / ‖g‖ above"
CLIP_RETURN = "    return [g * scale for g in grads], norm"
CLIP_MUTANTS = {
    "per-tensor norm (clipnorm)": (
        [(CLIP_RETURN, "    return [g * threshold / ops.maximum(ops.sqrt(ops.sum(ops.square(g))), threshold) "
                       "for g in grads], norm")], r"its own", True),
    "clipping below the threshold too": ([(CLIP_SCALE, "    scale = threshold / norm if norm > 0 else 1.0")],
                                         r"only when the norm is above the threshold", True),
    "squared norm (no square root)": ([(CLIP_NORM, CLIP_NORM.replace("ops.sqrt(", "("))], r"squared norm", True),
    "the norm after clipping returned": ([(CLIP_RETURN, "    return [g * scale for g in grads], min(norm, threshold)")],
                                         r"before clipping", True),
    "clipvalue (each entry to [-c, c])": ([(CLIP_RETURN, "    return [ops.clip(g, -threshold, threshold) for g in grads], norm")],
                                          r"its own", True),
    "non-finite norm not handled (Keras's NaN)": (
        [("    if not math.isfinite(norm):\n        return [ops.zeros_like(g) for g in grads], norm\n", "")],
        r"zeros, so the update is\s+skipped", True),
    "divides by the norm (NaN for zero gradients)": (
        [(CLIP_SCALE, "    scale = min(1.0, threshold / norm) if norm == norm else 1.0"),
         ("    if not math.isfinite(norm):", "    if norm == 0:\n        return [g / norm for g in grads], norm\n"
                                            "    if not math.isfinite(norm):")],
        r"zero gradients", True),
}

IRNN_MUTANTS = {
    "tanh instead of ReLU": ([('        activation="relu",\n', '        activation="tanh",\n')], r"ReLU", True),
    "orthogonal W_h instead of the identity": (
        [("recurrent_initializer=keras.initializers.Identity(),", 'recurrent_initializer="orthogonal",')],
        r"orthogonal but not the identity", True),
    "W_h = 0.5 I": ([("keras.initializers.Identity(),", "keras.initializers.Identity(gain=0.5),")], r"0\.5 times the identity", True),
    "bias of ones": ([('bias_initializer="zeros",', 'bias_initializer="ones",')], r"bias must start at zero", True),
    "Glorot input weights (too large)": (
        [("kernel_initializer=keras.initializers.RandomNormal(stddev=0.001),", 'kernel_initializer="glorot_uniform",')],
        r"N\(0, 0\.001²\)", False),
}

MUTANTS = {
    "q3_1_timestep_gradient_norms": TIMESTEP_MUTANTS,
    "q3_2_linear_case": LINEAR_MUTANTS,
    "q3_3_clip_by_global_norm": CLIP_MUTANTS,
    "q3_4_irnn_cell": IRNN_MUTANTS,
}
CASES = [(gid, name) for gid, variants in MUTANTS.items() for name in variants]
#: The mistake code each wrong variant's hint carries (what `rnn-course report` counts, issue 16).
CODES = {
    "gradient with respect to h(t-1) (the offset added before the step)": "grad-wrt-h-prev",
    "list reversed (indexed by distance)": "time-reversed", "squared norm": "squared-norm",
    "loss over every step, not J(T)": "loss-over-all-steps", "gradient with respect to the inputs x(t)": "grad-wrt-inputs",
    "loss_fn ignored (sum of h(T))": "loss_fn-ignored",
    "largest singular value instead of the spectral radius": "largest-singular-value",
    "largest real eigenvalue instead of the spectral radius": "largest-real-eigenvalue",
    "product in the wrong order (W^l g)": "W-times-g-not-g-times-W",
    "the rate read from the last two norms": "rate-from-last-points", "the slope returned, not exp(slope)": "slope-not-exp",
    "float32 powers (0.5^200 underflows)": "float32-underflow",
    "per-tensor norm (clipnorm)": "per-tensor-norm", "clipping below the threshold too": "clipped-below-threshold",
    "squared norm (no square root)": "squared-norm", "the norm after clipping returned": "norm-after-clipping",
    "clipvalue (each entry to [-c, c])": "per-tensor-norm",
    "non-finite norm not handled (Keras's NaN)": "non-finite-not-skipped",
    "divides by the norm (NaN for zero gradients)": "zero-gradients",
    "tanh instead of ReLU": "not-relu", "orthogonal W_h instead of the identity": "W_h-orthogonal",
    "W_h = 0.5 I": "W_h-scaled-identity", "bias of ones": "bias-not-zero",
    "Glorot input weights (too large)": "W_e-not-small-normal",
}


# --------------------------------------------------------------------------- the tests
def test_every_exercise_has_at_least_three_wrong_variants_caught_by_the_hidden_tests_alone():
    assert set(MUTANTS) == set(ANSWERS)
    assert all(sum(hidden for *_, hidden in variants.values()) >= 3 for variants in MUTANTS.values())


@pytest.mark.parametrize("grade_id", ANSWERS)
def test_solution_passes_the_check_and_the_hidden_tests(grade_id, capsys):
    namespace = answers()
    run_check(grade_id, namespace)
    run_hidden(grade_id, namespace)
    out = capsys.readouterr()
    assert out.out.startswith("✓") and out.err == ""


@pytest.mark.parametrize("grade_id, name", CASES, ids=[f"{g}: {n}" for g, n in CASES])
def test_wrong_variant_is_rejected_by_check_and_test_cell(grade_id, name, capsys):
    edits, hint, hidden = MUTANTS[grade_id][name]
    with pytest.raises(CheckFailed, match=hint) as info:
        run_check(grade_id, answers(**{grade_id: mutate(grade_id, edits)}))
    assert info.value.code == CODES[name] and str(info.value).endswith(f" [mistake: {CODES[name]}]"), str(info.value)
    with pytest.raises(AssertionError):  # the whole test cell, as nbgrader runs it
        run_whole_cell(grade_id, answers(**{grade_id: mutate(grade_id, edits)}))
    if hidden:
        with pytest.raises(Exception):
            run_hidden(grade_id, answers(**{grade_id: mutate(grade_id, edits)}))
    assert capsys.readouterr().err == ""  # nbgrader scores a test cell that writes stderr as 0


def test_the_untouched_student_notebook_fails_every_check_and_hidden_test():
    namespace = answers(**ANSWER_CELLS.unanswered())
    for grade_id in ANSWERS:
        with pytest.raises(CheckFailed, match="NotImplementedError") as info:
            run_check(grade_id, namespace)
        assert info.value.code == "NotImplementedError", str(info.value)  # as the grader codes the stub itself
        with pytest.raises(Exception):
            run_hidden(grade_id, namespace)


@pytest.mark.parametrize("grade_id", ANSWERS)
def test_hidden_tests_compute_their_own_references(grade_id):
    """A student could monkeypatch the check module: the hidden tests must not rely on the package at all."""
    hidden = hidden_tests(grade_id)
    assert "rnn_course" not in hidden and "checks." not in hidden
    assert hidden.count("assert") >= 3


def test_delegating_exercise_3_1_to_the_package_is_refused():
    source = ("def timestep_gradient_norms(cell, inputs, loss_fn):\n"
              "    return gradients.hidden_state_gradient_norms(cell, inputs, loss_fn)\n")
    with pytest.raises(CheckFailed, match="the answer itself") as info:
        checks.check_timestep_gradient_norms(answers(q3_1_timestep_gradient_norms=source)["timestep_gradient_norms"])
    assert info.value.code == "calls-the-answer"


def test_every_wrong_variant_has_its_expected_mistake_code():
    assert set(CODES) == {name for _, name in CASES}


def test_the_linear_case_matrices_separate_the_three_candidates():
    """The test matrices must make the mistakes visible: σ_max far from ρ everywhere, max Re λ in three."""
    cases = checks.linear_case_matrices()
    assert all(sigma > 1.3 * rho for _, rho, _, sigma in cases.values())
    assert sum(abs(real - rho) > 0.04 for _, rho, real, _ in cases.values()) >= 3
    assert any(rho > 1 for _, rho, _, _ in cases.values()) and any(rho < 1 for _, rho, _, _ in cases.values())
