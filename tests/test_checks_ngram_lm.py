"""Mutation tests for notebook 01: each graded exercise's checks reject wrong variants.

For every exercise the solution from solutions/01_ngram_language_models.ipynb passes its
test cell, and each wrong variant below fails (a) the public check, (b) the whole test cell,
and, for the mistakes the hidden tests are meant to catch, (c) the hidden tests alone.
"""

import collections
import math

import numpy as np
import pytest

from gradecells import answer_namespace, run_test_cell
from rnn_course.checks import CheckFailed
from rnn_course.checks import ngram_lm as checks

NB = "01_ngram_language_models.ipynb"
BOS, EOS = "<s>", "</s>"
PRELUDE = {"collections": collections, "np": np, "math": math, "BOS": BOS, "EOS": EOS}


def _total(counts, context):
    return sum(c for g, c in counts.items() if g[:-1] == tuple(context))


# ----------------------------------------------------------------- q1.1 count_ngrams
def _counter(left, right):
    def count_ngrams(sentences, n):
        counts = collections.Counter()
        for s in sentences:
            padded = [BOS] * left(n) + list(s) + [EOS] * right
            for i in range(len(padded) - n + 1):
                counts[tuple(padded[i:i + n])] += 1
        return counts
    return count_ngrams


def _list_keys(sentences, n):
    out = collections.Counter()
    for key, c in _counter(lambda n: n - 1, 1)(sentences, n).items():
        out[" ".join(key)] = c
    return out


COUNT_MUTANTS = {
    "pads with n <s> (off by one)": (_counter(lambda n: n, 1), True),
    "pads with n-2 <s> (off by one)": (_counter(lambda n: max(n - 2, 0), 1), True),
    "forgets </s>": (_counter(lambda n: n - 1, 0), True),
    "appends two </s>": (_counter(lambda n: n - 1, 2), True),
    "string keys instead of tuples": (_list_keys, False),
}


# ------------------------------------------------------------------- q1.2 mle_prob
def _mle(denominator):
    def mle_prob(counts, context, word):
        context = tuple(context)
        return counts.get(context + (word,), 0) / denominator(counts, context, word)
    return mle_prob


MLE_MUTANTS = {
    "divides by the total number of n-grams": (_mle(lambda c, ctx, w: sum(c.values())), True),
    "divides by the count of the word": (_mle(lambda c, ctx, w: max(1, sum(v for g, v in c.items() if g[-1] == w))), False),
    "matches only the last context word": (_mle(lambda c, ctx, w: sum(v for g, v in c.items() if g[-2] == ctx[-1])), True),
    "adds one to the denominator": (_mle(lambda c, ctx, w: _total(c, ctx) + 1), True),
}


# ------------------------------------------------------------------ q1.3 add_k_prob
def _add_k(denominator, validate=True):
    def add_k_prob(counts, context, word, k, vocab_size):
        if validate and k <= 0:
            raise ValueError("k")
        c_ctx = _total(counts, context)
        return (counts.get(tuple(context) + (word,), 0) + k) / denominator(c_ctx, k, vocab_size)
    return add_k_prob


ADD_K_MUTANTS = {
    "forgets the |V|k term": (_add_k(lambda c, k, v: c if c else k * v), True),
    "adds k once": (_add_k(lambda c, k, v: c + k), True),
    "adds |V| instead of k|V|": (_add_k(lambda c, k, v: c + v), True),
    "accepts k <= 0": (_add_k(lambda c, k, v: c + k * v, validate=False), False),
}


# ------------------------------------------------------------ q1.4 interpolated_prob
def _interp(*, reverse=False, uniform=True, backoff=True, validate=True):
    def interpolated_prob(counts_by_order, context, word, lambdas, vocab_size):
        lambdas = list(lambdas)
        if validate and (len(lambdas) < 2 or min(lambdas) < 0 or abs(sum(lambdas) - 1) > 1e-9):
            raise ValueError("lambdas")
        weights = [lambdas[0]] + (lambdas[1:][::-1] if reverse else lambdas[1:])
        p = weights[0] / vocab_size if uniform else 0.0
        for n in range(1, len(lambdas)):
            for m in range(n, 0, -1):
                ctx = tuple(context)[len(context) - (m - 1):] if m > 1 else ()
                total = _total(counts_by_order[m], ctx)
                if total:
                    p += weights[n] * counts_by_order[m].get(ctx + (word,), 0) / total
                    break
                if not backoff:
                    break
        return p
    return interpolated_prob


