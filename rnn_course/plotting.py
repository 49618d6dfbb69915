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


# ------------------------------------------------------------------ notebook 03: gradients through time
def plot_gradient_norms_by_distance(curves: Mapping[str, np.ndarray], ax=None, title: str = ""):
    """‖∂J(T)/∂h(t)‖ against the distance T - t, log scale, one line per named RNN (notebook 03, section 2).

    Args:
        curves: `{label: norms}`, each `norms` of shape `(T,)` as returned by
            `rnn_course.gradients.hidden_state_gradient_norms` (entry t-1 is step t, so the last
            entry is at distance 0). Zeros and non-finite values are left out of a line (a log
            axis cannot show them), and the legend says how many.
        ax: the axes to draw on (a new figure if None).
        title: the axes title.
    """
    ax = _axes(ax)
    for i, (label, norms) in enumerate(curves.items()):
        norms = np.asarray(norms, dtype=np.float64)
        distance = np.arange(norms.size)[::-1]  # T - t for t = 1..T
        ok = np.isfinite(norms) & (norms > 0)
        missing = int(norms.size - ok.sum())
        style = "--" if i >= 10 else "-"
        ax.semilogy(distance[ok], norms[ok], style, label=label + (f" ({missing} points 0 or not finite)" if missing else ""))
    ax.set_xlabel("distance T − t (steps back from the loss)")
    ax.set_ylabel("‖∂J(T)/∂h(t)‖ (log scale)")
    ax.set_title(title or "How much the loss at step T depends on the state t steps earlier")
    ax.legend(fontsize=8)
    return ax


def plot_linear_powers(lengths, curves: Mapping[str, np.ndarray], rates: Mapping[str, float] | None = None, ax=None):
    """‖g W^ℓ‖ against ℓ, log scale, one line per named matrix, with the rate ρ^ℓ predicted for each dashed.

    Args:
        lengths: the ℓ values, shape `(L,)`.
        curves: `{label: norms}`, each of shape `(L,)`.
        rates: `{label: ρ}` for the same labels: a dashed line ρ^ℓ scaled to meet the curve at its last ℓ.
        ax: the axes to draw on (a new figure if None).
    """
    ax = _axes(ax)
    lengths = np.asarray(lengths, dtype=np.float64)
    for i, (label, norms) in enumerate(curves.items()):
        norms = np.asarray(norms, dtype=np.float64)
        ax.semilogy(lengths, norms, "-", color=f"C{i}", label=label)
        if rates and label in rates:
            rho = float(rates[label])
            ax.semilogy(lengths, norms[-1] * rho ** (lengths - lengths[-1]), "--", color=f"C{i}", linewidth=1,
                        label=f"ρ^ℓ, ρ = {rho:.3g}")
    ax.set_xlabel("ℓ (steps the gradient travels back)")
    ax.set_ylabel("‖g W_h^ℓ‖ (log scale)")
    ax.set_title("The linear case: the spectral radius sets the rate")
    ax.legend(fontsize=8)
    return ax


