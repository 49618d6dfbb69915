"""Benchmark of the course's n-gram model (`rnn_course.ngram.NGramLM`). Not a test.

Run from the repository root:

    .venv/bin/python bench/ngram.py            # about 3 minutes, 2 minutes of it NLTK
    .venv/bin/python bench/ngram.py --no-nltk  # skip the NLTK comparison

It prints, on WikiText-2 (train: 2,088,628 tokens with one `</s>` per line):

1. our modified Kneser-Ney model, orders 3 and 5: fit time, scoring throughput on
   valid, memory (the fitted arrays, and the tracemalloc peak while fitting), valid
   perplexity;
2. NLTK's `KneserNeyInterpolated` on the first 100k train tokens against ours on the
   same n-grams with the same discounts: fit time, tokens/s on 2k valid tokens, the
   speed-up, and the agreement of the two perplexities;
3. KenLM reading our ARPA export: its perplexity against ours, and the stated
   `lmplz` build-time anchor (quoted, not measured here).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rnn_course.corpora import word_sentences  # noqa: E402
from rnn_course.ngram import NGramLM  # noqa: E402
from rnn_course.vocab import BOS, EOS, UNK  # noqa: E402

#: Stated anchor from the brief, not measured by this script.
LMPLZ_ANCHOR = {"order": 5, "tokens": 1_390_000, "seconds": 2.6}


@contextlib.contextmanager
def quiet_stderr():
    """Silences file descriptor 2 (C++ code writes there directly)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def n_tokens(sentences):
    return sum(len(s) + 1 for s in sentences)


def best_time(fn, repeat):
    best, out = math.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def mib(nbytes):
    return f"{nbytes / 2**20:,.1f} MiB"


def ours_on_wikitext(train, valid, orders):
    print("\n## 1. Our interpolated modified Kneser-Ney on WikiText-2 (train -> valid)")
    print(f"train {n_tokens(train):,} tokens, valid {n_tokens(valid):,} tokens (</s> included)")
    rows = {}
    for order in orders:
        fit_s, lm = best_time(lambda: NGramLM(order).fit(train), repeat=2)
        score_s, lp = best_time(lambda: lm.log_probs(valid), repeat=5)
        tracemalloc.start()
        NGramLM(order).fit(train)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows[order] = {
            "fit": fit_s,
            "score": score_s,
            "tok_s": len(lp) / score_s,
            "ppl": float(np.exp(-lp.mean())),
            "model": lm.memory_bytes(),
            "peak": peak,
            "ngrams": [lm.num_ngrams(n) for n in range(1, order + 1)],
            "lm": lm,
        }
    header = f"{'':38s}" + "".join(f"{f'order {o}':>16s}" for o in orders)
    print(header)
    lines = [
        ("fit time, best of 2 (s)", lambda r: f"{r['fit']:.2f}"),
        ("fit throughput (M train tokens/s)", lambda r: f"{n_tokens(train) / r['fit'] / 1e6:.2f}"),
        ("score valid, best of 5 (s)", lambda r: f"{r['score']:.3f}"),
        ("scoring throughput (M tokens/s)", lambda r: f"{r['tok_s'] / 1e6:.2f}"),
        ("valid perplexity", lambda r: f"{r['ppl']:.2f}"),
        ("model arrays, memory_bytes()", lambda r: mib(r["model"])),
        ("peak while fitting (tracemalloc)", lambda r: mib(r["peak"])),
    ]
    for name, fmt in lines:
        print(f"{name:38s}" + "".join(f"{fmt(rows[o]):>16s}" for o in orders))
    for o in orders:
        print(f"order {o}: distinct n-grams by order {rows[o]['ngrams']}, "
              f"discounts D1/D2/D3+ by order {np.round(rows[o]['lm'].discounts, 3).tolist()}")
    print("scoring includes mapping the strings to ids; the tracemalloc peak counts numpy and "
          "Python allocations made during fit() (the corpus already in memory is not counted)")
    return rows


def first_tokens(sentences, budget):
    out, n = [], 0
    for s in sentences:
        if n >= budget:
            break
        out.append(s)
        n += len(s) + 1
    return out


