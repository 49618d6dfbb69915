"""Public checks for notebook 01, n-gram language models.

Each `check_*` takes the student's function, runs it on a small corpus whose
answers are computed here from the formulas, and either prints "✓ ..." or raises
`CheckFailed` with a hint that names the wrong term.
"""

from __future__ import annotations

import collections
import math

import numpy as np

from rnn_course.checks import CheckFailed, expect_close, fail, passed

BOS, EOS = "<s>", "</s>"

#: The corpus every check uses: small enough to verify by hand.
TOY_SENTENCES = [
    ["the", "cat", "sat"],
    ["the", "dog", "sat", "down"],
    ["a", "cat", "ran"],
    ["the", "cat", "ran", "down"],
]


# ----------------------------------------------------------- references (the formulas)
def reference_count_ngrams(sentences, n):
    """n-gram counts with n-1 `<s>` in front of and one `</s>` after every sentence."""
    counts = collections.Counter()
    for sentence in sentences:
        padded = [BOS] * (n - 1) + list(sentence) + [EOS]
        for i in range(len(padded) - n + 1):
            counts[tuple(padded[i:i + n])] += 1
    return counts


def _context_total(counts, context):
    return sum(c for gram, c in counts.items() if gram[:-1] == tuple(context))


def _vocab(sentences):
    return sorted({w for s in sentences for w in s} | {EOS})


def _call(fn, *args, what):
    try:
        return fn(*args)
    except NotImplementedError:
        fail(f"{what} is not implemented yet (it raises NotImplementedError).")
    except CheckFailed:
        raise
    except Exception as err:  # the student's bug, reported as a hint rather than a traceback
        fail(f"{what} raised {type(err).__name__}: {err}")


def _expect_value_error(call, what: str, why: str) -> None:
    """Fails unless `call()` raises ValueError (the check for rejected bad arguments)."""
    try:
        call()
    except ValueError:
        return
    except Exception as err:
        fail(f"{what} should raise ValueError; it raised {type(err).__name__}.")
    fail(f"{what} must raise ValueError: {why}")


# -------------------------------------------------------------- q1.1 counting n-grams
def check_count_ngrams(count_ngrams) -> None:
    """Checks `count_ngrams(sentences, n) -> Counter` on the toy corpus for n = 1, 2, 3."""
    for n in (1, 2, 3):
        got = _call(count_ngrams, TOY_SENTENCES, n, what=f"count_ngrams(sentences, n={n})")
        want = reference_count_ngrams(TOY_SENTENCES, n)
        if not isinstance(got, collections.abc.Mapping):
            fail(f"count_ngrams must return a Counter (a mapping n-gram -> count). Received {type(got).__name__}.")
        got = collections.Counter(got)
        bad_keys = [k for k in got if not (isinstance(k, tuple) and len(k) == n)]
        if bad_keys:
            fail(f"n={n}: every key must be a tuple of {n} tokens. Received the key {bad_keys[0]!r}.")
        if got == want:
            continue
        first = TOY_SENTENCES[0][0]
        if got.get((BOS,) * n, 0):
            fail(f"n={n}: you counted {(BOS,) * n}. Pad with n-1 = {n - 1} '<s>' (you used n): "
                 "'<s>' is only ever a context, never predicted.")
        if n >= 2 and not got.get((BOS,) * (n - 1) + (first,), 0):
            fail(f"n={n}: {(BOS,) * (n - 1) + (first,)} is missing. The first word is predicted from a "
                 f"context of n-1 = {n - 1} '<s>' tokens; your padding is too short.")
        if not any(gram[-1] == EOS for gram in got):
            fail(f"n={n}: no n-gram ends with '</s>'. Every sentence ends with one '</s>', which the "
                 "model must predict (that is how it learns where sentences stop).")
        if any(gram[-2:] == (EOS, EOS) for gram in got if n >= 2):
            fail(f"n={n}: you appended more than one '</s>'. Add exactly one per sentence.")
        total_want = sum(len(s) + 1 for s in TOY_SENTENCES)
        if sum(got.values()) != total_want:
            fail(f"n={n}: your counts add up to {sum(got.values())}; expected {total_want}, one n-gram per "
                 "predicted token (each word and the final '</s>').")
        diff = sorted(set(got.items()) ^ set(want.items()))[:3]
        fail(f"n={n}: counts differ from the reference, e.g. {diff}.")
    passed("count_ngrams pads with n-1 '<s>' and one '</s>', and counts every n-gram")


