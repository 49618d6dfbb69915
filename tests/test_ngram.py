"""Tests of rnn_course.ngram: the n-gram language models (MLE, add-k, Kneser-Ney).

Reference values come from hand counts on tiny corpora, from a slow pure-Python
modified Kneser-Ney written below from the formulas, from NLTK (same model, same
discounts) and from KenLM reading our ARPA export.
"""

import collections
import math

import numpy as np
import pytest

from rnn_course.ngram import NGramLM
from rnn_course.vocab import BOS, EOS, PAD, UNK, Vocabulary

SMOOTHINGS = ["kneser_ney", "add_k", "mle"]


# ------------------------------------------------------------------ corpora
def markov_corpus(seed, n_sentences=300, n_words=12):
    """Sentences from a random Markov chain over `n_words` words (w0, w1, ...).

    Zipf-like transition rows make the counts of every order spread out, so the
    modified Kneser-Ney discounts of orders 2+ are estimated, not fallen back on.
    """
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(n_words)]
    trans = rng.dirichlet(np.full(n_words, 0.3), size=n_words)
    sentences = []
    for _ in range(n_sentences):
        cur = rng.integers(n_words)
        sent = []
        for _ in range(rng.geometric(0.15) - 1):
            sent.append(words[cur])
            cur = rng.choice(n_words, p=trans[cur])
        sentences.append(sent)
    return sentences


@pytest.fixture(scope="module")
def toy():
    train = markov_corpus(0)
    # Held-out text: other sentences from the same chain, plus unknown words,
    # an empty sentence and an unseen context.
    test = markov_corpus(1, n_sentences=40) + [[], ["zebra"], ["w3", "zebra", "w3", "w3", "w3"]]
    return train, test


HAND = [s.split() for s in ["the cat sat", "the cat ran", "a dog sat"]]


@pytest.fixture(scope="module")
def wikitext():
    from rnn_course.corpora import word_sentences

    return word_sentences("wikitext-2", "train"), word_sentences("wikitext-2", "valid")


def contexts_for(train, order):
    """Seen, unseen, unknown-word, empty and over-long contexts."""
    out = [((), True), ((), False), (("zebra",), True), (("w1", "zebra", "w1"), False)]
    for sent in train[:15]:
        for i in range(len(sent) + 1):
            out.append((tuple(sent[max(0, i - order + 1):i]), True))
            out.append((tuple(sent[max(0, i - order):i]), False))
    return out


