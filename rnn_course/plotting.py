"""The course's figures. Each function draws on an `ax` (or a new figure) and returns it."""

from __future__ import annotations

import collections
from typing import Iterable, Mapping

import numpy as np


def _axes(ax=None, figsize=(7, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def rank_frequency(tokens: Iterable[str]) -> np.ndarray:
    """Token counts sorted from most to least frequent (rank 1 first)."""
    counts = np.fromiter(collections.Counter(tokens).values(), dtype=np.int64)
    return np.sort(counts)[::-1]


def zipf_slope(counts: np.ndarray, max_rank: int = 1000) -> float:
    """The least-squares slope of log(frequency) against log(rank) over the top ranks.

    Zipf's law predicts about -1 for the words of natural text.
    """
    counts = np.asarray(counts, dtype=np.float64)[:max_rank]
    if counts.size < 2:
        raise ValueError(f"Need at least 2 distinct tokens to fit a slope. Received {counts.size}.")
    ranks = np.arange(1, counts.size + 1)
    slope, _ = np.polyfit(np.log(ranks), np.log(counts), 1)
    return float(slope)


def plot_zipf(streams: Mapping[str, Iterable[str]], ax=None):
    """Log-log rank-frequency curves, one per named token stream (notebook 00, section 3)."""
    ax = _axes(ax)
    for name, tokens in streams.items():
        counts = rank_frequency(tokens)
        ranks = np.arange(1, counts.size + 1)
        ax.loglog(ranks, counts / counts.sum(), label=f"{name} (slope {zipf_slope(counts):.2f})")
    top = ax.get_xlim()[1]
    ref = np.array([1, top])
    ax.loglog(ref, 0.1 / ref, "k--", linewidth=1, label="Zipf: frequency ∝ 1/rank")
    ax.set_xlabel("rank of token (1 = most frequent)")
    ax.set_ylabel("relative frequency")
    ax.set_title("Token frequency against rank")
    ax.legend()
    return ax


def plot_top_tokens(tokens: Iterable[str], k: int = 20, ax=None, title: str = ""):
    """A bar chart of the `k` most frequent tokens."""
    ax = _axes(ax)
    common = collections.Counter(tokens).most_common(k)
    labels = [repr(t)[1:-1] if t.isspace() or not t else t for t, _ in common]
    ax.bar(range(len(common)), [c for _, c in common])
    ax.set_xticks(range(len(common)), labels, rotation=60, ha="right")
    ax.set_ylabel("count")
    ax.set_title(title or f"The {k} most frequent tokens")
    return ax


def plot_learning_curve(history, baselines: Mapping[str, float] | None = None, ax=None, title: str = ""):
    """Train and validation perplexity against optimisation steps, with baselines as lines (notebook 02, section 7).

    Args:
        history: an `rnn_course.training.LMHistory` (or anything with `steps`,
            `train_perplexity` and `valid_perplexity` lists).
        baselines: `{label: perplexity}` drawn as dashed horizontal lines, e.g. the
            n-gram model's perplexity on the same validation events.
        ax: the axes to draw on (a new figure if None).
        title: the axes title.
    """
    ax = _axes(ax)
    steps = np.asarray(history.steps, dtype=float)
    train = np.asarray(history.train_perplexity, dtype=float)
    valid = np.asarray(history.valid_perplexity, dtype=float)
    if np.isfinite(train).any():
        ax.plot(steps[np.isfinite(train)], train[np.isfinite(train)], "o-", label="train (steps since last point)")
    if np.isfinite(valid).any():
        ax.plot(steps[np.isfinite(valid)], valid[np.isfinite(valid)], "s-", label="validation")
    for i, (label, value) in enumerate((baselines or {}).items()):
        ax.axhline(value, linestyle="--", linewidth=1.2, color=f"C{i + 2}", label=f"{label}: {value:.2f}")
    ax.set_yscale("log")
    from matplotlib.ticker import FuncFormatter

    def label(y, _pos, minor=False):  # plain numbers; among minor ticks only 2x and 5x powers of 10
        if y <= 0:
            return ""
        lead = round(y / 10 ** np.floor(np.log10(y)))
        return f"{y:g}" if not minor or lead in (2, 5) else ""

    ax.yaxis.set_major_formatter(FuncFormatter(label))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda y, pos: label(y, pos, minor=True)))
    ax.set_xlabel("training step")
    ax.set_ylabel("perplexity (log scale)")
    ax.set_title(title or "Learning curve")
    ax.legend()
    return ax
