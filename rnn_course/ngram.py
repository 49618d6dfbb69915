"""N-gram language models: MLE, add-k (Lidstone) and interpolated modified Kneser-Ney.

This is the course's count-based baseline (notebook 01, and the first row of the
notebook 06 showdown). It is pure numpy: it does not import Keras, so it behaves
the same under every Keras backend.

## Sentence boundaries

Every sentence is padded with `order - 1` `<s>` tokens on the left and one `</s>`
on the right. `</s>` is predicted (and counted in perplexity); `<s>` is never
predicted. Nothing can precede `<s>`, so a context that starts with `<s>` is
already complete: the model stores the n-gram `<s> w` once, rather than also
`<s> <s> w`, `<s> <s> <s> w`, ... which would only repeat its counts. This is
how SRILM and KenLM store n-grams, and it gives exactly the same MLE and add-k
probabilities as the explicit `order - 1` padding.

The WikiText convention is `line.split()` per line, with blank lines as empty
sentences (each contributes just `</s>`, WikiText's `<eos>`).

## Unknown tokens

Tokens are mapped to ids with a `Vocabulary` (`rnn_course.vocab`); a token that
is not in it becomes `<unk>`, which is an ordinary token: it is counted and
predicted like any other word (as in KenLM when the training text contains
`<unk>`). The model can predict every vocabulary entry except `<pad>` and `<s>`;
their number is `V' = len(vocab) - 2`.

## Smoothing

* `"mle"`: `P(w | h) = c(h w) / c(h)`, with `h` the last `order - 1` tokens.
  A context that never occurred in training has no MLE estimate; the model then
  uses the longest suffix of `h` that did occur (so every context has a proper
  distribution). A word never seen after that context gets probability 0: its
  log-probability is `-inf` and the perplexity is `inf`. That is the point of
  smoothing, not an error.
* `"add_k"` (Lidstone; Laplace when `k=1`):
  `P(w | h) = (c(h w) + k) / (c(h) + k V')`. An unseen context gives the
  uniform distribution `1 / V'`.
* `"kneser_ney"`: interpolated modified Kneser-Ney (Chen & Goodman 1998), as
  built by KenLM's `lmplz`:

      P_n(w | h) = (a(h w) - D_n(a(h w))) / sum_x a(h x)
                   + gamma(h) * P_{n-1}(w | h[1:]),
      gamma(h)   = (D_n1 N_1(h .) + D_n2 N_2(h .) + D_n3+ N_3+(h .)) / sum_x a(h x),
      P_0(w)     = 1 / V'   (the uniform distribution ends the recursion).

  `a` is the raw count for the highest order and for n-grams that start with
  `<s>`, and the continuation count `N_1+(. g)` (the number of distinct words
  seen before `g`) otherwise. `N_k(h .)` is the number of words `x` with
  `a(h x) = k` (`>= 3` for `N_3+`). If `h` never occurred as a context,
  `P_n(w | h) = P_{n-1}(w | h[1:])`. The three discounts of each order come from
  its count-of-counts `n_1..n_4` of adjusted counts:
  `Y = n1 / (n1 + 2 n2)`, `D1 = 1 - 2 Y n2 / n1`, `D2 = 2 - 3 Y n3 / n2`,
  `D3+ = 3 - 4 Y n4 / n3`. Pass `discount=` to use fixed discounts instead.

## Storage and speed

The n-grams of each order are packed as `context_index * len(vocab) + word`
into a sorted `int64` array, where `context_index` is the dense index of the
n-gram's `(n-1)`-token prefix in the table of order `n - 1`. Counting is done
with `np.unique`, lookups with `np.searchsorted`: apart from the dictionary
lookup that maps each string token to its id, there is no Python-level work per
token when fitting or scoring.
"""

from __future__ import annotations

import copy
import itertools
import math
import numbers
import os
from typing import Iterable, Sequence

import numpy as np

from rnn_course.vocab import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, UNK_ID, Vocabulary

SMOOTHINGS = ("kneser_ney", "add_k", "mle")
MAX_ORDER = 6

_LN10 = math.log(10.0)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_k(k) -> None:
    if not isinstance(k, numbers.Real) or isinstance(k, bool) or not math.isfinite(k) or k <= 0:
        raise ValueError(f"`k` must be a finite number > 0. Received: k={k!r}")