# ------------------------------------------------------- slow reference KN
class ReferenceKneserNey:
    """Interpolated modified Kneser-Ney, written for clarity, with dicts of tuples.

    Conventions (KenLM's): `<s> w1 ... wn </s>`, n-grams never cross the
    sentence start; the adjusted count is the raw count at the top order and for
    n-grams starting with `<s>`, else the number of distinct left neighbours;
    `<s>` is never predicted; unigrams interpolate with 1 / V' (V' = vocabulary
    minus <pad> and <s>); discounts by Chen & Goodman's closed form, or
    (0.5, 1, 1.5) for an order where n1, n2 or n3 is 0 or a discount leaves [0, j].
    """

    def __init__(self, train, order, vocab, discount=None):
        self.order, self.vocab = order, set(vocab)
        self.n_pred = len(self.vocab) - 2
        counts = {n: collections.Counter() for n in range(1, order + 1)}
        for sent in train:
            seq = [BOS] + [w if w in vocab else UNK for w in sent] + [EOS]
            for i in range(1, len(seq)):
                for n in range(1, order + 1):
                    if i - n + 1 >= 0:
                        counts[n][tuple(seq[i - n + 1:i + 1])] += 1
        self.counts = counts
        self.adjusted = {order: dict(counts[order])}
        for n in range(order - 1, 0, -1):
            left = collections.defaultdict(set)
            for longer in counts[n + 1]:
                left[longer[1:]].add(longer[0])
            self.adjusted[n] = {
                g: (c if g[0] == BOS else len(left[g])) for g, c in counts[n].items()
            }
        self.discounts = {}
        for n in range(1, order + 1):
            if discount is not None:
                d = discount if isinstance(discount, float) else discount[n - 1]
                self.discounts[n] = (d, d, d)
                continue
            coc = collections.Counter(self.adjusted[n].values())
            n1, n2, n3, n4 = (coc[i] for i in range(1, 5))
            ds = None
            if n1 and n2 and n3:
                y = n1 / (n1 + 2 * n2)
                ds = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
                if not all(0 <= d <= j for j, d in enumerate(ds, 1)):
                    ds = None
            self.discounts[n] = ds or (0.5, 1.0, 1.5)

    def d(self, n, a):
        return 0.0 if a == 0 else self.discounts[n][min(a, 3) - 1]

    def prob(self, word, context):
        n = len(context) + 1
        if word in (BOS, PAD):
            return 0.0
        if n == 1:
            table = self.adjusted[1]
            denom = sum(table.values())
            gamma = sum(self.d(1, a) for a in table.values()) / denom
            a = table.get((word,), 0)
            return (a - self.d(1, a)) / denom + gamma / self.n_pred
        following = {g[-1]: a for g, a in self.adjusted[n].items() if g[:-1] == context}
        if not following:
            return self.prob(word, context[1:])
        denom = sum(following.values())
        gamma = sum(self.d(n, a) for a in following.values()) / denom
        a = following.get(word, 0)
        return (a - self.d(n, a)) / denom + gamma * self.prob(word, context[1:])

    def log_probs(self, sentences):
        out = []
        for sent in sentences:
            seq = [BOS] + [w if w in self.vocab else UNK for w in sent] + [EOS]
            for i in range(1, len(seq)):
                out.append(math.log(self.prob(seq[i], tuple(seq[max(0, i - self.order + 1):i]))))
        return np.array(out)


# ------------------------------------------------------------ normalisation
@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("order", [1, 2, 3, 4, 6])
def test_every_context_distribution_sums_to_one(toy, smoothing, order):
    train, _ = toy
    lm = NGramLM(order, smoothing, k=0.3).fit(train)
    for context, bos in contexts_for(train, order):
        p = lm.next_token_probs(context, bos=bos)
        assert p.shape == (len(lm.vocab),)
        assert np.all(np.isfinite(p)) and np.all(p >= 0)
        assert p[lm.vocab.pad_id] == 0 and p[lm.vocab.bos_id] == 0
        assert abs(p.sum() - 1) < 1e-12, (context, bos, p.sum())


def test_fixed_discount_kneser_ney_sums_to_one(toy):
    train, _ = toy
    for discount in (0.1, 1.0, (0.0, 0.1, 0.1), (0.3, 0.0, 0.9)):
        lm = NGramLM(3, discount=discount).fit(train)
        for context, bos in contexts_for(train, 3):
            assert abs(lm.next_token_probs(context, bos=bos).sum() - 1) < 1e-12


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_log_probs_agree_with_next_token_probs(toy, smoothing, order):
    # Two code paths: vectorised scoring and the per-context distribution.
    train, test = toy
    lm = NGramLM(order, smoothing, k=0.5).fit(train)
    got = lm.log_probs(test)
    expected = []
    for sent in test:
        for i, tok in enumerate(sent + [EOS]):
            p = lm.next_token_probs(sent[:i])[lm.vocab.token_to_id(tok)]
            expected.append(np.log(p) if p > 0 else -np.inf)
    assert len(got) == sum(len(s) + 1 for s in test)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)


