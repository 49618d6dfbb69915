"""Public checks for notebook 01, n-gram language models.

Each `check_*` takes the student's function, runs it on a small corpus whose
answers are computed here from the formulas, and either prints "✓ ..." or raises
`CheckFailed` with a hint that names the wrong term.
"""

from __future__ import annotations

import collections
import math
import numbers

import numpy as np

from rnn_course.checks import CheckFailed, expect_close, fail, guard, passed, to_numpy

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


def _not_implemented(what: str) -> str:
    return f"{what} is not implemented yet (it raises NotImplementedError)."


def _call(fn, *args, what):
    """Runs the student's `fn(*args)`; any exception becomes a hint naming the call (the student's error is the cause)."""
    with guard(what, not_implemented_hint=_not_implemented):
        return fn(*args)


def _call_valid(fn, *args, what, why, code):
    """`_call` on an edge input the exercise allows: an exception becomes a hint that says why the input is valid.

    Its mistake code is `code`, which names the edge input the answer does not handle (the unanswered
    stub keeps `NotImplementedError`).
    """
    try:
        with np.errstate(all="ignore"):  # the value is what counts here, not numpy's overflow notices
            return _call(fn, *args, what=what)
    except CheckFailed as err:  # the same hint, and the same cause (the student's error, if any)
        keep = err.code == "NotImplementedError"
        raise CheckFailed(f"{err.hint} That input is valid: {why}", code=err.code if keep else code) from err.__cause__


def generator_with_first_draw(u: float) -> np.random.Generator:
    """A `np.random.Generator` whose first uniform draw, `rng.random()`, is exactly `u`: 0.0 or the
    largest float below 1, `np.nextafter(1.0, 0.0)` (the extremes of [0, 1)). Later draws are ordinary.

    It is a PCG64 generator set to the state just before an output of all zero bits (u = 0.0) or all
    one bits (u = 1 - 2**-53); `Generator.random` keeps the top 53 bits of that output. So every method
    that starts from a uniform double (`random`, `uniform`, `choice` with `p=`) sees the extreme first.

    Raises:
        ValueError: for any other `u`.
    """
    if u == 0.0:
        post = 0  # the state after the step: high ^ low = 0, so the output is 0
    elif u == float(np.nextafter(1.0, 0.0)):
        post = (2**64 - 1) << 64  # high ^ low = 2**64 - 1 under any rotation
    else:
        raise ValueError(f"u must be 0.0 or np.nextafter(1.0, 0.0). Received: u={u!r}")
    bits = np.random.PCG64(0)
    state = bits.state
    inc, mult, mod = state["state"]["inc"], 0x2360ED051FC65DA44385DF649FCCF645, 1 << 128
    state["state"]["state"] = (post - inc) * pow(mult, -1, mod) % mod  # one LCG step before `post`
    state["has_uint32"], state["uinteger"] = 0, 0
    bits.state = state
    return np.random.Generator(bits)


def _expect_value_error(call, what: str, why: str, code: str) -> None:
    """Fails unless `call()` raises ValueError (the check for rejected bad arguments).

    The mistake code is `code` (which argument was accepted) when nothing is raised, and
    `not-ValueError` when another exception is.
    """
    try:
        call()
    except ValueError:
        return
    except Exception as err:  # noqa: BLE001: the student's error is the cause, shown with its line
        fail(f"{what} should raise ValueError; it raised {type(err).__name__}.", cause=err, code="not-ValueError")
    fail(f"{what} must raise ValueError: {why}", code=code)


def _number(got, what: str) -> float:
    """What the student's function returned, as a float; fails unless it is a real number (a 0-d array too)."""
    numeric = isinstance(got, numbers.Real) or (isinstance(got, np.ndarray) and got.ndim == 0
                                                 and np.issubdtype(got.dtype, np.number))
    if not numeric or isinstance(got, (bool, np.bool_)):
        shown = repr(got) if len(repr(got)) <= 80 else repr(got)[:80] + "..."
        fail(f"{what} must return a number (a float). Received {type(got).__name__} {shown}.", code="not-a-float")
    return float(got)