INTERP_MUTANTS = {
    "weights paired with the orders in reverse": (_interp(reverse=True), True),
    "no uniform term": (_interp(uniform=False), True),
    "unseen context contributes 0 instead of backing off": (_interp(backoff=False), True),
    "does not validate the weights": (_interp(validate=False), True),
}


# ------------------------------------------------------------------ q1.5 perplexity
PPL_MUTANTS = {
    "log base 10": (lambda lp: float(10 ** (-np.mean(lp))), True),
    "no averaging (sum)": (lambda lp: float(np.exp(-np.sum(lp))), True),
    "sign flipped": (lambda lp: float(np.exp(np.mean(lp))), True),
    "cross-entropy, not its exp": (lambda lp: float(-np.mean(lp)), True),
    "base 2": (lambda lp: float(2 ** (-np.mean(lp))), True),
}


# --------------------------------------------------------- q1.6 temperature sampling
def _softmax(z):
    z = np.asarray(z, float) - np.max(z)
    return np.exp(z) / np.exp(z).sum()


def _checked(fn):
    def wrapper(log_probs, t):
        if t <= 0:
            raise ValueError("t")
        return fn(np.asarray(log_probs, float), t)
    return wrapper


def _correct_temp(lp, t):  # the maximum subtracted before the division: no NaN at tiny T
    with np.errstate(over="ignore"):
        return _softmax((lp - np.max(lp)) / t)


def _after_softmax(lp, t):
    p = _softmax(lp) / t
    return p / p.sum()


def _no_max_shift(lp, t):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(lp / t)
        return e / e.sum()


def _sampler(temp_fn, use_rng=True):
    def sample_next(log_probs, t, rng):
        p = temp_fn(log_probs, t)
        if use_rng:
            return int(rng.choice(len(p), p=p))
        return int(np.random.choice(len(p), p=p))
    return sample_next


TEMP_MUTANTS = {
    "temperature applied after the softmax": (_checked(_after_softmax), _sampler(_checked(_correct_temp)), True),
    "temperature inverted": (_checked(lambda lp, t: _softmax(lp * t)), _sampler(_checked(_correct_temp)), True),
    "no max shift (overflow)": (_checked(_no_max_shift), _sampler(_checked(_correct_temp)), False),
    "no check for T <= 0": (lambda lp, t: _correct_temp(np.asarray(lp, float), t) if t else np.full(len(lp), np.nan), _sampler(_checked(_correct_temp)), False),
    "sampler ignores the temperature": (_checked(_correct_temp),
                                        _sampler(_checked(lambda lp, t: _softmax(lp))), False),
    "sampler ignores the rng": (_checked(_correct_temp), _sampler(_checked(_correct_temp), use_rng=False), False),
}

EXERCISES = {  # grade_id: (function names, check functions, mutants)
    "q1_1_count_ngrams": (COUNT_MUTANTS, lambda ns: checks.check_count_ngrams(ns["count_ngrams"])),
    "q1_2_mle_prob": (MLE_MUTANTS, lambda ns: checks.check_mle_prob(ns["mle_prob"])),
    "q1_3_add_k_prob": (ADD_K_MUTANTS, lambda ns: checks.check_add_k_prob(ns["add_k_prob"])),
    "q1_4_interpolated_prob": (INTERP_MUTANTS, lambda ns: checks.check_interpolated_prob(ns["interpolated_prob"])),
    "q1_5_perplexity": (PPL_MUTANTS, lambda ns: checks.check_perplexity(ns["perplexity"])),
    "q1_6_temperature": (TEMP_MUTANTS, lambda ns: (checks.check_temperature_probs(ns["temperature_probs"]),
                                                   checks.check_sample_next(ns["sample_next"]))),
}
FUNCTION = {"q1_1_count_ngrams": "count_ngrams", "q1_2_mle_prob": "mle_prob", "q1_3_add_k_prob": "add_k_prob",
            "q1_4_interpolated_prob": "interpolated_prob", "q1_5_perplexity": "perplexity"}