# ------------------------------------------------------------ hand counts
def test_mle_is_the_ratio_of_hand_counts():
    lm = NGramLM(3, "mle").fit(HAND)

    def p(word, context, bos=True):
        return lm.next_token_probs(context, bos=bos)[lm.vocab.token_to_id(word)]

    # <s> the (x2), <s> a (x1); the cat (x2) -> sat (x1), ran (x1); a dog (x1) -> sat.
    assert p("the", []) == 2 / 3
    assert p("cat", ["the"]) == 2 / 2
    assert p("sat", ["the", "cat"]) == 1 / 2
    assert p(EOS, ["cat", "sat"]) == 1 / 1
    assert p("dog", ["the"]) == 0.0
    # Unseen context "dog cat": falls back to the longest seen suffix, "cat".
    assert p("ran", ["dog", "cat"], False) == 1 / 2
    # No context at all: unigram count / 12 predicted tokens (9 words and 3 </s>).
    assert p(EOS, [], False) == 3 / 12 and p("the", [], False) == 2 / 12
    # Counts, and num_ngrams: distinct bigrams <s> the, the cat, cat sat, sat </s>,
    # cat ran, ran </s>, <s> a, a dog, dog sat.
    assert lm.count(["the", "cat"]) == 2 and lm.count(["<s>", "the"]) == 2
    assert lm.count([BOS]) == 3 and lm.count(["dog", "cat"]) == 0
    assert lm.num_ngrams(1) == 7 and lm.num_ngrams(2) == 9
    # log_probs of "the cat sat": 2/3 * 1 * 1/2 * P(</s> | cat sat) = 1.
    np.testing.assert_allclose(lm.log_probs([["the", "cat", "sat"]]), np.log([2 / 3, 1, 1 / 2, 1]))


def test_mle_unseen_word_is_minus_inf_not_nan():
    lm = NGramLM(2, "mle").fit(HAND)
    lp = lm.log_probs([["the", "dog"], ["a", "cat", "sat"]])
    assert not np.isnan(lp).any()
    # P(dog | the) = 0, P(</s> | dog) = 0 (dog is only followed by sat), P(cat | a) = 0.
    assert np.isneginf(lp).tolist() == [False, True, True, False, True, False, False]
    assert lm.perplexity([["the", "dog"]]) == np.inf


def test_add_k_has_the_k_times_vocabulary_denominator():
    k = 0.5
    lm = NGramLM(2, "add_k", k=k).fit(HAND)
    v_pred = 6 + 2  # the cat sat ran a dog, plus <unk> and </s> (not <pad>, <s>)
    assert len(lm.vocab) - 2 == v_pred

    def p(word, context, bos=True):
        return lm.next_token_probs(context, bos=bos)[lm.vocab.token_to_id(word)]

    assert p("sat", ["cat"]) == pytest.approx((1 + k) / (2 + k * v_pred), rel=1e-15)
    assert p("dog", ["cat"]) == pytest.approx((0 + k) / (2 + k * v_pred), rel=1e-15)
    assert p("the", []) == pytest.approx((2 + k) / (3 + k * v_pred), rel=1e-15)
    # An unseen context ("zebra" is <unk>, never seen in training): uniform.
    assert p("the", ["zebra"], False) == pytest.approx(1 / v_pred, rel=1e-15)
    # A bigger vocabulary (extra unseen words) grows the denominator accordingly.
    big = Vocabulary(["the", "cat", "sat", "ran", "a", "dog", "x", "y", "z"])
    lm2 = NGramLM(2, "add_k", k=k).fit(HAND, vocab=big)
    assert lm2.next_token_probs(["cat"])[big.token_to_id("sat")] == pytest.approx(
        (1 + k) / (2 + k * (9 + 2)), rel=1e-15
    )


def test_order_minus_one_padding_equals_single_bos_storage():
    # With explicit (order-1) <s> padding, P(w1 | <s> <s>) = c(<s> <s> w1) / c(<s> <s>),
    # which equals c(<s> w1) / c(<s>): the model stores the latter.
    lm = NGramLM(4, "mle").fit(HAND)
    assert lm.next_token_probs([])[lm.vocab.token_to_id("a")] == 1 / 3
    assert lm.next_token_probs([BOS, BOS, BOS], bos=False)[lm.vocab.token_to_id("a")] == 1 / 3