def nltk_comparison(train, valid, nltk_tokens):
    print("\n## 2. NLTK nltk.lm.KneserNeyInterpolated vs ours, same n-grams, same discounts")
    try:
        import nltk
        from nltk.lm import KneserNeyInterpolated
        from nltk.util import everygrams
    except ImportError:
        print("nltk is not installed: skipped (pip install nltk)")
        return
    sub = first_tokens(train, 100_000)
    vocab = {w for s in sub for w in s}
    # Valid sentences with words unseen in the subset written as <unk> (seen in it), so
    # that both models give finite log-probabilities.
    test, scored = [], 0
    for s in valid:
        if scored >= nltk_tokens:
            break
        s = [w if w in vocab else UNK for w in s]
        test.append(s)
        scored += len(s)  # the tokens after the first, plus </s>
    print(f"nltk {nltk.__version__}; training data: the first {len(sub):,} train lines = "
          f"{n_tokens(sub):,} tokens; scored: {n_tokens(test):,} valid tokens "
          f"({len(test)} lines)")
    print("NLTK is fed our padding (one <s>, one </s>, n-grams of every order inside a line) "
          "and ours uses NLTK's discounting: 0.1 at every order above 1, none (no uniform "
          "interpolation) for unigrams, i.e. NGramLM(order, discount=(0, 0.1, ...)).")
    padded = [[BOS] + s + [EOS] for s in sub]
    for order in (2, 3):
        t0 = time.perf_counter()
        model = KneserNeyInterpolated(order, discount=0.1)
        model.fit([list(everygrams(s, max_len=order)) for s in padded], [w for s in padded for w in s])
        nltk_fit = time.perf_counter() - t0
        ours = NGramLM(order, discount=(0.0,) + (0.1,) * (order - 1))
        our_fit, _ = best_time(lambda: ours.fit(sub), repeat=3)
        # NLTK cannot score a trigram's first token: its continuation count for the
        # context ("<s>",) has a zero denominator. Those tokens are left out of the
        # comparison (not out of our timing, which scores every token).
        theirs, keep, i = [], [], 0
        t0 = time.perf_counter()
        for s in test:
            seq = [BOS] + s + [EOS]
            for j in range(1, len(seq)):
                if order == 2 or j >= 2:
                    theirs.append(math.log(model.score(seq[j], seq[max(0, j - order + 1):j])))
                    keep.append(i)
                i += 1
        nltk_score = time.perf_counter() - t0
        our_score, lp = best_time(lambda: ours.log_probs(test), repeat=20)
        theirs = np.array(theirs)
        mine = lp[keep]
        nltk_tps, our_tps = len(theirs) / nltk_score, len(lp) / our_score
        print(f"\norder {order}:{'':28s}{'NLTK':>14s}{'ours':>14s}{'ours/NLTK':>12s}")
        print(f"  {'fit (s)':34s}{nltk_fit:14.3f}{our_fit:14.4f}{nltk_fit / our_fit:11.0f}x")
        print(f"  {'scoring (tokens/s)':34s}{nltk_tps:14,.0f}{our_tps:14,.0f}{our_tps / nltk_tps:11,.0f}x")
        print(f"  {'perplexity on the compared tokens':34s}{math.exp(-theirs.mean()):14.6f}"
              f"{math.exp(-mine.mean()):14.6f}   ({len(theirs):,} tokens)")
        print(f"  max |log p(ours) - log p(NLTK)| per token: {np.abs(mine - theirs).max():.2e}")


def kenlm_comparison(valid, rows, n_train):
    print("\n## 3. KenLM")
    a = LMPLZ_ANCHOR
    print(f"stated anchor (from the brief, NOT measured here): KenLM lmplz builds a "
          f"{a['order']}-gram on {a['tokens'] / 1e6:.2f}M tokens in about {a['seconds']} s "
          f"= {a['tokens'] / a['seconds'] / 1e6:.2f}M tokens/s on this machine")
    if 5 in rows:
        ours = n_train / rows[5]["fit"]
        print(f"ours (measured above): 5-gram on {n_train / 1e6:.2f}M tokens in "
              f"{rows[5]['fit']:.2f} s = {ours / 1e6:.2f}M tokens/s, "
              f"{ours / (a['tokens'] / a['seconds']):.2f}x the anchor's tokens/s")
    try:
        import kenlm
    except ImportError:
        print("the kenlm module is not installed: ARPA check skipped (pip install kenlm)")
        return
    n_valid = n_tokens(valid)
    try:
        from importlib.metadata import version

        kenlm_version = version("kenlm")
    except Exception:  # noqa: BLE001 - only for the printout
        kenlm_version = "?"
    print(f"kenlm module {kenlm_version}: scoring our ARPA export of the "
          f"models above on valid with Model.score(line, bos=True, eos=True)")
    print(f"{'order':>6s}{'ARPA write (s)':>16s}{'ARPA size':>12s}{'KenLM load (s)':>16s}"
          f"{'ppl (ours)':>13s}{'ppl (KenLM)':>13s}{'rel. diff':>11s}")
    with tempfile.TemporaryDirectory() as tmp:
        for order, row in rows.items():
            path = os.path.join(tmp, f"wt2_{order}.arpa")
            t0 = time.perf_counter()
            row["lm"].to_arpa(path)
            write_s = time.perf_counter() - t0
            size = os.path.getsize(path)
            t0 = time.perf_counter()
            with quiet_stderr():  # KenLM draws a progress bar on stderr while loading
                model = kenlm.Model(path)
            load_s = time.perf_counter() - t0
            total = sum(model.score(" ".join(s), bos=True, eos=True) for s in valid)
            ppl_kenlm = 10 ** (-total / n_valid)
            rel = abs(ppl_kenlm - row["ppl"]) / row["ppl"]
            print(f"{order:6d}{write_s:16.2f}{mib(size):>12s}{load_s:16.2f}"
                  f"{row['ppl']:13.4f}{ppl_kenlm:13.4f}{rel:11.1e}")
            del model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--no-nltk", action="store_true", help="skip the (slow) NLTK comparison")
    parser.add_argument("--nltk-tokens", type=int, default=2000, help="valid tokens NLTK scores")
    args = parser.parse_args(argv)
    print("# rnn_course.ngram benchmark")
    print(f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{os.cpu_count()} CPU cores, {platform.machine()} {platform.system()}")
    t0 = time.perf_counter()
    train = word_sentences("wikitext-2", "train")
    valid = word_sentences("wikitext-2", "valid")
    print(f"loaded WikiText-2 train/valid in {time.perf_counter() - t0:.2f} s (not in any timing)")
    rows = ours_on_wikitext(train, valid, args.orders)
    if not args.no_nltk:
        nltk_comparison(train, valid, args.nltk_tokens)
    kenlm_comparison(valid, rows, n_tokens(train))
    print(f"\nprocess peak RSS (resource.getrusage ru_maxrss, whole run): "
          f"{mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)}")


if __name__ == "__main__":
    main()