def _mutant_namespace(grade_id, mutant):
    ns = dict(PRELUDE)
    if grade_id == "q1_6_temperature":
        ns["temperature_probs"], ns["sample_next"] = mutant[0], mutant[1]
    else:
        ns[FUNCTION[grade_id]] = mutant[0]
    return ns


CASES = [(gid, name) for gid, (mutants, _) in EXERCISES.items() for name in mutants]
#: The mistake code each wrong variant's hint carries (what `rnn-course report` counts, issue 16).
CODES = {
    "pads with n <s> (off by one)": "padding-too-long", "pads with n-2 <s> (off by one)": "padding-too-short",
    "forgets </s>": "no-end-token", "appends two </s>": "wrong-total-count", "string keys instead of tuples": "key-not-n-tuple",
    "divides by the total number of n-grams": "joint-not-conditional",
    "divides by the count of the word": "divided-by-word-count",
    "matches only the last context word": "context-last-word-only", "adds one to the denominator": "wrong-probability",
    "forgets the |V|k term": "no-kV-in-denominator", "adds k once": "k-added-once", "adds |V| instead of k|V|": "V-not-kV",
    "accepts k <= 0": "k-not-positive-accepted",
    "weights paired with the orders in reverse": "lambdas-reversed", "no uniform term": "wrong-probability",
    "unseen context contributes 0 instead of backing off": "no-backoff",
    "does not validate the weights": "invalid-lambdas-accepted",
    "log base 10": "log10-not-ln", "no averaging (sum)": "sum-not-mean", "sign flipped": "sign-flipped",
    "cross-entropy, not its exp": "cross-entropy-not-exp", "base 2": "log2-not-ln",
    "temperature applied after the softmax": "temperature-after-softmax", "temperature inverted": "temperature-inverted",
    "no max shift (overflow)": "no-max-subtraction", "no check for T <= 0": "temperature-not-positive-accepted",
    "sampler ignores the temperature": "temperature-ignored", "sampler ignores the rng": "rng-not-used",
}


@pytest.mark.parametrize("grade_id", list(EXERCISES))
def test_solution_passes_check_and_test_cell(grade_id, capsys):
    ns = answer_namespace(NB, grade_id, PRELUDE)
    EXERCISES[grade_id][1](ns)
    run_test_cell(NB, grade_id, ns)
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("grade_id", list(EXERCISES))
def test_at_least_three_wrong_variants_per_exercise(grade_id):
    assert len(EXERCISES[grade_id][0]) >= 3


@pytest.mark.parametrize("grade_id, name", CASES, ids=[f"{g}:{n}" for g, n in CASES])
def test_wrong_variant_is_rejected(grade_id, name):
    mutants, check = EXERCISES[grade_id]
    mutant = mutants[name]
    ns = _mutant_namespace(grade_id, mutant)
    with pytest.raises(CheckFailed) as info:
        check(ns)
    assert info.value.code == CODES[name] and str(info.value).endswith(f" [mistake: {CODES[name]}]"), str(info.value)
    with pytest.raises(AssertionError):
        run_test_cell(NB, grade_id, ns)
    if mutant[-1]:  # a mistake the hidden tests are meant to catch on their own
        with pytest.raises((AssertionError, ValueError, ZeroDivisionError, TypeError)):
            run_test_cell(NB, grade_id, ns, part="hidden")