# --------------------------------------------------- Kneser-Ney reference
@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("discount", [None, 0.7])
def test_kneser_ney_matches_slow_reference(toy, order, discount):
    train, test = toy
    lm = NGramLM(order, discount=discount).fit(train)
    ref = ReferenceKneserNey(train, order, lm.vocab.tokens, discount=discount)
    np.testing.assert_allclose(lm.discounts, [ref.discounts[n] for n in range(1, order + 1)], rtol=1e-12)
    np.testing.assert_allclose(lm.log_probs(test), ref.log_probs(test), rtol=0, atol=1e-9)
    for context, bos in contexts_for(train, order)[:40:3]:
        ctx = tuple(w if w in lm.vocab else UNK for w in context)
        ctx = ((BOS,) if bos else ()) + ctx
        ctx = ctx[max(0, len(ctx) - (order - 1)):] if order > 1 else ()
        expected = [ref.prob(w, ctx) for w in lm.vocab.tokens]
        np.testing.assert_allclose(lm.next_token_probs(context, bos=bos), expected, rtol=0, atol=1e-12)


def test_kneser_ney_reference_estimates_discounts_where_it_can(toy):
    # Guards the test above: orders 2-4 use the closed form, the 12-word
    # unigrams (no singletons) fall back, as KenLM's --discount_fallback would.
    train, _ = toy
    lm = NGramLM(4).fit(train)
    assert lm.fallback_orders == [1]
    np.testing.assert_array_equal(lm.discounts[0], [0.5, 1.0, 1.5])
    with pytest.raises(ValueError, match="adjusted count 1"):
        NGramLM(4, discount_fallback=None).fit(train)


def test_kneser_ney_discounts_follow_chen_goodman(wikitext):
    train, _ = wikitext
    lm = NGramLM(3).fit(train[:1000])
    assert lm.fallback_orders == []
    ref = ReferenceKneserNey(train[:1000], 3, lm.vocab.tokens)
    np.testing.assert_allclose(lm.discounts, [ref.discounts[n] for n in (1, 2, 3)], rtol=1e-12)


# ------------------------------------------------------------------ NLTK
def _nltk_model(train, order, discount):
    nltk_lm = pytest.importorskip("nltk.lm")
    from nltk.util import everygrams

    model = nltk_lm.KneserNeyInterpolated(order, discount=discount)
    # Our padding (one <s>, one </s>): NLTK counts exactly our n-grams.
    padded = [[BOS] + s + [EOS] for s in train]
    model.fit([list(everygrams(s, max_len=order)) for s in padded], [t for s in padded for t in s])
    return model


@pytest.mark.parametrize("order", [2, 3])
def test_kneser_ney_matches_nltk_with_its_fixed_discount(wikitext, order):
    # nltk.lm.KneserNeyInterpolated: one discount (0.1) for every order above 1,
    # no discount and no uniform interpolation for unigrams: discount=(0, 0.1, ...).
    train, valid = wikitext
    train = train[:150]
    lm = NGramLM(order, discount=(0.0,) + (0.1,) * (order - 1)).fit(train)
    model = _nltk_model(train, order, 0.1)
    assert UNK in lm.vocab and lm.count([UNK]) > 0
    test = [[w if w in lm.vocab else UNK for w in s] for s in valid[:12]]
    ours = lm.log_probs(test)
    theirs, keep, i = [], [], 0
    for sent in test:
        seq = [BOS] + sent + [EOS]
        for j in range(1, len(seq)):
            # NLTK divides by zero for the context ("<s>",) below the top order (no
            # n-gram precedes <s>), so a trigram's first token is left out.
            if order == 2 or j >= 2:
                theirs.append(math.log(model.score(seq[j], seq[max(0, j - order + 1):j])))
                keep.append(i)
            i += 1
    assert len(keep) > 400
    np.testing.assert_allclose(ours[keep], theirs, rtol=0, atol=1e-9)


# ----------------------------------------------------------------- KenLM
def _kenlm_scores(arpa, sentences):
    kenlm = pytest.importorskip("kenlm")
    model = kenlm.Model(str(arpa))
    per_token = [s[0] for sent in sentences for s in model.full_scores(" ".join(sent), bos=True, eos=True)]
    total = sum(model.score(" ".join(sent), bos=True, eos=True) for sent in sentences)
    return np.array(per_token) * math.log(10), total * math.log(10)