# -------------------------------------------------------------- q1.1 counting n-grams
def check_count_ngrams(count_ngrams) -> None:
    """Checks `count_ngrams(sentences, n) -> Counter` on the toy corpus for n = 1, 2, 3."""
    for n in (1, 2, 3):
        got = _call(count_ngrams, TOY_SENTENCES, n, what=f"count_ngrams(sentences, n={n})")
        want = reference_count_ngrams(TOY_SENTENCES, n)
        if not isinstance(got, collections.abc.Mapping):
            fail(f"count_ngrams must return a Counter (a mapping n-gram -> count). Received {type(got).__name__}.",
                 code="not-a-mapping")
        got = collections.Counter(got)
        bad_keys = [k for k in got if not (isinstance(k, tuple) and len(k) == n)]
        if bad_keys:
            fail(f"n={n}: every key must be a tuple of {n} tokens. Received the key {bad_keys[0]!r}.",
                 code="key-not-n-tuple")
        if got == want:
            continue
        first = TOY_SENTENCES[0][0]
        if got.get((BOS,) * n, 0):
            fail(f"n={n}: you counted {(BOS,) * n}. Pad with n-1 = {n - 1} '<s>' (you used n): "
                 "'<s>' is only ever a context, never predicted.", code="padding-too-long")
        if n >= 2 and not got.get((BOS,) * (n - 1) + (first,), 0):
            fail(f"n={n}: {(BOS,) * (n - 1) + (first,)} is missing. The first word is predicted from a "
                 f"context of n-1 = {n - 1} '<s>' tokens; your padding is too short.", code="padding-too-short")
        if not any(gram[-1] == EOS for gram in got):
            fail(f"n={n}: no n-gram ends with '</s>'. Every sentence ends with one '</s>', which the "
                 "model must predict (that is how it learns where sentences stop).", code="no-end-token")
        if any(gram[-2:] == (EOS, EOS) for gram in got if n >= 2):
            fail(f"n={n}: you appended more than one '</s>'. Add exactly one per sentence.", code="end-token-repeated")
        total_want = sum(len(s) + 1 for s in TOY_SENTENCES)
        if sum(got.values()) != total_want:
            fail(f"n={n}: your counts add up to {sum(got.values())}; expected {total_want}, one n-gram per "
                 "predicted token (each word and the final '</s>').", code="wrong-total-count")
        diff = sorted(set(got.items()) ^ set(want.items()))[:3]
        fail(f"n={n}: counts differ from the reference, e.g. {diff}.", code="wrong-counts")
    # The smallest valid inputs: no sentence at all, an empty sentence, a sentence shorter than n.
    smallest = (([], 2, "no sentence at all gives an empty Counter", "no-sentences"),
                ([["hi"]], 3, "a sentence shorter than n still gives one n-gram per predicted token "
                              "(its word and its '</s>'); do not skip short sentences", "sentence-shorter-than-n"),
                ([[]], 1, "an empty sentence still predicts its '</s>'", "empty-sentence"),
                ([[]], 3, "an empty sentence still predicts its '</s>', from the context ('<s>', '<s>')",
                 "empty-sentence"))
    for sentences, n, why, code in smallest:
        got = _call_valid(count_ngrams, sentences, n, what=f"count_ngrams({sentences!r}, n={n})", why=why + ".",
                          code=code)
        want = dict(reference_count_ngrams(sentences, n))
        if not isinstance(got, collections.abc.Mapping) or {k: c for k, c in got.items() if c} != want:
            fail(f"count_ngrams({sentences!r}, n={n}) returned {got!r}; expected {want}: {why}.", code=code)
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
                what = f"mle_prob(counts, {context}, {word!r})"
                got = _number(_call(mle_prob, counts, context, word, what=what), what)
                if isinstance(got, (int, float, np.floating)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12):
                    continue
                if c and math.isclose(got, c / total, rel_tol=1e-9):
                    fail(f"P({word!r} | {context}) = {got:.4f}: you divided by the total number of n-grams. That is "
                         "the joint probability P(context, word); divide by the count of the context instead.",
                         code="joint-not-conditional")
                if c and math.isclose(got, c / max(unigram.get((word,), 0), 1), rel_tol=1e-9):
                    fail(f"P({word!r} | {context}) = {got:.4f}: you divided by the count of the *word*. "
                         "Condition on the context: divide by how often the context occurs.",
                         code="divided-by-word-count")
                if c and n > 2 and partial != c_ctx and math.isclose(got, c / partial, rel_tol=1e-9):
                    fail(f"P({word!r} | {context}) = {got:.4f}: you counted n-grams that match only the last word "
                         "of the context. The whole context (all n-1 words) must match.",
                         code="context-last-word-only")
                fail(f"P({word!r} | {context}) = {got!r}; expected {want:.4f} = count{context + (word,)} / "
                     f"count of {context} followed by any word ({c}/{c_ctx}).", code="wrong-probability")
            total_p = sum(_number(_call(mle_prob, counts, context, w, what=f"mle_prob(counts, {context}, {w!r})"),
                                  f"mle_prob(counts, {context}, {w!r})") for w in vocab)
            if not math.isclose(total_p, 1.0, rel_tol=1e-9):
                fail(f"P(· | {context}) sums to {total_p:.4f} over the vocabulary; a distribution sums to 1.",
                     code="not-normalised")
    # Order 1: the context is the empty tuple, and P(word) = count(word) / number of tokens.
    total = sum(unigram.values())
    for word in vocab:
        want = unigram.get((word,), 0) / total
        got = _call_valid(mle_prob, unigram, (), word, what=f"mle_prob(unigram counts, (), {word!r})",
                          why="for unigrams (n = 1) the context is the empty tuple ().", code="unigram-empty-context")
        if not (isinstance(got, (int, float, np.floating)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)):
            fail(f"for unigrams (n = 1) the context is (), which every 1-gram's (empty) context matches, so "
                 f"P({word!r}) = count({word!r}) / {total} (all tokens) = {want:.4f}. Received {got!r}.",
                 code="unigram-empty-context")
    # The smallest counts: a single n-gram.
    got = _call_valid(mle_prob, collections.Counter({("a", "b"): 1}), ("a",), "b",
                      what="mle_prob(Counter({('a', 'b'): 1}), ('a',), 'b')", why="counts may hold one n-gram.",
                      code="single-n-gram")
    if got != 1.0:
        fail(f"with the single bigram ('a', 'b'), P('b' | 'a') = 1/1 = 1.0. Received {got!r}.", code="single-n-gram")
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
                what = f"add_k_prob(counts, {context}, {word!r}, k={k}, vocab_size={V})"
                got = _number(_call(add_k_prob, counts, context, word, k, V, what=what), what)
                if math.isclose(got, want, rel_tol=1e-9):
                    continue
                if c_ctx and math.isclose(got, (c + k) / (c_ctx + k), rel_tol=1e-9):
                    fail(f"k={k}: your denominator adds k once. Every one of the |V| = {V} words got k extra "
                         "counts, so the denominator grows by k·|V|.", code="k-added-once")
                if c_ctx and math.isclose(got, (c + k) / (c_ctx + V), rel_tol=1e-9):
                    fail(f"k={k}: your denominator adds |V| but the numerator adds k. Add k·|V| = {k * V:g}.",
                         code="V-not-kV")
                if c_ctx and math.isclose(got, (c + k) / c_ctx, rel_tol=1e-9):
                    fail(f"k={k}: you forgot the k·|V| term in the denominator, so probabilities no longer sum to 1.",
                         code="no-kV-in-denominator")
                if c_ctx == 0:
                    fail(f"k={k}: for the unseen context {context} every word should get k / (0 + k|V|) = 1/|V| = "
                         f"{1 / V:.4f}. Received {got!r}.", code="unseen-context")
                fail(f"add_k_prob(counts, {context}, {word!r}, k={k}) = {got!r}; expected ({c} + {k}) / "
                     f"({c_ctx} + {k}·{V}) = {want:.5f}.", code="wrong-probability")
    # Extreme but valid: k above 1, tiny and huge k, a one-word vocabulary, no counts at all.
    edge = [(counts, ("the",), "cat", 5, V, "any k > 0 is valid, k > 1 too (it smooths harder)", "k-above-1"),
            (counts, ("the",), "cat", 1e-9, V, "any k > 0 is valid; a tiny k is close to the MLE", "tiny-k"),
            (counts, ("the",), "zebra", 1e9, V, "any k > 0 is valid; a huge k is close to uniform", "huge-k"),
            (collections.Counter({("a", "a"): 3}), ("a",), "a", 0.5, 1, "a vocabulary of one word gives it probability 1",
             "one-word-vocabulary"),
            (collections.Counter(), ("the",), "cat", 2, 4, "with no counts at all every word gets k / (k|V|) = 1/|V|",
             "no-counts")]
    for cnts, context, word, k, size, why, code in edge:
        c, c_ctx = cnts.get(context + (word,), 0), _context_total(cnts, context)
        want = (c + k) / (c_ctx + k * size)
        got = _call_valid(add_k_prob, cnts, context, word, k, size, why=why + ".", code=code,
                          what=f"add_k_prob(counts, {context}, {word!r}, k={k:g}, vocab_size={size})")
        if not (isinstance(got, (int, float, np.floating)) and math.isclose(got, want, rel_tol=1e-9)):
            fail(f"add_k_prob(counts, {context}, {word!r}, k={k:g}, vocab_size={size}) = {got!r}; expected "
                 f"({c} + k) / ({c_ctx} + k·{size}) = {want:.6g} ({why}).", code=code)
    for bad_k in (0, -1):
        _expect_value_error(lambda: add_k_prob(counts, ("the",), "cat", bad_k, V), f"k={bad_k}",
                            "add-k needs k > 0 (k = 0 is MLE, which gives zeros).", code="k-not-positive-accepted")
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
            what = f"interpolated_prob(..., context={context}, word={word!r}, lambdas={lambdas})"
            got = _number(_call(interpolated_prob, counts_by_order, context, word, lambdas, V, what=what), what)
            total += got
            if math.isclose(got, want, rel_tol=1e-9):
                continue
            reversed_l = (lambdas[0],) + tuple(reversed(lambdas[1:]))
            if math.isclose(got, reference_interpolated_prob(counts_by_order, context, word, reversed_l, V), rel_tol=1e-9):
                fail(f"lambdas={lambdas}: you paired the weights with the orders in reverse. lambdas[n] weighs the "
                     "n-gram estimate (lambdas[1] the unigram, lambdas[-1] the highest order).",
                     code="lambdas-reversed")
            if "zebra" in context:
                fail(f"context {context} was never seen, so its MLE is undefined: use the estimate of the order "
                     f"below (a shorter context) in its place. Received P({word!r}) = {got!r}, expected {want:.5f}.",
                     code="no-backoff")
            if word == "zebra" and got == 0:
                fail("an unseen word got probability 0: the λ0/|V| term is missing.", code="no-uniform-term")
            fail(f"P({word!r} | {context}) with lambdas={lambdas} = {got!r}; expected {want:.6f} = λ0/|V| + "
                 "Σn λn·P_MLE,n(word | last n-1 context words).", code="wrong-probability")
        if not math.isclose(total, 1.0, rel_tol=1e-9):
            fail(f"with lambdas={lambdas} the probabilities of all {V} words sum to {total:.4f}, not 1.",
                 code="not-normalised")
    # Valid edge weights: exactly two (the uniform term and the unigram, N = 1, so the context may be
    # empty), all the weight on one term, and weights whose floating-point sum is 1 only within rounding.
    edge = [((0.2, 0.8), (), "exactly two weights are valid: λ0 for the uniform term and λ1 for the unigram "
                             "(N = 1), and the context may then be empty", "two-lambdas"),
            ((0.2, 0.8), ("the",), "exactly two weights are valid: λ0 for the uniform term and λ1 for the unigram "
                                   "(N = 1); the unigram uses none of the context", "two-lambdas"),
            ((1.0, 0.0), ("the", "cat"), "a weight may be 0 and another 1; (1, 0) is the uniform distribution",
             "zero-lambda"),
            ((0.0, 1.0), (), "a weight may be 0 and another 1; (0, 1) is the unigram MLE", "zero-lambda"),
            ((0.2, 0.7, 0.1), ("the",), f"these weights sum to {sum((0.2, 0.7, 0.1))!r} in floating point; compare "
                                        "the sum with 1 within 1e-9, not with ==", "lambda-sum-exact-equality")]
    for lambdas, context, why, code in edge:
        total = 0.0
        for word in vocab:
            want = reference_interpolated_prob(counts_by_order, context, word, lambdas, V)
            got = _call_valid(interpolated_prob, counts_by_order, context, word, lambdas, V, why=why + ".", code=code,
                              what=f"interpolated_prob(..., context={context}, word={word!r}, lambdas={lambdas})")
            if not (isinstance(got, (int, float, np.floating)) and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15)):
                fail(f"P({word!r} | {context}) with lambdas={lambdas} = {got!r}; expected {want:.6f} = λ0/|V| + "
                     f"Σn λn·P_MLE,n(word | last n-1 context words) ({why}).", code=code)
            total += got
        if not math.isclose(total, 1.0, rel_tol=1e-9):
            fail(f"with lambdas={lambdas} the probabilities of all {V} words sum to {total:.4f}, not 1.", code=code)
    for bad in ((0.5, 0.6), (-0.1, 0.6, 0.5), (1.0,)):
        _expect_value_error(lambda: interpolated_prob(counts_by_order, ("the",), "cat", bad, V), f"lambdas={bad}",
                            "the weights must be >= 0, sum to 1, and cover at least order 1.",
                            code="invalid-lambdas-accepted")
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
            fail(f"perplexity must return a number. Received {type(got).__name__}.", code="not-a-float")
        if math.isclose(got, want, rel_tol=1e-7):
            continue
        mean = float(np.mean(log_probs))
        if math.isclose(got, 10 ** (-mean), rel_tol=1e-7) or math.isclose(got, 10 ** (-mean / math.log(10)), rel_tol=1e-7):
            fail("You used base 10. The log-probabilities are natural logs, so perplexity = exp(-mean), not 10**(-mean).",
                 code="log10-not-ln")
        if math.isclose(got, 2 ** (-mean), rel_tol=1e-7):
            fail("You used base 2 with natural-log inputs: perplexity = exp(-mean(log p)).", code="log2-not-ln")
        if len(log_probs) > 1 and math.isclose(got, math.exp(-float(np.sum(log_probs))), rel_tol=1e-7):
            fail("You did not average: perplexity is exp of the *mean* negative log-probability per token, "
                 "so it does not grow with the length of the text.", code="sum-not-mean")
        if math.isclose(got, 1 / want, rel_tol=1e-7):
            fail("The sign is flipped: perplexity = exp(-mean(log p)), which is >= 1.", code="sign-flipped")
        if math.isclose(got, -mean, rel_tol=1e-7):
            fail("That is the cross-entropy (mean negative log-probability); perplexity is its exp.",
                 code="cross-entropy-not-exp")
        fail(f"perplexity = {got!r}; expected exp(-mean(log p)) = {want:.6f}.", code="wrong-perplexity")
    what = "perplexity(np.log(np.full(7, 1 / 7)))"
    if not math.isclose(_number(_call(perplexity, np.log(np.full(7, 1 / 7)), what=what), what), 7.0, rel_tol=1e-9):
        fail("A model that spreads probability evenly over 7 words must have perplexity exactly 7.",
             code="uniform-not-V")
    # The smallest text and the extremes: one certain token; a long text whose product of probabilities
    # underflows (0.01**5000 is 0 in floating point); a token of probability 0, as the MLE gives.
    edge = [(np.zeros(1), 1.0, "one token of probability 1 has perplexity 1", "one-token"),
            (np.full(5000, math.log(0.01)), 100.0, "5000 tokens of probability 0.01 have perplexity 100; their "
             "product 0.01**5000 underflows to 0, so average the log-probabilities instead of multiplying "
             "probabilities", "product-underflows"),
            (np.array([math.log(0.5), -np.inf, math.log(0.25)]), math.inf, "a token of probability 0 (log-probability "
             "-inf, as the MLE gives an unseen n-gram) makes the perplexity inf", "zero-probability-token")]
    for log_probs, want, why, code in edge:
        got = _call_valid(perplexity, log_probs, why=why + ".", code=code,
                          what=f"perplexity(log_probs of {len(log_probs)} tokens, min {log_probs.min():g})")
        try:
            got = float(got)
        except (TypeError, ValueError):
            fail(f"perplexity must return a number. Received {type(got).__name__}.", code="not-a-float")
        if not (got == want or math.isclose(got, want, rel_tol=1e-9)):
            fail(f"perplexity(log_probs of {len(log_probs)} tokens) = {got!r}; expected {want!r}: {why}.", code=code)
    passed("perplexity = exp(mean negative log-probability per token)")