def plot_cliff(w_grid, b_grid, loss, paths: Mapping[str, np.ndarray], *, log_loss: bool = True):
    """The loss surface of the one-hidden-unit RNN over (w, b) with gradient-descent paths on it (notebook 03).

    Left: the surface in 3-D, the paths drawn on it at their own loss. Right: the same from above
    (filled contours), where the jumps of each path are easy to follow.

    Args:
        w_grid, b_grid, loss: 2-D arrays of one shape (`np.meshgrid` order), e.g. from
            `rnn_course.gradients.cliff_loss`.
        paths: `{label: path}`, each path a `(n, 3)` array of (w, b, loss), e.g. from
            `rnn_course.gradients.descend`. The start is marked with a circle, the end with a cross.
        log_loss: plot log10(loss) (the wall is many orders of magnitude high).

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    def z(values):
        values = np.asarray(values, dtype=np.float64)
        return np.log10(np.maximum(values, 1e-6)) if log_loss else values

    fig = plt.figure(figsize=(12, 5))
    ax3 = fig.add_subplot(1, 2, 1, projection="3d")
    ax3.plot_surface(w_grid, b_grid, z(loss), cmap="viridis", alpha=0.55, linewidth=0, antialiased=True)
    ax2 = fig.add_subplot(1, 2, 2)
    filled = ax2.contourf(w_grid, b_grid, z(loss), levels=30, cmap="viridis")
    fig.colorbar(filled, ax=ax2, label="log10 loss" if log_loss else "loss")
    colours = ("red", "black", "orange", "cyan")
    for i, (label, path) in enumerate(paths.items()):
        path = np.asarray(path, dtype=np.float64)
        c = colours[i % len(colours)]
        ax3.plot(path[:, 0], path[:, 1], z(path[:, 2]) + 0.02, "-", color=c, linewidth=2, label=label)
        ax3.scatter(path[:, 0], path[:, 1], z(path[:, 2]) + 0.02, color=c, s=8)
        ax2.plot(path[:, 0], path[:, 1], ".-", color=c, linewidth=1.5, markersize=4, label=label)
        ax2.plot(path[0, 0], path[0, 1], "o", color=c, markersize=9, markeredgecolor="black")
        ax2.plot(path[-1, 0], path[-1, 1], "X", color=c, markersize=10, markeredgecolor="black")
    ax2.set_xlim(np.min(w_grid), np.max(w_grid))
    ax2.set_ylim(np.min(b_grid), np.max(b_grid))
    for ax in (ax3, ax2):
        ax.set_xlabel("w (recurrent weight)")
        ax.set_ylabel("b (bias)")
    ax3.set_zlabel("log10 loss" if log_loss else "loss")
    ax3.set_title("The loss surface, with the wall")
    ax2.set_title("From above: ○ start, ✕ end")
    ax2.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def plot_training_with_gradient_norms(runs: Mapping[str, object], threshold: float | None = None):
    """Loss and global gradient norm (before clipping) against step, one colour per run (notebook 03, section 4).

    Args:
        runs: `{label: log}`, each log an `rnn_course.gradients.StepLog` (`loss`,
            `gradient_norm`, `stopped_at`). A run that stopped at a non-finite loss ends with a
            red cross on each panel at that step, at the top of the axes: nothing non-finite is
            plotted as a value.
        threshold: the clipping threshold, drawn as a dashed line on the norm panel.

    Returns:
        The matplotlib figure.
    """
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_norm) = plt.subplots(1, 2, figsize=(12, 4))
    for i, (label, log) in enumerate(runs.items()):
        for ax, values in ((ax_loss, log.loss), (ax_norm, log.gradient_norm)):
            values = np.asarray(values, dtype=np.float64)
            steps = np.arange(values.size)
            ok = np.isfinite(values)
            ax.semilogy(steps[ok], values[ok], "-", color=f"C{i}", linewidth=1, label=label)
    for ax in (ax_loss, ax_norm):  # the non-finite markers, once the axes' range is known
        top = ax.get_ylim()[1]
        for i, (label, log) in enumerate(runs.items()):
            if getattr(log, "stopped_at", None) is not None:
                ax.plot([log.stopped_at], [top], "X", color="red", markersize=12, clip_on=False,
                        label=f"{label}: loss not finite at step {log.stopped_at}")
        ax.set_ylim(top=top)
    if threshold is not None:
        ax_norm.axhline(threshold, linestyle="--", color="black", linewidth=1, label=f"clipping threshold {threshold:g}")
    ax_loss.set_ylabel("training loss (log scale)")
    ax_norm.set_ylabel("global gradient norm before clipping (log scale)")
    for ax in (ax_loss, ax_norm):
        ax.set_xlabel("training step")
        ax.legend(fontsize=8)
    ax_loss.set_title("Loss")
    ax_norm.set_title("‖g‖ = sqrt(Σ ‖g_i‖²), before clipping")
    fig.tight_layout()
    return fig