@pytest.mark.parametrize("order", [2, 3, 5])  # KenLM cannot load a unigram-only model
def test_arpa_export_scores_the_same_in_kenlm(wikitext, tmp_path, order):
    # A small training set, so that many valid words are unknown: checks <unk>.
    pytest.importorskip("kenlm")
    train, valid = wikitext
    lm = NGramLM(order).fit(train[:1500])
    arpa = tmp_path / "lm.arpa"
    lm.to_arpa(arpa)
    theirs, _ = _kenlm_scores(arpa, valid[:300])
    ours = lm.log_probs(valid[:300])
    assert np.mean([w not in lm.vocab for s in valid[:300] for w in s]) > 0.05
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-5)  # KenLM stores float32


def test_arpa_export_without_unk_in_training(tmp_path):
    # <unk> never seen in training: it only gets the uniform share gamma / V'.
    pytest.importorskip("kenlm")
    train = markov_corpus(2, n_sentences=400, n_words=30)
    lm = NGramLM(3).fit(train)
    assert lm.count([UNK]) == 0
    test = markov_corpus(3, n_sentences=30, n_words=40)  # w30..w39 are unknown
    lm.to_arpa(tmp_path / "lm.arpa")
    theirs, _ = _kenlm_scores(tmp_path / "lm.arpa", test)
    np.testing.assert_allclose(lm.log_probs(test), theirs, rtol=0, atol=2e-5)


@pytest.mark.parametrize("order", [3, 5])
def test_kenlm_perplexity_on_wikitext2_valid(wikitext, tmp_path, order):
    pytest.importorskip("kenlm")
    train, valid = wikitext
    lm = NGramLM(order).fit(train)
    assert lm.num_tokens == sum(len(s) + 1 for s in train)
    lm.to_arpa(tmp_path / "lm.arpa")
    _, total = _kenlm_scores(tmp_path / "lm.arpa", valid)
    n_tokens = sum(len(s) + 1 for s in valid)
    ppl_kenlm = math.exp(-total / n_tokens)
    assert lm.perplexity(valid) == pytest.approx(ppl_kenlm, rel=1e-3)


def test_arpa_file_layout(tmp_path):
    lm = NGramLM(2, discount=0.5).fit(HAND)
    lm.to_arpa(tmp_path / "lm.arpa")
    text = (tmp_path / "lm.arpa").read_text().splitlines()
    assert text[:3] == ["\\data\\", f"ngram 1={len(lm.vocab) - 1}", "ngram 2=9"]
    unigrams = {line.split("\t")[1]: line.split("\t") for line in text if line.count("\t") >= 1 and " " not in line}
    assert float(unigrams[BOS][0]) == -99 and PAD not in unigrams
    assert len(unigrams[EOS]) == 2  # </s> is never a context: no backoff weight
    assert text[-1] == "\\end\\"


# ------------------------------------------------------------- other API
def test_encoded_input_and_vocabulary_build_match_strings(toy):
    train, test = toy
    lm = NGramLM(3).fit(train)
    assert lm.vocab == Vocabulary.build([w for s in train for w in s])
    enc = NGramLM(3).fit([lm.vocab.encode(s) for s in train], vocab=lm.vocab)
    test_ids = [lm.vocab.encode(s) for s in test]
    np.testing.assert_array_equal(enc.log_probs(test_ids), lm.log_probs(test))


def test_unknown_tokens_and_long_contexts_are_defined(toy):
    train, _ = toy
    lm = NGramLM(3).fit(train)
    np.testing.assert_array_equal(
        lm.log_probs([["w1", "zebra", "w2"]]), lm.log_probs([["w1", UNK, "w2"]])
    )
    # A context longer than order - 1: only its last order - 1 tokens count.
    np.testing.assert_array_equal(
        lm.next_token_probs(["w5", "w4", "w3", "w1", "w2"]), lm.next_token_probs(["w1", "w2"], bos=False)
    )
    # An explicit <s> in the context starts a new sentence there.
    np.testing.assert_array_equal(lm.next_token_probs(["w4", BOS, "w2"], bos=False), lm.next_token_probs(["w2"]))