# --------------------------------------------------- q1.6 sampling with temperature
def reference_temperature_probs(scores, temperature):
    """softmax(scores / T), with the maximum subtracted *before* the division: the largest scaled score is
    then exactly 0, so no temperature > 0 overflows to NaN; tiny T gives the argmax (ties share it)."""
    z = np.asarray(scores, dtype=np.float64)
    with np.errstate(over="ignore"):  # (z - max) / T may overflow to -inf, whose exp is exactly 0
        z = (z - z.max()) / temperature
    p = np.exp(z)
    return p / p.sum()


#: Valid edge inputs of temperature_probs: (scores, T, why, mistake code), the extremes of the scores and of T.
TEMPERATURE_EDGES = [
    (np.array([1e4, 9999.0, -1e4], dtype=np.float32), 1.0, "scores of ±1e4 (float32) at T = 1", "large-scores"),
    (np.array([1e4, 9999.0, -1e4], dtype=np.float32), 1e-3, "scores of ±1e4 (float32) at T = 1e-3 give the argmax",
     "large-scores"),
    (np.log([0.5, 0.25, 0.15, 0.1]), 1e-3, "T = 1e-3 gives the argmax", "tiny-temperature"),
    (np.log([0.1, 0.1, 0.05]), 1e-308, "T = 1e-308 gives the argmax, shared equally by tied maxima", "tiny-temperature"),
    (np.log([0.5, 0.25, 0.15, 0.1]), 5e-324, "T = 5e-324, the smallest float > 0, gives the argmax", "tiny-temperature"),
    (np.array([-np.inf, np.log(0.5), np.log(0.5)]), 0.5, "a score of -inf (probability 0, as the MLE gives) stays 0",
     "minus-inf-score"),
]