def test_check_hints_name_the_wrong_term():
    hints = {}
    for grade_id, name in [("q1_1_count_ngrams", "pads with n <s> (off by one)"), ("q1_1_count_ngrams", "forgets </s>"),
                           ("q1_3_add_k_prob", "forgets the |V|k term"), ("q1_5_perplexity", "log base 10"),
                           ("q1_5_perplexity", "no averaging (sum)"),
                           ("q1_6_temperature", "temperature applied after the softmax")]:
        with pytest.raises(CheckFailed) as info:
            EXERCISES[grade_id][1](_mutant_namespace(grade_id, EXERCISES[grade_id][0][name]))
        hints[name] = str(info.value)
    assert "'<s>' (you used n)" in hints["pads with n <s> (off by one)"]
    assert "'</s>'" in hints["forgets </s>"]
    assert "k·|V|" in hints["forgets the |V|k term"]
    assert "base 10" in hints["log base 10"]
    assert "average" in hints["no averaging (sum)"]
    assert "*before* the softmax" in hints["temperature applied after the softmax"]


def test_unimplemented_answer_gets_a_clear_message():
    def count_ngrams(sentences, n):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet"):
        checks.check_count_ngrams(count_ngrams)


# ====================================================================================================
# Valid edge inputs (issue 9, 3f): the smallest valid input and the extreme but valid values of every
# exercise. Each wrong variant below passes the checks of the main cases (the mutation tests above) and
# fails only on one edge input; the public check must reject it with a hint that names the problem, and
# so must the whole test cell. `hidden`: the hidden tests alone also catch it (a pinned case each).
# ----------------------------------------------------------------------------------------------------
def _skip_sentences(skip):
    def count_ngrams(sentences, n):
        counts = collections.Counter()
        for s in sentences:
            if skip(s, n):
                continue
            padded = [BOS] * (n - 1) + list(s) + [EOS]
            for i in range(len(padded) - n + 1):
                counts[tuple(padded[i:i + n])] += 1
        return counts
    return count_ngrams


def _refusing(fn, refuse, message):
    """`fn` that raises ValueError(message) when `refuse(*args)`: a solution that rejects a valid input."""
    def wrapped(*args):
        if refuse(*args):
            raise ValueError(message)
        return fn(*args)
    return wrapped


def _exact_sum_interp(counts_by_order, context, word, lambdas, vocab_size):
    if sum(lambdas) != 1:
        raise ValueError(f"the weights must sum to 1, not {sum(lambdas)}")
    return _interp(validate=True)(counts_by_order, context, word, lambdas, vocab_size)


def _divide_first(lp, t):  # the reference solution before issue 9: divide by T, then subtract the max
    z = np.asarray(lp, float) / t
    return np.exp(z - z.max()) / np.exp(z - z.max()).sum()


def _strict_cdf_sampler(log_probs, t, rng):  # a hand-written inverse CDF with `<`: u = 0.0 picks index 0
    p = _checked(_correct_temp)(log_probs, t)
    return int(min(np.sum(np.cumsum(p) < rng.random()), len(p) - 1))