def test_next_token_distribution_is_sorted_top_k(toy):
    train, _ = toy
    lm = NGramLM(3).fit(train)
    tokens, probs = lm.next_token_distribution(["w1"], top_k=5)
    full = lm.next_token_probs(["w1"])
    assert len(tokens) == 5 and np.all(np.diff(probs) <= 0)
    np.testing.assert_array_equal(probs, np.sort(full)[::-1][:5])
    assert [full[lm.vocab.token_to_id(t)] for t in tokens] == probs.tolist()
    all_tokens, _ = lm.next_token_distribution(["w1"])
    assert len(all_tokens) == len(lm.vocab) - 2  # everything but <pad> and <s>


def test_sampling_follows_the_tempered_distribution(toy):
    train, _ = toy
    lm = NGramLM(2).fit(train)
    p = lm.next_token_probs(["w1"])
    assert lm.sample(["w1"], 20, seed=3) == lm.sample(["w1"], 20, seed=3)
    for temperature in (1.0, 0.5, 2.0):
        draws = [lm.sample(["w1"], 1, seed=s, temperature=temperature)[0] for s in range(3000)]
        freq = collections.Counter(lm.vocab.token_to_id(t) for t in draws)
        q = p ** (1 / temperature)
        q /= q.sum()
        got = np.array([freq[i] / len(draws) for i in range(len(p))])
        assert np.abs(got - q).max() < 0.03, temperature
    # A tiny temperature always picks the most probable token.
    greedy = lm.sample([], 10, temperature=1e-3, seed=0)
    ctx = []
    for tok in greedy:
        assert lm.vocab.token_to_id(tok) == int(np.argmax(lm.next_token_probs(ctx[-1:], bos=not ctx)))
        ctx.append(tok)


def test_sampling_stops_at_eos(toy):
    train, _ = toy
    lm = NGramLM(3).fit(train)
    for seed in range(20):
        out = lm.sample([], 200, seed=seed)
        assert EOS not in out[:-1] and all(t in lm.vocab for t in out)
        if len(out) < 200:
            assert out[-1] == EOS
    long = lm.sample([], 300, seed=0, stop_at_eos=False)
    assert len(long) == 300 and BOS not in long


def test_config_round_trip_and_memory(toy):
    train, _ = toy
    lm = NGramLM(4, "kneser_ney", discount=[0.0, 0.5, 0.6, 0.7], discount_fallback=None)
    clone = NGramLM.from_config(lm.get_config())
    assert clone.get_config() == lm.get_config()
    np.testing.assert_array_equal(clone.fit(train).log_probs(train[:5]), lm.fit(train).log_probs(train[:5]))
    sizes = [NGramLM(n).fit(train).memory_bytes() for n in (1, 2, 3)]
    assert 0 < sizes[0] < sizes[1] < sizes[2]
    assert [lm.num_ngrams(n) for n in (1, 2)] == [
        len({w for s in train for w in s + [EOS]}),
        len({(a, b) for s in train for a, b in zip([BOS] + s, s + [EOS])}),
    ]


# ------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"order": 0}, "order"),
        ({"order": 7}, "order"),
        ({"order": 2.0}, "order"),
        ({"order": True}, "order"),
        ({"smoothing": "witten_bell"}, "smoothing"),
        ({"smoothing": "add_k", "k": 0}, "k"),
        ({"smoothing": "add_k", "k": -1.0}, "k"),
        ({"smoothing": "add_k", "k": float("nan")}, "k"),
        ({"discount": 1.5}, "discount"),
        ({"discount": -0.1}, "discount"),
        ({"discount": [0.1, 0.2]}, "discount"),
        ({"smoothing": "mle", "discount": 0.1}, "discount"),
        ({"discount_fallback": (0.5, 1.0)}, "discount_fallback"),
        ({"discount_fallback": (1.5, 1.0, 1.0)}, "discount_fallback"),
    ],
)
def test_bad_constructor_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NGramLM(**kwargs)