class NGramLM:
    """An n-gram language model over a `Vocabulary`, fitted by counting.

    Args:
        order: the n of the n-grams, an integer from 1 to 6. The model
            conditions on the last `order - 1` tokens.
        smoothing: `"kneser_ney"` (interpolated modified Kneser-Ney, the
            default), `"add_k"` (Lidstone; Laplace for `k=1`) or `"mle"`
            (maximum likelihood, no smoothing). See the module docstring for
            the formulas.
        k: the pseudo-count added to every n-gram by `"add_k"`; must be > 0.
            Ignored by the other smoothings.
        discount: Kneser-Ney only. `None` (default) estimates the three
            modified-KN discounts `D1, D2, D3+` of each order from the
            count-of-counts. A float `d` in `[0, 1]` uses the single absolute
            discount `d` for every count and order. A sequence of `order`
            floats in `[0, 1]` gives one discount per order, unigrams first.
            A discount of 0 at the unigram level turns off the interpolation
            with the uniform distribution (words never seen in training then
            get probability 0). `discount=(0.0, 0.1, ...)` is the model that
            `nltk.lm.KneserNeyInterpolated` (discount 0.1) computes from the
            same n-grams (NLTK's default padding differs from ours).
        discount_fallback: Kneser-Ney only. The closed-form discounts need
            n-grams with adjusted counts 1, 2 and 3, and must land in
            `[0, j]` for `Dj`; small or repetitive corpora (a character
            vocabulary's unigrams, for instance) break this. The orders where
            it fails use these `(D1, D2, D3+)` instead, KenLM's
            `--discount_fallback` default `(0.5, 1.0, 1.5)`; they are listed in
            `fallback_orders`. `None` raises a `ValueError` instead.

    Attributes (after `fit`):
        vocab: the `Vocabulary` used to encode text.
        discounts: float array `(order, 3)` of the `D1, D2, D3+` used for each
            order (unigrams first), Kneser-Ney only.
        fallback_orders: the orders whose discounts came from
            `discount_fallback` (Kneser-Ney only).
        num_tokens: the number of predicted training tokens (`</s>` included).
        num_sentences: the number of training sentences.

    Example:

    >>> sentences = [s.split() for s in ["the cat sat", "the dog sat", "a cat ran"]]
    >>> lm = NGramLM(order=2, smoothing="add_k", k=1.0).fit(sentences)
    >>> tokens, probs = lm.next_token_distribution(["the"], top_k=2)
    >>> tokens
    ['cat', 'dog']
    >>> round(float(lm.perplexity([["the", "cat", "ran"]])), 3)
    4.507
    """

    def __init__(
        self,
        order: int = 3,
        smoothing: str = "kneser_ney",
        *,
        k: float = 1.0,
        discount: float | Sequence[float] | None = None,
        discount_fallback: Sequence[float] | None = (0.5, 1.0, 1.5),
    ):
        if not _is_int(order) or not 1 <= order <= MAX_ORDER:
            raise ValueError(
                f"`order` must be an integer from 1 to {MAX_ORDER}. Received: order={order!r}"
            )
        if smoothing not in SMOOTHINGS:
            raise ValueError(
                f"`smoothing` must be one of {SMOOTHINGS}. Received: smoothing={smoothing!r}"
            )
        _check_k(k)
        if discount is not None:
            if smoothing != "kneser_ney":
                raise ValueError(
                    "`discount` only applies to smoothing='kneser_ney'. Received: "
                    f"discount={discount!r} with smoothing={smoothing!r}"
                )
            discount = self._check_discount(discount, order)
        if discount_fallback is not None:
            try:
                fb = tuple(float(d) for d in discount_fallback)
            except (TypeError, ValueError):
                fb = ()
            if len(fb) != 3 or not all(math.isfinite(d) and 0 <= d <= j for j, d in enumerate(fb, 1)):
                raise ValueError(
                    "`discount_fallback` must be None or three discounts (D1, D2, D3+) with "
                    f"0 <= Dj <= j. Received: discount_fallback={discount_fallback!r}"
                )
            discount_fallback = fb
        self.order = int(order)
        self.smoothing = smoothing
        self.k = float(k)
        self.discount = discount
        self.discount_fallback = discount_fallback
        self._fitted = False

    @staticmethod
    def _check_discount(discount, order):
        if isinstance(discount, numbers.Real) and not isinstance(discount, bool):
            values = (float(discount),) * order
        elif isinstance(discount, (list, tuple, np.ndarray)):
            values = tuple(float(d) for d in discount)
            if len(values) != order:
                raise ValueError(
                    f"`discount` must be None, a float, or a sequence of `order`={order} "
                    f"floats (one per order, unigrams first). Received {len(values)} "
                    f"values: discount={discount!r}"
                )
        else:
            raise ValueError(
                "`discount` must be None, a float, or a sequence of floats. "
                f"Received: discount={discount!r}"
            )
        for d in values:
            if not (math.isfinite(d) and 0.0 <= d <= 1.0):
                raise ValueError(
                    f"Each fixed discount must lie in [0, 1]. Received: discount={discount!r}"
                )
        return values if not isinstance(discount, numbers.Real) else float(discount)

    # ----------------------------------------------------------------- config
    def get_config(self) -> dict:
        """The constructor arguments (not the fitted counts)."""
        discount = self.discount
        if isinstance(discount, tuple):
            discount = list(discount)
        fallback = None if self.discount_fallback is None else list(self.discount_fallback)
        return {
            "order": self.order,
            "smoothing": self.smoothing,
            "k": self.k,
            "discount": discount,
            "discount_fallback": fallback,
        }

    @classmethod
    def from_config(cls, config: dict) -> "NGramLM":
        return cls(**config)

    def __repr__(self) -> str:
        extra = f", k={self.k}" if self.smoothing == "add_k" else ""
        if self.discount is not None:
            extra += f", discount={self.discount!r}"
        state = f"fitted on {self.num_tokens:,} tokens" if self._fitted else "not fitted"
        return f"NGramLM(order={self.order}, smoothing={self.smoothing!r}{extra}; {state})"

    # ----------------------------------------------------------------- encode
    @staticmethod
    def _check_sentences(sentences, what):
        """Validates a corpus; returns (list of sentences, kind, lengths).

        `kind` is "str" (string tokens), "ids" (encoded) or None (all empty).
        """
        if isinstance(sentences, (str, bytes)):
            raise TypeError(
                f"`{what}` must be a list of sentences (each a list of tokens). Received a "
                f"string: {sentences[:40]!r}. Use e.g. [line.split() for line in lines]."
            )
        if isinstance(sentences, np.ndarray) and sentences.ndim == 1 and sentences.dtype != object:
            raise TypeError(
                f"`{what}` must be a list of sentences; received one flat array of "
                f"{sentences.size} ids. Wrap it in a list if it is one sentence."
            )
        try:
            sentences = list(sentences)
        except TypeError:
            raise TypeError(
                f"`{what}` must be an iterable of sentences. Received: {type(sentences).__name__}."
            ) from None
        lengths = np.empty(len(sentences), dtype=np.int64)
        kind = None
        for i, sent in enumerate(sentences):
            if isinstance(sent, (str, bytes)):
                raise TypeError(
                    f"Each sentence must be a sequence of tokens, not a string. Received "
                    f"{what}[{i}]={sent[:40]!r}. Split it first, e.g. line.split()."
                )
            if isinstance(sent, np.ndarray) and sent.dtype.kind in "UO":
                sent = sentences[i] = sent.tolist()  # an array of string tokens
            if isinstance(sent, np.ndarray):
                if sent.ndim != 1 or not (np.issubdtype(sent.dtype, np.integer) or sent.size == 0):
                    raise TypeError(
                        f"An encoded sentence must be a 1-D integer array. Received "
                        f"{what}[{i}] with shape {sent.shape} and dtype {sent.dtype}."
                    )
                this = "ids" if sent.size else None
            else:
                try:
                    n = len(sent)
                except TypeError:
                    raise TypeError(
                        f"Each sentence must be a sequence of tokens. Received {what}[{i}]="
                        f"{sent!r} of type {type(sent).__name__}."
                    ) from None
                if n == 0:
                    this = None
                elif isinstance(sent[0], str):
                    this = "str"
                elif _is_int(sent[0]):
                    this = "ids"
                else:
                    raise TypeError(
                        f"Tokens must be strings (or integer ids). Received {what}[{i}][0]="
                        f"{sent[0]!r} of type {type(sent[0]).__name__}."
                    )
            if this is not None:
                if kind is None:
                    kind = this
                elif kind != this:
                    raise TypeError(
                        f"`{what}` mixes string sentences and encoded (integer) sentences; "
                        f"{what}[{i}] is {'strings' if this == 'str' else 'ids'}. Use one kind."
                    )
            lengths[i] = len(sent)
        if kind == "str":
            types = set(map(type, itertools.chain.from_iterable(sentences)))
            if types - {str}:
                bad = next(t for s in sentences for t in s if not isinstance(t, str))
                raise TypeError(
                    f"Tokens must be strings. Received {bad!r} of type {type(bad).__name__} "
                    f"in `{what}`."
                )
        return sentences, kind, lengths

    @staticmethod
    def _encode(sentences, kind, lengths, vocab: Vocabulary, what: str, stoi=None):
        """Encodes checked sentences to one id array (without boundaries)."""
        if kind == "ids":
            ids = np.concatenate([np.asarray(s, dtype=np.int64).reshape(-1) for s in sentences])
            if ids.size and (ids.min() < 0 or ids.max() >= len(vocab)):
                raise ValueError(
                    f"Encoded token ids must lie in [0, {len(vocab)}) for this vocabulary. "
                    f"Received ids from {ids.min()} to {ids.max()}."
                )
        elif kind == "str":
            flat = list(itertools.chain.from_iterable(sentences))
            # Same as vocab.encode(flat), without a Python frame per token.
            stoi = {tok: i for i, tok in enumerate(vocab.tokens)} if stoi is None else stoi
            ids = np.fromiter(
                map(stoi.get, flat, itertools.repeat(UNK_ID)), dtype=np.int64, count=len(flat)
            )
        else:
            ids = np.zeros(0, dtype=np.int64)
        if ids.size:
            special = (ids == PAD_ID) | (ids == BOS_ID) | (ids == EOS_ID)
            if special.any():
                pos = int(np.flatnonzero(special)[0])
                sent_i = int(np.searchsorted(np.cumsum(lengths), pos, side="right"))
                tok = vocab.id_to_token(int(ids[pos]))
                raise ValueError(
                    f"Sentences must not contain {PAD!r}, {BOS!r} or {EOS!r}: the model adds the "
                    f"sentence boundaries itself. Received {tok!r} in {what}[{sent_i}]."
                )
        return ids

    @staticmethod
    def _pad(ids, lengths):
        """`[<s>, tokens..., </s>]` per sentence, concatenated; and each position's offset."""
        sizes = lengths + 2
        total = int(sizes.sum())
        starts = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths) > 1:
            np.cumsum(sizes[:-1], out=starts[1:])
        seq = np.empty(total, dtype=np.int64)
        is_token = np.ones(total, dtype=bool)
        is_token[starts] = False
        is_token[starts + lengths + 1] = False
        seq[is_token] = ids
        seq[starts] = BOS_ID
        seq[starts + lengths + 1] = EOS_ID
        offset = np.arange(total, dtype=np.int64) - np.repeat(starts, sizes)
        return seq, offset

    # -------------------------------------------------------------------- fit
    def fit(self, sentences: Iterable[Sequence[str]], vocab: Vocabulary | None = None) -> "NGramLM":
        """Counts the n-grams of `sentences` and computes the model's probabilities.

        Args:
            sentences: the training corpus, a list of sentences; each sentence
                is a list of string tokens, or a 1-D integer array already
                encoded with `vocab`. Sentences must not contain `<s>`, `</s>`
                or `<pad>` (the model adds the boundaries).
            vocab: the `Vocabulary` to use. `None` builds one from the corpus
                with `Vocabulary.build(tokens)` (every token kept); required
                for encoded sentences.

        Returns:
            `self`, fitted.
        """
        sentences, kind, lengths = self._check_sentences(sentences, "sentences")
        if not sentences:
            raise ValueError("Cannot fit an n-gram model on an empty corpus. Received 0 sentences.")
        if vocab is None:
            if kind == "ids":
                raise ValueError(
                    "Encoded (integer) sentences need the Vocabulary that encoded them. "
                    "Pass `vocab=`."
                )
            vocab = Vocabulary.build(itertools.chain.from_iterable(sentences))
        elif not isinstance(vocab, Vocabulary):
            raise TypeError(
                f"`vocab` must be a rnn_course.vocab.Vocabulary or None. Received: "
                f"{type(vocab).__name__}."
            )
        ids = self._encode(sentences, kind, lengths, vocab, "sentences")
        seq, offset = self._pad(ids, lengths)
        self._fit_encoded(seq, offset, vocab, num_sentences=len(lengths))
        return self

    def _fit_encoded(self, seq, offset, vocab, num_sentences):
        self._fitted = False  # a refit that raises must not leave a half-updated model
        N, V = self.order, len(vocab)
        M = len(seq)
        predictable = np.ones(V, dtype=bool)
        predictable[[PAD_ID, BOS_ID]] = False
        n_pred = V - 2

        # ---- count: tables of distinct n-grams, order by order (rolling keys).
        pred_pos = np.flatnonzero(offset >= 1)
        count1 = np.bincount(seq[pred_pos], minlength=V).astype(np.int64)
        keys = [None, None]  # keys[n]: sorted int64 keys of order n (n >= 2)
        counts = [None, count1]  # counts[n]: raw counts aligned with keys[n]
        suffix = [None, None]  # suffix[n]: index of the (n-1)-token suffix in table n-1
        bos_initial = [None, None]  # bos_initial[n]: the n-gram starts with <s>
        ids_prev = seq  # ids of the (n-1)-grams ending at each position
        pos = pred_pos
        for n in range(2, N + 1):
            pos = pos[offset[pos] >= n - 1]
            key = ids_prev[pos - 1] * V + seq[pos]
            uniq, inv, cnt = np.unique(key, return_inverse=True, return_counts=True)
            inv = inv.reshape(-1)
            suf = np.empty(len(uniq), dtype=np.int32 if len(uniq) < 2**31 else np.int64)
            suf[inv] = ids_prev[pos]
            binit = np.zeros(len(uniq), dtype=bool)
            binit[inv[offset[pos] == n - 1]] = True
            keys.append(uniq)
            counts.append(cnt)
            suffix.append(suf)
            bos_initial.append(binit)
            if n < N:
                ids_n = np.full(M, -1, dtype=np.int64)
                ids_n[pos] = inv
                ids_prev = ids_n
        del ids_prev, pos, pred_pos

        self.vocab = vocab
        self._stoi = {tok: i for i, tok in enumerate(vocab.tokens)}
        self._V = V
        self._n_pred = n_pred
        self._predictable = predictable
        self.num_tokens = int(count1.sum())
        self.num_sentences = int(num_sentences)
        count_dtype = np.int32 if max(int(c.max()) if c.size else 0 for c in counts[1:]) < 2**31 else np.int64
        self._keys = keys
        self._counts = [None] + [c.astype(count_dtype) for c in counts[1:]]
        self._logp = None
        self._logbo = None
        self._ctx_total = None
        self.discounts = None
        self.fallback_orders = []

        if self.smoothing == "kneser_ney":
            self._fit_kneser_ney(counts, suffix, bos_initial)
        else:
            # ctx_total[n][c]: how many times context c (an (n-1)-gram) was followed by a token.
            ctx_total = [None, np.array([self.num_tokens], dtype=np.int64)]
            for n in range(2, N + 1):
                size_prev = V if n == 2 else len(keys[n - 1])
                ctx_total.append(
                    np.bincount(keys[n] // V, weights=counts[n], minlength=size_prev).astype(np.int64)
                )
            self._ctx_total = ctx_total
        self._fitted = True
        return self

    def _kn_discounts(self, adjusted, n):
        """`[D1, D2, D3+]` for order `n` from its adjusted counts, and whether it fell back."""
        if self.discount is not None:
            d = self.discount if isinstance(self.discount, float) else self.discount[n - 1]
            return np.array([d, d, d], dtype=np.float64), False
        a = adjusted[adjusted > 0]
        n1, n2, n3, n4 = np.bincount(np.minimum(a, 5), minlength=6)[1:5].astype(np.float64)
        problem = None
        if min(n1, n2, n3) == 0:
            problem = "no n-grams with adjusted count {}".format(
                1 if n1 == 0 else 2 if n2 == 0 else 3
            )
        else:
            y = n1 / (n1 + 2 * n2)
            d = np.array([1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3])
            bad = ~((d >= 0) & (d <= np.arange(1, 4)))
            if not bad.any():
                return d, False
            j = int(np.flatnonzero(bad)[0]) + 1
            problem = f"D{j}{'+' if j == 3 else ''}={d[j - 1]:.4g} is outside [0, {j}]"
        if self.discount_fallback is None:
            raise ValueError(
                f"Cannot estimate the modified Kneser-Ney discounts of the {n}-grams: {problem} "
                f"(count-of-counts n1..n4={[int(n1), int(n2), int(n3), int(n4)]}). The corpus "
                f"is too small or too repetitive for order {self.order}. Pass "
                f"discount_fallback=(D1, D2, D3+) or a fixed `discount`, or lower the order."
            )
        return np.array(self.discount_fallback, dtype=np.float64), True

    def _fit_kneser_ney(self, counts, suffix, bos_initial):
        N, V = self.order, self._V
        keys = self._keys
        # Adjusted counts: raw counts at the top order and for <s>-initial n-grams,
        # continuation counts N1+(. g) otherwise. <s> as a unigram gets 0 (never predicted).
        adjusted = [None] * (N + 1)
        adjusted[N] = counts[N]
        for n in range(N - 1, 0, -1):
            size = V if n == 1 else len(keys[n])
            a = np.bincount(suffix[n + 1], minlength=size).astype(np.int64)
            if n > 1:
                a = a + np.where(bos_initial[n], counts[n], 0)
            adjusted[n] = a
        found = [self._kn_discounts(adjusted[n], n) for n in range(1, N + 1)]
        discounts = np.stack([d for d, _ in found])
        self.discounts = discounts
        self.fallback_orders = [n for n, (_, fell_back) in enumerate(found, start=1) if fell_back]

        def discount_of(a, n):
            table = np.concatenate([[0.0], discounts[n - 1]])
            return table[np.minimum(a, 3)]

        # Unigrams: interpolate with the uniform distribution over the V' predictable tokens.
        a1 = adjusted[1]
        d1 = discount_of(a1, 1)
        denom = float(a1.sum())
        gamma0 = float(d1.sum()) / denom
        p = np.where(self._predictable, (a1 - d1) / denom + gamma0 / self._n_pred, 0.0)
        with np.errstate(divide="ignore"):
            logp = [None, np.log(p)]
        logbo = [None]
        for n in range(2, N + 1):
            a = adjusted[n]
            dn = discount_of(a, n)
            ctx = keys[n] // V
            size_prev = V if n == 2 else len(keys[n - 1])
            denom = np.bincount(ctx, weights=a, minlength=size_prev)
            gnum = np.bincount(ctx, weights=dn, minlength=size_prev)
            is_ctx = denom > 0
            gamma = np.divide(gnum, denom, out=np.zeros_like(gnum), where=is_ctx)
            p = (a - dn) / denom[ctx] + gamma[ctx] * p[suffix[n]]
            with np.errstate(divide="ignore"):
                logbo.append(np.where(is_ctx, np.log(np.where(is_ctx, gamma, 1.0)), 0.0))
                logp.append(np.log(p))
        self._logp = logp
        self._logbo = logbo  # logbo[n]: log backoff weight of each n-gram of order n as a context
        self._p1 = np.exp(logp[1])

    # ----------------------------------------------------------------- lookup
    def _check_fitted(self):
        if not self._fitted:
            raise RuntimeError("This NGramLM is not fitted yet. Call `fit(sentences)` first.")

    def _lookup(self, n, ctx_ids, words):
        """Indices in table `n` of the n-grams (context index, word); -1 where absent."""
        table = self._keys[n]
        key = ctx_ids * self._V + words
        if key.ndim and key.size > 4096:
            # Sorted needles let the binary searches reuse cache lines: ~5x faster.
            perm = np.argsort(key)
            loc = np.empty(key.shape, dtype=np.int64)
            loc[perm] = np.searchsorted(table, key[perm])
        else:
            loc = np.searchsorted(table, key)
        loc_c = np.minimum(loc, len(table) - 1)
        hit = (loc < len(table)) & (table[loc_c] == key) if len(table) else np.zeros(key.shape, bool)
        return np.where(hit, loc_c, -1)

    def _position_ids(self, seq, offset, upto):
        """ids[n][p]: index in table n of the n-gram ending at position p (-1 if absent)."""
        M = len(seq)
        ids = [None, seq]
        for n in range(2, upto + 1):
            prev = ids[n - 1]
            cand = np.flatnonzero(offset >= n - 1)
            c = prev[cand - 1]
            ok = c >= 0
            cand, c = cand[ok], c[ok]
            out = np.full(M, -1, dtype=np.int64)
            out[cand] = self._lookup(n, c, seq[cand])
            ids.append(out)
        return ids

    # ---------------------------------------------------------------- scoring
    def log_probs(self, sentences: Iterable[Sequence[str]]) -> np.ndarray:
        """Natural-log probability of every predicted token.

        Args:
            sentences: a list of sentences (lists of string tokens, or 1-D
                integer arrays encoded with `self.vocab`). Unknown tokens are
                scored as `<unk>`.

        Returns:
            A float64 array with one entry per predicted token: for each
            sentence in turn, its tokens and then its `</s>`. Its length is
            `sum(len(s) + 1 for s in sentences)`. MLE gives `-inf` to tokens it
            never saw in their context; the other smoothings are always finite
            (unless a zero discount was chosen).
        """
        self._check_fitted()
        sentences, kind, lengths = self._check_sentences(sentences, "sentences")
        ids = self._encode(sentences, kind, lengths, self.vocab, "sentences", self._stoi)
        seq, offset = self._pad(ids, lengths)
        return self._log_probs_encoded(seq, offset)

    def _log_probs_encoded(self, seq, offset):
        N = self.order
        pred = np.flatnonzero(offset >= 1)
        words = seq[pred]
        ids = self._position_ids(seq, offset, N)
        off = offset[pred]
        if self.smoothing == "kneser_ney":
            res = self._logp[1][words]
            for n in range(2, N + 1):
                ctx = np.where(off >= n - 1, ids[n - 1][pred - 1], -1)
                has_ctx = ctx >= 0
                bo = np.where(has_ctx, self._logbo[n - 1][np.maximum(ctx, 0)], 0.0)
                g = ids[n][pred]
                hit = g >= 0
                res = np.where(hit, self._logp[n][np.maximum(g, 0)], res + bo)
            return res
        # add_k and mle: counts at the longest usable context.
        num = np.zeros(len(pred))
        den = np.full(len(pred), float(self.num_tokens))
        if self.smoothing == "add_k":
            ctx_len = np.minimum(off, N - 1)
            num = self._counts[1][words].astype(np.float64)
            for j in range(1, N):
                sel = ctx_len == j
                ctx = ids[j][pred[sel] - 1]
                g = ids[j + 1][pred[sel]]
                den[sel] = np.where(ctx >= 0, self._ctx_total[j + 1][np.maximum(ctx, 0)], 0)
                num[sel] = np.where(g >= 0, self._counts[j + 1][np.maximum(g, 0)], 0)
            return np.log(num + self.k) - np.log(den + self.k * self._n_pred)
        num = self._counts[1][words].astype(np.float64)
        for j in range(1, N):
            ctx = np.where(off >= j, ids[j][pred - 1], -1)
            total = np.where(ctx >= 0, self._ctx_total[j + 1][np.maximum(ctx, 0)], 0)
            use = total > 0  # the longest context seen in training wins
            g = ids[j + 1][pred]
            num = np.where(use, np.where(g >= 0, self._counts[j + 1][np.maximum(g, 0)], 0), num)
            den = np.where(use, total, den)
        with np.errstate(divide="ignore"):
            return np.log(num) - np.log(den)

    def with_k(self, k: float) -> "NGramLM":
        """The same fitted add-k model with another `k`, without counting again.

        The copy shares the count tables (they are never modified), so tuning `k`
        on a validation set costs one scoring pass per value.
        """
        if self.smoothing != "add_k":
            raise ValueError(f"`with_k` needs smoothing='add_k'. Received a model with smoothing={self.smoothing!r}")
        _check_k(k)
        other = copy.copy(self)
        other.k = float(k)
        return other

    def unseen_rate(self, sentences: Iterable[Sequence[str]], n: int | None = None) -> float:
        """The fraction of predicted tokens whose n-gram never occurred in training.

        Each sentence is padded as for counting (n-1 `<s>`, one `</s>`), so there is
        one n-gram per predicted token, `</s>` included. This is the "zero counts"
        sparsity that MLE cannot survive.

        Args:
            sentences: the text to check (e.g. the validation split).
            n: the n-gram order, 1 to `self.order` (default: `self.order`).
        """
        self._check_fitted()
        n = self.order if n is None else n
        if not _is_int(n) or not 1 <= n <= self.order:
            raise ValueError(f"`n` must be an integer from 1 to order={self.order}. Received: n={n!r}")
        sentences, kind, lengths = self._check_sentences(sentences, "sentences")
        seq, offset = self._pad(self._encode(sentences, kind, lengths, self.vocab, "sentences", self._stoi), lengths)
        pred = np.flatnonzero(offset >= 1)
        if pred.size == 0:
            raise ValueError("Cannot compute an unseen rate over an empty corpus. Received 0 sentences.")
        ids = self._position_ids(seq, offset, n)
        # `<s> w ...` is stored once, so near the sentence start the padded n-gram is a shorter entry.
        length = np.minimum(offset[pred] + 1, n)
        seen = self._counts[1][seq[pred]] > 0
        for j in range(2, n + 1):
            sel = length == j
            seen[sel] = ids[j][pred[sel]] >= 0
        return float(1.0 - seen.mean())

    def perplexity(self, sentences: Iterable[Sequence[str]]) -> float:
        """`exp(-mean(log_probs(sentences)))` over every predicted token, `</s>` included.

        Raises:
            ValueError: if `sentences` is empty (there is nothing to average).
        """
        lp = self.log_probs(sentences)
        if lp.size == 0:
            raise ValueError("Cannot compute the perplexity of an empty corpus. Received 0 sentences.")
        return float(np.exp(-lp.mean()))

    # ------------------------------------------------------- distributions
    def _encode_context(self, context, bos):
        self._check_fitted()
        if isinstance(context, (str, bytes)):
            raise TypeError(
                "`context` must be a sequence of tokens, not a string. Received "
                f"context={context[:40]!r}. Use e.g. 'students opened their'.split()."
            )
        context = list(context)
        ids = []
        for tok in context:
            if isinstance(tok, str):
                ids.append(self.vocab.token_to_id(tok))
            elif _is_int(tok) and 0 <= int(tok) < self._V:
                ids.append(int(tok))
            else:
                raise TypeError(
                    f"Context tokens must be strings or ids in [0, {self._V}). Received {tok!r}."
                )
        if BOS_ID in ids:  # an explicit <s> starts the sentence: drop what came before
            last = len(ids) - 1 - ids[::-1].index(BOS_ID)
            ids = ids[last + 1:]
            bos = True
        if bos:
            ids = [BOS_ID] + ids
        return ids[max(0, len(ids) - (self.order - 1)):] if self.order > 1 else []

    def _suffix_ids(self, ctx):
        """out[j]: index in table j of the last j context tokens (-1 if never seen)."""
        out = [0] * (len(ctx) + 1)
        for j in range(1, len(ctx) + 1):
            cur = ctx[-j]
            for n, w in enumerate(ctx[len(ctx) - j + 1:], start=2):
                cur = int(self._lookup(n, np.int64(cur), np.int64(w)))
                if cur < 0:
                    break
            out[j] = cur
        return out

    def _slice(self, n, c):
        """Words and table-`n` positions of the n-grams whose context is `c`."""
        table = self._keys[n]
        lo, hi = np.searchsorted(table, [c * self._V, (c + 1) * self._V])
        return table[lo:hi] - c * self._V, lo, hi

    def next_token_probs(self, context: Sequence[str] = (), *, bos: bool = True) -> np.ndarray:
        """The model's distribution of the next token, indexed by vocabulary id.

        Args:
            context: the tokens before the next one (strings, or ids). Only the
                last `order - 1` are used (the Markov assumption); unknown
                tokens count as `<unk>`. An explicit `<s>` in the context
                starts a new sentence there.
            bos: whether `context` starts at the beginning of a sentence (so
                that `<s>` precedes it). Set it to False for a context taken
                from the middle of a sentence.

        Returns:
            A float64 array of shape `(len(vocab),)` that sums to 1; `<pad>`
            and `<s>` have probability 0.
        """
        ctx = self._encode_context(context, bos)
        V = self._V
        cids = self._suffix_ids(ctx)
        if self.smoothing == "kneser_ney":
            p = self._p1.copy()
            for j in range(1, len(ctx) + 1):
                c = cids[j]
                if c < 0:
                    break
                words, lo, hi = self._slice(j + 1, c)
                if hi > lo:
                    p *= math.exp(self._logbo[j][c])
                    p[words] = np.exp(self._logp[j + 1][lo:hi])
            return p
        counts = self._counts[1].astype(np.float64)
        total = float(self.num_tokens)
        if self.smoothing == "add_k":
            if ctx:
                counts = np.zeros(V)
                total = 0.0
                c = cids[len(ctx)]
                if c >= 0:
                    words, lo, hi = self._slice(len(ctx) + 1, c)
                    counts[words] = self._counts[len(ctx) + 1][lo:hi]
                    total = float(self._ctx_total[len(ctx) + 1][c])
            p = (counts + self.k) / (total + self.k * self._n_pred)
            p[~self._predictable] = 0.0
            return p
        for j in range(len(ctx), 0, -1):  # MLE: the longest context seen in training
            c = cids[j]
            if c >= 0 and self._ctx_total[j + 1][c] > 0:
                words, lo, hi = self._slice(j + 1, c)
                counts = np.zeros(V)
                counts[words] = self._counts[j + 1][lo:hi]
                total = float(self._ctx_total[j + 1][c])
                break
        return counts / total

    def next_token_distribution(
        self, context: Sequence[str] = (), *, top_k: int | None = None, bos: bool = True
    ) -> tuple[list[str], np.ndarray]:
        """The most probable next tokens and their probabilities, most probable first.

        Args:
            context: as in `next_token_probs`.
            top_k: how many tokens to return; `None` returns every token with
                a nonzero probability.
            bos: as in `next_token_probs`.

        Returns:
            `(tokens, probs)`: a list of strings and a float64 array, sorted by
            decreasing probability (ties by id).
        """
        if top_k is not None and (not _is_int(top_k) or top_k < 1):
            raise ValueError(f"`top_k` must be None or an integer >= 1. Received: top_k={top_k!r}")
        p = self.next_token_probs(context, bos=bos)
        order = np.lexsort((np.arange(len(p)), -p))
        order = order[p[order] > 0]
        if top_k is not None:
            order = order[:top_k]
        return self.vocab.decode(order, skip_pad=False), p[order]

    def sample(
        self,
        context: Sequence[str] = (),
        max_tokens: int = 50,
        *,
        temperature: float = 1.0,
        seed: int | None = None,
        stop_at_eos: bool = True,
        bos: bool = True,
    ) -> list[str]:
        """Generates tokens one at a time from the model.

        Args:
            context: the tokens to continue (see `next_token_probs`).
            max_tokens: the most tokens to generate.
            temperature: > 0. Each step samples from `p ** (1 / temperature)`
                renormalised: below 1 sharpens the distribution (towards the
                most probable token), above 1 flattens it.
            seed: seed of the numpy random generator, for reproducible samples.
            stop_at_eos: stop once `</s>` is drawn (it is the last token
                returned). If False, generation goes on into a new sentence.
            bos: whether `context` starts at the beginning of a sentence.

        Returns:
            The generated tokens (not including `context`).
        """
        if (
            not isinstance(temperature, numbers.Real)
            or isinstance(temperature, bool)
            or not math.isfinite(temperature)
            or temperature <= 0
        ):
            raise ValueError(
                f"`temperature` must be a finite number > 0. Received: temperature={temperature!r}"
            )
        if not _is_int(max_tokens) or max_tokens < 0:
            raise ValueError(f"`max_tokens` must be an integer >= 0. Received: max_tokens={max_tokens!r}")
        rng = np.random.default_rng(seed)
        history = self._encode_context(context, bos) if self.order > 1 else []
        out = []
        for _ in range(max_tokens):
            p = self.next_token_probs(history, bos=False)
            if temperature != 1.0:
                nz = p > 0
                logits = np.log(p[nz]) / temperature
                q = np.exp(logits - logits.max())
                p = np.zeros_like(p)
                p[nz] = q / q.sum()
            w = int(rng.choice(len(p), p=p / p.sum()))
            out.append(w)
            if w == EOS_ID:
                if stop_at_eos:
                    break
                history = [BOS_ID]
            else:
                history.append(w)
            if self.order > 1:
                history = history[-(self.order - 1):]
        return self.vocab.decode(out, skip_pad=False)

    # -------------------------------------------------------------- inspect
    def num_ngrams(self, n: int) -> int:
        """The number of distinct n-grams of order `n` seen in training.

        n-grams may start with one `<s>`. For `n=1` these are the distinct
        predicted tokens (`</s>` included, `<s>` not).
        """
        self._check_fitted()
        if not _is_int(n) or not 1 <= n <= self.order:
            raise ValueError(f"`n` must be an integer from 1 to order={self.order}. Received: n={n!r}")
        if n == 1:
            return int(np.count_nonzero(self._counts[1]))
        return int(len(self._keys[n]))

    def count(self, ngram: Sequence[str]) -> int:
        """The training count of `ngram` (a sequence of 1..order tokens).

        `<s>` may only come first. `count(["<s>"])` is the number of sentences.
        """
        self._check_fitted()
        if isinstance(ngram, (str, bytes)):
            raise TypeError(f"`ngram` must be a sequence of tokens, not a string. Received {ngram!r}.")
        ngram = list(ngram)
        if not 1 <= len(ngram) <= self.order:
            raise ValueError(
                f"`ngram` must have 1 to order={self.order} tokens. Received {len(ngram)}: {ngram!r}"
            )
        ids = [self.vocab.token_to_id(t) if isinstance(t, str) else int(t) for t in ngram]
        if BOS_ID in ids[1:]:
            raise ValueError(f"`<s>` may only start an n-gram. Received: {ngram!r}")
        if ids == [BOS_ID]:
            return self.num_sentences
        cur = ids[0]
        for n, w in enumerate(ids[1:], start=2):
            cur = int(self._lookup(n, np.int64(cur), np.int64(w)))
            if cur < 0:
                return 0
        return int(self._counts[len(ids)][cur])

    def memory_bytes(self) -> int:
        """Bytes held by the fitted model's arrays (keys, counts, probabilities)."""
        self._check_fitted()
        total = 0
        for group in (self._keys, self._counts, self._logp, self._logbo, self._ctx_total):
            for arr in group or ():
                if arr is not None:
                    total += arr.nbytes
        if self.smoothing == "kneser_ney":
            total += self._p1.nbytes
        return int(total)

    # ------------------------------------------------------------------ ARPA
    def to_arpa(self, path: str | os.PathLike) -> None:
        """Writes the model as an ARPA backoff file (KenLM, SRILM).

        The interpolated Kneser-Ney model is written in its equivalent backoff
        form: every seen n-gram carries its interpolated log10 probability and,
        if it is a context, log10 of its interpolation weight `gamma` as the
        backoff weight. `<s>` has probability `-99` (never predicted) and
        `<pad>` is left out. Scoring the file with KenLM gives the same
        probabilities as `log_probs` (up to the 32-bit floats KenLM stores).
        KenLM's query code needs `order >= 2`.

        Raises:
            ValueError: if the smoothing is not `"kneser_ney"` (MLE and add-k
                are not backoff models), or if a vocabulary token contains
                whitespace (ARPA separates tokens by spaces).
        """
        self._check_fitted()
        if self.smoothing != "kneser_ney":
            raise ValueError(
                "Only smoothing='kneser_ney' models can be written as ARPA backoff files. "
                f"Received a model with smoothing={self.smoothing!r}."
            )
        tokens = self.vocab.tokens
        bad = [t for t in tokens[1:] if t == "" or any(ch.isspace() for ch in t)]
        if bad:
            raise ValueError(
                "ARPA files separate tokens by whitespace, so tokens cannot be empty or "
                f"contain whitespace. Received tokens such as {bad[:3]!r}."
            )
        N, V = self.order, self._V
        S = np.dtypes.StringDType()
        words_text = np.array(tokens, dtype=S)
        sizes = [V - 1] + [len(self._keys[n]) for n in range(2, N + 1)]
        with open(path, "w", encoding="utf-8") as f:
            f.write("\\data\\\n")
            for n, size in enumerate(sizes, start=1):
                f.write(f"ngram {n}={size}\n")
            text_prev = words_text
            for n in range(1, N + 1):
                f.write(f"\n\\{n}-grams:\n")
                if n == 1:
                    sel = np.arange(1, V)  # everything but <pad>
                    text = words_text[sel]
                    logp = self._logp[1][sel] / _LN10
                    logp[sel == BOS_ID] = -99.0
                    logbo = self._logbo[1][sel] / _LN10 if N > 1 else None
                else:
                    ctx = self._keys[n] // V
                    text = np.strings.add(
                        np.strings.add(text_prev[ctx], " "), words_text[self._keys[n] - ctx * V]
                    )
                    text_prev = text
                    logp = self._logp[n] / _LN10
                    logbo = self._logbo[n] / _LN10 if n < N else None
                self._write_arpa_lines(f, text, logp, logbo)
            f.write("\n\\end\\\n")

    @staticmethod
    def _format_log10(x):
        """`'%.7f' % v` for every value of `x`, vectorised (StringDType array)."""
        S = np.dtypes.StringDType()
        out = np.empty(len(x), dtype=S)
        w = np.rint(np.abs(x) * 1e7)
        fast = (x <= 0) & (w < 1e8)  # "-d.ddddddd": build the ASCII digits directly
        w = w[fast].astype(np.int64)
        mat = np.empty((len(w), 10), dtype=np.uint8)
        mat[:, 0] = ord("-")
        mat[:, 2] = ord(".")
        for col in range(9, 2, -1):
            mat[:, col] = w % 10 + 48
            w //= 10
        mat[:, 1] = w + 48
        out[fast] = mat.view("S10").ravel().astype(S)
        slow = np.flatnonzero(~fast)
        if slow.size:
            out[slow] = np.array(["%.7f" % v for v in x[slow].tolist()], dtype=S)
        return out

    @classmethod
    def _write_arpa_lines(cls, f, text, logp, logbo, chunk=1 << 19):
        add = np.strings.add
        for start in range(0, len(text), chunk):
            sl = slice(start, start + chunk)
            line = add(add(cls._format_log10(logp[sl]), "\t"), text[sl])
            if logbo is not None:
                b = logbo[sl]
                has = np.flatnonzero(b != 0.0)
                line[has] = add(add(line[has], "\t"), cls._format_log10(b[has]))
            f.write("\n".join(line.tolist()))
            f.write("\n")