_SOLUTION_TEMP = _checked(_correct_temp)
EDGE_MUTANTS = {  # name: (grade_id, mutant as in EXERCISES, the hint it must get, caught by the hidden tests alone)
    "count_ngrams skips an empty sentence": (
        "q1_1_count_ngrams", (_skip_sentences(lambda s, n: not s),), r"empty sentence still predicts", True),
    "count_ngrams skips sentences shorter than n": (
        "q1_1_count_ngrams", (_skip_sentences(lambda s, n: len(s) < n),), r"do not skip short sentences", True),
    "count_ngrams refuses an empty corpus": (
        "q1_1_count_ngrams", (_refusing(_counter(lambda n: n - 1, 1), lambda s, n: not s, "no sentences"),),
        r"count_ngrams\(\[\], n=2\) raised ValueError.*empty Counter", True),
    "mle_prob refuses the empty context of unigrams": (
        "q1_2_mle_prob", (_refusing(_mle(lambda c, ctx, w: _total(c, ctx)), lambda c, ctx, w: not tuple(ctx),
                                    "the context is empty"),), r"context is the empty tuple", True),
    "add_k_prob refuses k > 1": (
        "q1_3_add_k_prob", (_refusing(_add_k(lambda c, k, v: c + k * v), lambda c, ctx, w, k, v: k > 1,
                                      "k must be in (0, 1]"),), r"k=5.*k > 1 too", True),
    "interpolated_prob refuses exactly two weights": (
        "q1_4_interpolated_prob", (_refusing(_interp(), lambda cbo, ctx, w, lam, v: len(lam) < 3,
                                             "need at least three weights"),), r"exactly two weights are valid", True),
    "interpolated_prob compares the sum of the weights with == 1": (
        "q1_4_interpolated_prob", (_exact_sum_interp,), r"within 1e-9, not with ==", False),
    "perplexity multiplies the probabilities (underflow)": (
        "q1_5_perplexity", (lambda lp: float(np.prod(np.exp(lp)) ** (-1 / len(lp))),), r"underflows", True),
    "temperature_probs divides by T before subtracting the max (NaN at T = 1e-308)": (
        "q1_6_temperature", (_checked(_divide_first), _sampler(_checked(_divide_first))),
        r"T=1e-308\) gave \[nan, nan, nan\].*maximum score \*before\* dividing by T", True),
    "sample_next: an inverse CDF with < draws a zero-probability token at u = 0.0": (
        "q1_6_temperature", (_SOLUTION_TEMP, _strict_cdf_sampler), r"u = 0\.0 .*probability is 0", False),
}
EDGE_CASES = list(EDGE_MUTANTS)
EDGE_CODES = {  # the mistake code of each edge variant: the edge input it does not handle
    "count_ngrams skips an empty sentence": "empty-sentence",
    "count_ngrams skips sentences shorter than n": "sentence-shorter-than-n",
    "count_ngrams refuses an empty corpus": "no-sentences",
    "mle_prob refuses the empty context of unigrams": "unigram-empty-context",
    "add_k_prob refuses k > 1": "k-above-1", "interpolated_prob refuses exactly two weights": "two-lambdas",
    "interpolated_prob compares the sum of the weights with == 1": "lambda-sum-exact-equality",
    "perplexity multiplies the probabilities (underflow)": "product-underflows",
    "temperature_probs divides by T before subtracting the max (NaN at T = 1e-308)": "max-not-subtracted-first",
    "sample_next: an inverse CDF with < draws a zero-probability token at u = 0.0": "zero-probability-drawn",
}


def _edge_namespace(grade_id, mutant):
    if grade_id == "q1_6_temperature":
        return _mutant_namespace(grade_id, mutant)
    return _mutant_namespace(grade_id, (mutant[0],))


@pytest.mark.parametrize("name", EDGE_CASES)
def test_wrong_variant_on_a_valid_edge_input_is_rejected(name):
    grade_id, mutant, hint, hidden = EDGE_MUTANTS[name]
    ns = _edge_namespace(grade_id, mutant)
    with pytest.raises(CheckFailed, match=hint) as info:
        EXERCISES[grade_id][1](ns)
    assert info.value.code == EDGE_CODES[name], str(info.value)
    with pytest.raises(AssertionError):
        run_test_cell(NB, grade_id, ns)
    if hidden:
        with pytest.raises((AssertionError, ValueError, ZeroDivisionError, TypeError)):
            run_test_cell(NB, grade_id, ns, part="hidden")


def test_every_wrong_variant_has_its_expected_mistake_code():
    assert set(CODES) == {name for _, name in CASES} and set(EDGE_CODES) == set(EDGE_CASES)


def test_an_unanswered_exercise_and_a_wrong_kind_of_result_get_generic_codes():
    def count_ngrams(sentences, n):
        raise NotImplementedError()

    with pytest.raises(CheckFailed) as info:
        checks.check_count_ngrams(count_ngrams)
    assert info.value.code == "NotImplementedError"  # as the grader codes the unanswered stub it sees itself
    for name, code in [("mle_prob forgets to return", "not-a-float"),
                       ("temperature_probs returns a generator", "not-numeric")]:
        check, fn, _ = GUARD_MUTANTS[name]
        with pytest.raises(CheckFailed) as info:
            check(fn)
        assert info.value.code == code, str(info.value)
    with pytest.raises(CheckFailed) as info:
        checks.check_perplexity(lambda lp: 1 / 0)
    assert info.value.code == "raised-ZeroDivisionError", str(info.value)