def test_bad_corpora():
    with pytest.raises(ValueError, match="empty corpus"):
        NGramLM(2).fit([])
    with pytest.raises(TypeError, match="string"):
        NGramLM(2).fit("the cat sat")
    with pytest.raises(TypeError, match="not a string"):
        NGramLM(2).fit(["the cat sat", "a dog"])
    with pytest.raises(ValueError, match="boundaries"):
        NGramLM(2).fit([["the", EOS, "cat"]])
    with pytest.raises(ValueError, match="boundaries"):
        NGramLM(2).fit([[BOS, "the"]])
    with pytest.raises(TypeError, match="mixes"):
        NGramLM(2).fit([["the"], np.array([4, 5])], vocab=Vocabulary(["the", "a"]))
    with pytest.raises(ValueError, match="vocab"):
        NGramLM(2).fit([np.array([4, 5])])
    with pytest.raises(ValueError, match="ids must lie"):
        NGramLM(2).fit([np.array([4, 9])], vocab=Vocabulary(["the", "a"]))
    with pytest.raises(TypeError, match="strings"):
        NGramLM(2).fit([["the", 3.5]])
    # Empty sentences are fine: each is just </s>.
    lm = NGramLM(2, "add_k").fit([[], []])
    assert lm.num_tokens == 2 and np.isfinite(lm.log_probs([[], ["x"]])).all()


def test_bad_calls_on_a_model():
    with pytest.raises(RuntimeError, match="not fitted"):
        NGramLM(2).log_probs([["a"]])
    lm = NGramLM(2, discount=0.5).fit(HAND)
    with pytest.raises(ValueError, match="temperature"):
        lm.sample(["the"], temperature=0)
    with pytest.raises(ValueError, match="temperature"):
        lm.sample(["the"], temperature=-1.0)
    with pytest.raises(TypeError, match="string"):
        lm.next_token_probs("the cat")
    with pytest.raises(ValueError, match="top_k"):
        lm.next_token_distribution(["the"], top_k=0)
    with pytest.raises(ValueError, match="empty corpus"):
        lm.perplexity([])
    assert lm.log_probs([]).shape == (0,)
    with pytest.raises(ValueError, match="`n`"):
        lm.num_ngrams(3)
    with pytest.raises(ValueError, match="kneser_ney"):
        NGramLM(2, "add_k").fit(HAND).to_arpa("unused.arpa")
    chars = NGramLM(2, discount=0.5).fit([list("a b"), list("ab")])
    with pytest.raises(ValueError, match="whitespace"):
        chars.to_arpa("unused.arpa")


def _padded_ngrams(sentences, n, vocab):
    out = []
    for s in sentences:
        padded = [BOS] * (n - 1) + [w if w in vocab else UNK for w in s] + [EOS]
        out += [tuple(padded[i:i + n]) for i in range(len(padded) - n + 1)]
    return out


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_unseen_rate_counts_padded_ngrams_never_seen(wikitext, n):
    train, valid = wikitext[0][:400], wikitext[1][:60]
    lm = NGramLM(order=4, smoothing="mle").fit(train)
    seen = set(_padded_ngrams(train, n, lm.vocab))
    grams = _padded_ngrams(valid, n, lm.vocab)
    expected = sum(g not in seen for g in grams) / len(grams)
    assert lm.unseen_rate(valid, n) == pytest.approx(expected, abs=1e-12)
    # unigrams: out-of-vocabulary words become <unk>, which training has; higher orders miss some
    assert expected == 0 if n == 1 else 0 < expected < 1


def test_unseen_rate_rejects_orders_above_the_model():
    lm = NGramLM(order=2, smoothing="mle").fit([["a", "b"]])
    with pytest.raises(ValueError, match="from 1 to order=2"):
        lm.unseen_rate([["a"]], 3)


def test_with_k_equals_refitting(toy):
    data, held_out = toy
    base = NGramLM(order=3, smoothing="add_k", k=1.0).fit(data)
    for k in (0.5, 0.01):
        np.testing.assert_allclose(base.with_k(k).log_probs(held_out),
                                   NGramLM(order=3, smoothing="add_k", k=k).fit(data).log_probs(held_out))
    assert base.k == 1.0
    with pytest.raises(ValueError, match="k"):
        base.with_k(0)
    with pytest.raises(ValueError, match="add_k"):
        NGramLM(order=2).fit(data).with_k(0.1)