def check_temperature_probs(temperature_probs) -> None:
    """Checks `temperature_probs(log_probs, temperature)` = softmax(log_probs / T)."""
    log_probs = np.log(np.array([0.5, 0.25, 0.15, 0.1]))
    for t in (1.0, 0.5, 2.0):
        got = _call(temperature_probs, log_probs, t, what=f"temperature_probs(log_probs, {t})")
        want = reference_temperature_probs(log_probs, t)
        got_arr = to_numpy(got, f"temperature_probs(log_probs, {t})")
        if got_arr.shape == want.shape and t != 1.0 and np.allclose(got_arr, np.exp(log_probs), atol=1e-9):
            fail(f"T={t} changed nothing. Dividing probabilities by T after the softmax is undone when you "
                 "renormalise: divide the log-probabilities (scores) by T *before* the softmax.",
                 code="temperature-after-softmax")
        if got_arr.shape == want.shape and np.allclose(got_arr, reference_temperature_probs(log_probs, 1 / t), atol=1e-9) and t != 1.0:
            fail(f"T={t}: your temperature is inverted (you multiplied by T). Low T must sharpen the distribution "
                 "(divide the scores by T).", code="temperature-inverted")
        expect_close(got, want, what=f"temperature_probs(log_probs, T={t})", atol=1e-9, rtol=1e-7,
                     hint="Expected softmax(log_probs / T).", code="wrong-probabilities")
    big = _call(temperature_probs, np.array([1000.0, 999.0, 0.0]), 1.0, what="temperature_probs with large scores")
    expect_close(big, reference_temperature_probs([1000.0, 999.0, 0.0], 1.0), what="scores (1000, 999, 0)",
                 hint="Subtract the maximum score before exp, or exp overflows to inf.", atol=1e-9,
                 code="no-max-subtraction")
    for scores, t, why, code in TEMPERATURE_EDGES:
        what = f"temperature_probs({np.round(scores, 3).tolist()} ({scores.dtype}), T={t:g})"
        got = _call_valid(temperature_probs, scores, t, what=what, why=why + ".", code=code)
        want = reference_temperature_probs(scores, t)
        got_arr = to_numpy(got, what)
        if got_arr.shape == want.shape and not np.all(np.isfinite(got_arr)):
            fail(f"{what} gave {got_arr.tolist()}, with NaN or inf; expected {np.round(want, 6).tolist()} ({why}). "
                 "Subtract the maximum score *before* dividing by T and exponentiating: the largest scaled score is "
                 "then exactly 0, so exp cannot overflow, and scores that fall to -inf get probability 0.",
                 code="max-not-subtracted-first")
        expect_close(got, want, what=what, atol=1e-9, rtol=1e-7, hint=f"Expected softmax(scores / T): {why}.",
                     code=code)
    for bad in (0, -1.0):
        _expect_value_error(lambda: temperature_probs(log_probs, bad), f"temperature={bad}",
                            "T must be > 0 (T -> 0 is greedy decoding; use argmax).",
                            code="temperature-not-positive-accepted")
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
            fail(f"sample_next must return an integer index. Received values of type {draws.dtype}.",
                 code="index-not-integer")
        if draws.min() < 0 or draws.max() >= len(log_probs):
            fail(f"sample_next returned index {draws.max()}; expected 0 <= index < {len(log_probs)}.",
                 code="index-out-of-range")
        freq = np.bincount(draws, minlength=len(log_probs)) / n_draws
        want = reference_temperature_probs(log_probs, t)
        sigma = np.sqrt(want * (1 - want) / n_draws)
        if np.any(np.abs(freq - want) > 5 * sigma + 1e-3):
            if np.all(np.abs(freq - np.exp(log_probs)) <= 5 * sigma + 1e-3) and t != 1.0:
                fail(f"T={t}: your samples follow the untempered distribution. Apply the temperature to the "
                     "scores before the softmax.", code="temperature-ignored")
            fail(f"T={t}: sampled frequencies {np.round(freq, 3).tolist()} differ from softmax(log_probs / T) = "
                 f"{np.round(want, 3).tolist()}.", code="wrong-distribution")
    # Extremes: a tiny temperature (the argmax), and uniform draws of exactly 0.0 and the largest float below 1
    # with tokens of probability 0 at both ends, which must never be drawn.
    for t in (1e-3, 1e-308):
        picks = {_call_valid(sample_next, np.log([0.1, 0.1, 0.05]), t, np.random.default_rng(s), why="any T > 0 is valid.",
                             what=f"sample_next(np.log([0.1, 0.1, 0.05]), {t:g}, rng)", code="tiny-temperature")
                 for s in range(20)}
        if not picks <= {0, 1}:
            fail(f"at T={t:g} only the two most likely tokens (0 and 1, tied) may be drawn; received {sorted(picks)}. "
                 "Subtract the maximum score before dividing by T, so that tiny temperatures give no NaN.",
                 code="tiny-temperature")
    zero_ends = np.array([-np.inf, np.log(0.5), np.log(0.25), np.log(0.25), -np.inf])
    for u in (0.0, float(np.nextafter(1.0, 0.0))):
        got = _call_valid(sample_next, zero_ends, 1.0, generator_with_first_draw(u), why="any rng state is valid.",
                          what=f"sample_next(np.log([0, 0.5, 0.25, 0.25, 0]), 1.0, rng) with a first uniform draw of {u!r}",
                          code="zero-probability-drawn")
        if got not in (1, 2, 3):
            fail(f"with the uniform draw u = {u!r} sample_next returned token {got!r}, whose probability is 0. "
                 "Draw with rng.choice(len(p), p=p), or, in an inverse CDF, take the first index whose cumulative "
                 "probability is > u (not >= u), with the cumulative sums divided by their last value.",
                 code="zero-probability-drawn")
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    again = [[_call(sample_next, log_probs, 1.0, rng, what="sample_next(log_probs, 1.0, rng)") for _ in range(30)]
             for rng in (rng_a, rng_b)]
    if again[0] != again[1]:
        fail("The same seed gave different samples: draw with the `rng` you are given (rng.choice), "
             "not with np.random or random.", code="rng-not-used")
    passed("sample_next draws from softmax(log_probs / T) with the given rng")