def test_every_exercise_has_a_wrong_variant_on_an_edge_input():
    assert {grade_id for grade_id, *_ in EDGE_MUTANTS.values()} == set(EXERCISES)


@pytest.mark.parametrize("u, index", [(0.0, 1), (float(np.nextafter(1.0, 0.0)), 3)])
def test_generator_with_first_draw_gives_the_extremes_of_the_unit_interval(u, index):
    """The draws of the probes are exactly the extremes, for `random` and for `choice` (the first index
    with positive probability, or the last); the draws after the first are ordinary."""
    assert checks.generator_with_first_draw(u).random() == u
    assert checks.generator_with_first_draw(u).choice(5, p=[0, 0.5, 0.25, 0.25, 0]) == index
    assert 0.0 < checks.generator_with_first_draw(u).random(3)[1:].min() < 1.0
    with pytest.raises(ValueError, match="Received: u=0.5"):
        checks.generator_with_first_draw(0.5)


@pytest.mark.parametrize("scores, t, want", [
    ([1e4, 9999.0, -1e4], 1e-3, [1.0, 0.0, 0.0]),
    (np.log([0.1, 0.1, 0.05]), 1e-308, [0.5, 0.5, 0.0]),
    (np.log([0.5, 0.25, 0.15, 0.1]), 5e-324, [1.0, 0.0, 0.0, 0.0]),
    ([1e4, 9999.0, -1e4], 1.0, [1 / (1 + math.exp(-1)), math.exp(-1) / (1 + math.exp(-1)), 0.0]),
])
def test_the_solutions_temperature_probs_on_extreme_inputs(scores, t, want):
    ns = answer_namespace(NB, "q1_6_temperature", PRELUDE)
    with np.errstate(divide="raise", over="raise", invalid="raise"):  # and without a numpy warning, which a notebook would print to stderr
        got = ns["temperature_probs"](np.asarray(scores, dtype=np.float32), t)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


# ------------------------------------------------------- guards: a hint, never a crash inside the check (issue 9)
def _no_return_add_k(counts, context, word, k, vocab_size):
    if k <= 0:
        raise ValueError("k must be > 0")
    (counts.get(tuple(context) + (word,), 0) + k) / (_total(counts, context) + k * vocab_size)  # no return


GUARD_MUTANTS = {  # name: (check, the student's function, the hint it must get)
    "mle_prob forgets to return": (checks.check_mle_prob, lambda counts, context, word: None,
                                   r"mle_prob\(counts, .*\) must return a number \(a float\)\. Received NoneType None"),
    "add_k_prob forgets to return": (checks.check_add_k_prob, _no_return_add_k,
                                     r"add_k_prob\(counts, .*\) must return a number \(a float\)\. Received NoneType None"),
    "interpolated_prob returns a string": (checks.check_interpolated_prob, lambda c, ctx, w, lambdas, v: "0.1",
                                           r"must return a number \(a float\)\. Received str '0\.1'"),
    "temperature_probs returns a generator": (checks.check_temperature_probs, lambda lp, t: (x / t for x in lp),
                                              r"temperature_probs\(log_probs, 1\.0\): expected numbers .*"
                                              r"Received generator"),
}


@pytest.mark.parametrize("name", list(GUARD_MUTANTS))
def test_a_wrong_kind_of_result_gets_a_hint_not_a_crash(name, capsys):
    check, fn, hint = GUARD_MUTANTS[name]
    with pytest.raises(CheckFailed, match=hint):
        check(fn)
    assert capsys.readouterr().err == ""


def test_an_unanswered_exercise_shows_the_students_line_and_no_chained_exception():
    def count_ngrams(sentences, n):
        raise NotImplementedError()

    with pytest.raises(CheckFailed, match="not implemented yet") as info:
        checks.check_count_ngrams(count_ngrams)
    assert isinstance(info.value.__cause__, NotImplementedError)
    text = "".join(info.value._render_traceback_())  # what IPython shows, here in the standard format
    assert "rnn_course/" not in text and "During handling" not in text and "direct cause" not in text, text
    assert "raise NotImplementedError()" in text and text.rstrip().endswith(str(info.value)), text