# -------------------------------------------------------------- q1.2 MLE probability
def check_mle_prob(mle_prob) -> None:
    """Checks `mle_prob(counts, context, word)` = count(context + word) / count(context followed by anything)."""
    vocab = _vocab(TOY_SENTENCES)
    unigram = reference_count_ngrams(TOY_SENTENCES, 1)
    cases = {2: [("the",), ("cat",), (BOS,), ("sat",)], 3: [(BOS, BOS), (BOS, "the"), ("the", "cat"), ("a", "cat")]}
    for n, contexts in cases.items():
        counts = reference_count_ngrams(TOY_SENTENCES, n)
        total = sum(counts.values())
        for context in contexts:
            c_ctx = _context_total(counts, context)
            partial = sum(c for gram, c in counts.items() if gram[-2] == context[-1])
            for word in vocab:
                c = counts.get(context + (word,), 0)
                want = c / c_ctx
                got = _call(mle_prob, counts, context, word, what=f"mle_prob(counts, {context}, {word!r})")
                if isinstance(got, (int, float, np.floating)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
                    continue
                if c and math.isclose(got, c / total, rel_tol=1e-9):
                    fail(f"P({word!r} | {context}) = {got:.4f}: you divided by the total number of n-grams. That is "
                         "the joint probability P(context, word); divide by the count of the context instead.")
                if c and math.isclose(got, c / max(unigram.get((word,), 0), 1), rel_tol=1e-9):
                    fail(f"P({word!r} | {context}) = {got:.4f}: you divided by the count of the *word*. "
                         "Condition on the context: divide by how often the context occurs.")
                if c and n > 2 and partial != c_ctx and math.isclose(got, c / partial, rel_tol=1e-9):
                    fail(f"P({word!r} | {context}) = {got:.4f}: you counted n-grams that match only the last word "
                         "of the context. The whole context (all n-1 words) must match.")
                fail(f"P({word!r} | {context}) = {got!r}; expected {want:.4f} = count{context + (word,)} / "
                     f"count of {context} followed by any word ({c}/{c_ctx}).")
            total_p = sum(mle_prob(counts, context, w) for w in vocab)
            if not math.isclose(total_p, 1.0, rel_tol=1e-9):
                fail(f"P(· | {context}) sums to {total_p:.4f} over the vocabulary; a distribution sums to 1.")
    passed("mle_prob = count(context, word) / count(context), and sums to 1 over the vocabulary")


# -------------------------------------------------------------- q1.3 add-k smoothing
def check_add_k_prob(add_k_prob) -> None:
    """Checks `add_k_prob(counts, context, word, k, vocab_size)` = (c(ctx,w) + k) / (c(ctx) + k|V|)."""
    counts = reference_count_ngrams(TOY_SENTENCES, 2)
    vocab = _vocab(TOY_SENTENCES) + ["zebra"]  # one word never seen: it must still get probability
    V = len(vocab)
    for k in (1.0, 0.1):
        for context in [("the",), (BOS,), ("zebra",)]:
            c_ctx = _context_total(counts, context)
            for word in vocab:
                c = counts.get(context + (word,), 0)
                want = (c + k) / (c_ctx + k * V)
                got = _call(add_k_prob, counts, context, word, k, V,
                            what=f"add_k_prob(counts, {context}, {word!r}, k={k}, vocab_size={V})")
                if math.isclose(got, want, rel_tol=1e-9):
                    continue
                if c_ctx and math.isclose(got, (c + k) / (c_ctx + k), rel_tol=1e-9):
                    fail(f"k={k}: your denominator adds k once. Every one of the |V| = {V} words got k extra "
                         "counts, so the denominator grows by k·|V|.")
                if c_ctx and math.isclose(got, (c + k) / (c_ctx + V), rel_tol=1e-9):
                    fail(f"k={k}: your denominator adds |V| but the numerator adds k. Add k·|V| = {k * V:g}.")
                if c_ctx and math.isclose(got, (c + k) / c_ctx, rel_tol=1e-9):
                    fail(f"k={k}: you forgot the k·|V| term in the denominator, so probabilities no longer sum to 1.")
                if c_ctx == 0:
                    fail(f"k={k}: for the unseen context {context} every word should get k / (0 + k|V|) = 1/|V| = "
                         f"{1 / V:.4f}. Received {got!r}.")
                fail(f"add_k_prob(counts, {context}, {word!r}, k={k}) = {got!r}; expected ({c} + {k}) / "
                     f"({c_ctx} + {k}·{V}) = {want:.5f}.")
    for bad_k in (0, -1):
        _expect_value_error(lambda: add_k_prob(counts, ("the",), "cat", bad_k, V), f"k={bad_k}",
                            "add-k needs k > 0 (k = 0 is MLE, which gives zeros).")
    passed("add_k_prob = (count + k) / (context count + k|V|), and rejects k <= 0")


# ------------------------------------------------------ q1.4 linear interpolation
def reference_mle_backoff(counts_by_order, context, word, n):
    """P_MLE,n(word | last n-1 words of context); if that context never occurred, the order below."""
    for m in range(n, 0, -1):
        ctx = tuple(context[len(context) - (m - 1):]) if m > 1 else ()
        if len(ctx) < m - 1:
            continue
        c_ctx = _context_total(counts_by_order[m], ctx)
        if c_ctx:
            return counts_by_order[m].get(ctx + (word,), 0) / c_ctx
    return 0.0


def reference_interpolated_prob(counts_by_order, context, word, lambdas, vocab_size):
    """λ0/|V| + Σ_n λn · P_MLE,n(word | context), each order backing off to the one below if unseen."""
    p = lambdas[0] / vocab_size
    for n in range(1, len(lambdas)):
        p += lambdas[n] * reference_mle_backoff(counts_by_order, context, word, n)
    return p


def check_interpolated_prob(interpolated_prob) -> None:
    """Checks `interpolated_prob(counts_by_order, context, word, lambdas, vocab_size)`."""
    counts_by_order = {n: reference_count_ngrams(TOY_SENTENCES, n) for n in (1, 2, 3)}
    vocab = _vocab(TOY_SENTENCES) + ["zebra"]
    V = len(vocab)
    cases = [((0.1, 0.2, 0.3, 0.4), ("the", "cat")), ((0.05, 0.15, 0.3, 0.5), (BOS, "the")),
             ((0.1, 0.3, 0.6), ("dog",)), ((0.2, 0.2, 0.2, 0.4), ("zebra", "cat")), ((0.1, 0.1, 0.1, 0.7), ("cat", "zebra"))]
    for lambdas, context in cases:
        total = 0.0
        for word in vocab:
            want = reference_interpolated_prob(counts_by_order, context, word, lambdas, V)
            got = _call(interpolated_prob, counts_by_order, context, word, lambdas, V,
                        what=f"interpolated_prob(..., context={context}, word={word!r}, lambdas={lambdas})")
            total += got
            if math.isclose(got, want, rel_tol=1e-9):
                continue
            reversed_l = (lambdas[0],) + tuple(reversed(lambdas[1:]))
            if math.isclose(got, reference_interpolated_prob(counts_by_order, context, word, reversed_l, V), rel_tol=1e-9):
                fail(f"lambdas={lambdas}: you paired the weights with the orders in reverse. lambdas[n] weighs the "
                     "n-gram estimate (lambdas[1] the unigram, lambdas[-1] the highest order).")
            if "zebra" in context:
                fail(f"context {context} was never seen, so its MLE is undefined: use the estimate of the order "
                     f"below (a shorter context) in its place. Received P({word!r}) = {got!r}, expected {want:.5f}.")
            if word == "zebra" and got == 0:
                fail("an unseen word got probability 0: the λ0/|V| term is missing.")
            fail(f"P({word!r} | {context}) with lambdas={lambdas} = {got!r}; expected {want:.6f} = λ0/|V| + "
                 "Σn λn·P_MLE,n(word | last n-1 context words).")
        if not math.isclose(total, 1.0, rel_tol=1e-9):
            fail(f"with lambdas={lambdas} the probabilities of all {V} words sum to {total:.4f}, not 1.")
    for bad in ((0.5, 0.6), (-0.1, 0.6, 0.5), (1.0,)):
        _expect_value_error(lambda: interpolated_prob(counts_by_order, ("the",), "cat", bad, V), f"lambdas={bad}",
                            "the weights must be >= 0, sum to 1, and cover at least order 1.")
    passed("interpolated_prob mixes the orders with weights λ, backs off from unseen contexts, and sums to 1")


# ------------------------------------------------------------------ q1.5 perplexity
def check_perplexity(perplexity) -> None:
    """Checks `perplexity(log_probs)` = exp(-mean(log_probs)) for natural-log probabilities."""
    rng = np.random.default_rng(0)
    cases = [np.log(np.full(10, 0.25)), np.log(rng.uniform(0.01, 0.9, size=37)), np.log([0.5])]
    for log_probs in cases:
        want = math.exp(-float(np.mean(log_probs)))
        got = _call(perplexity, log_probs, what="perplexity(log_probs)")
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail(f"perplexity must return a number. Received {type(got).__name__}.")
        if math.isclose(got, want, rel_tol=1e-7):
            continue
        mean = float(np.mean(log_probs))
        if math.isclose(got, 10 ** (-mean), rel_tol=1e-7) or math.isclose(got, 10 ** (-mean / math.log(10)), rel_tol=1e-7):
            fail("You used base 10. The log-probabilities are natural logs, so perplexity = exp(-mean), not 10**(-mean).")
        if math.isclose(got, 2 ** (-mean), rel_tol=1e-7):
            fail("You used base 2 with natural-log inputs: perplexity = exp(-mean(log p)).")
        if len(log_probs) > 1 and math.isclose(got, math.exp(-float(np.sum(log_probs))), rel_tol=1e-7):
            fail("You did not average: perplexity is exp of the *mean* negative log-probability per token, "
                 "so it does not grow with the length of the text.")
        if math.isclose(got, 1 / want, rel_tol=1e-7):
            fail("The sign is flipped: perplexity = exp(-mean(log p)), which is >= 1.")
        if math.isclose(got, -mean, rel_tol=1e-7):
            fail("That is the cross-entropy (mean negative log-probability); perplexity is its exp.")
        fail(f"perplexity = {got!r}; expected exp(-mean(log p)) = {want:.6f}.")
    if not math.isclose(float(perplexity(np.log(np.full(7, 1 / 7)))), 7.0, rel_tol=1e-9):
        fail("A model that spreads probability evenly over 7 words must have perplexity exactly 7.")
    passed("perplexity = exp(mean negative log-probability per token)")


# --------------------------------------------------- q1.6 sampling with temperature
def reference_temperature_probs(scores, temperature):
    z = np.asarray(scores, dtype=np.float64) / temperature
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def check_temperature_probs(temperature_probs) -> None:
    """Checks `temperature_probs(log_probs, temperature)` = softmax(log_probs / T)."""
    log_probs = np.log(np.array([0.5, 0.25, 0.15, 0.1]))
    for t in (1.0, 0.5, 2.0):
        got = _call(temperature_probs, log_probs, t, what=f"temperature_probs(log_probs, {t})")
        want = reference_temperature_probs(log_probs, t)
        got_arr = np.asarray(got, dtype=np.float64)
        if got_arr.shape == want.shape and t != 1.0 and np.allclose(got_arr, np.exp(log_probs), atol=1e-9):
            fail(f"T={t} changed nothing. Dividing probabilities by T after the softmax is undone when you "
                 "renormalise: divide the log-probabilities (scores) by T *before* the softmax.")
        if got_arr.shape == want.shape and np.allclose(got_arr, reference_temperature_probs(log_probs, 1 / t), atol=1e-9) and t != 1.0:
            fail(f"T={t}: your temperature is inverted (you multiplied by T). Low T must sharpen the distribution "
                 "(divide the scores by T).")
        expect_close(got, want, what=f"temperature_probs(log_probs, T={t})", atol=1e-9, rtol=1e-7,
                     hint="Expected softmax(log_probs / T).")
    big = _call(temperature_probs, np.array([1000.0, 999.0, 0.0]), 1.0, what="temperature_probs with large scores")
    expect_close(big, reference_temperature_probs([1000.0, 999.0, 0.0], 1.0), what="scores (1000, 999, 0)",
                 hint="Subtract the maximum score before exp, or exp overflows to inf.", atol=1e-9)
    for bad in (0, -1.0):
        _expect_value_error(lambda: temperature_probs(log_probs, bad), f"temperature={bad}",
                            "T must be > 0 (T -> 0 is greedy decoding; use argmax).")
    passed("temperature_probs = softmax(log_probs / T): T < 1 sharpens, T > 1 flattens")


def check_sample_next(sample_next, temperature_probs=reference_temperature_probs) -> None:
    """Checks `sample_next(log_probs, temperature, rng)`: seeded, and distributed as softmax(log_probs / T)."""
    log_probs = np.log(np.array([0.6, 0.25, 0.1, 0.05]))
    n_draws = 4000
    for t in (0.5, 1.0, 2.0):
        rng = np.random.default_rng(123)
        draws = np.array([_call(sample_next, log_probs, t, rng, what=f"sample_next(log_probs, {t}, rng)")
                          for _ in range(n_draws)])
        if not np.issubdtype(draws.dtype, np.integer):
            fail(f"sample_next must return an integer index. Received values of type {draws.dtype}.")
        if draws.min() < 0 or draws.max() >= len(log_probs):
            fail(f"sample_next returned index {draws.max()}; expected 0 <= index < {len(log_probs)}.")
        freq = np.bincount(draws, minlength=len(log_probs)) / n_draws
        want = reference_temperature_probs(log_probs, t)
        sigma = np.sqrt(want * (1 - want) / n_draws)
        if np.any(np.abs(freq - want) > 5 * sigma + 1e-3):
            if np.all(np.abs(freq - np.exp(log_probs)) <= 5 * sigma + 1e-3) and t != 1.0:
                fail(f"T={t}: your samples follow the untempered distribution. Apply the temperature to the "
                     "scores before the softmax.")
            fail(f"T={t}: sampled frequencies {np.round(freq, 3).tolist()} differ from softmax(log_probs / T) = "
                 f"{np.round(want, 3).tolist()}.")
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    again = [[sample_next(log_probs, 1.0, rng) for _ in range(30)] for rng in (rng_a, rng_b)]
    if again[0] != again[1]:
        fail("The same seed gave different samples: draw with the `rng` you are given (rng.choice), "
             "not with np.random or random.")
    passed("sample_next draws from softmax(log_probs / T) with the given rng")
