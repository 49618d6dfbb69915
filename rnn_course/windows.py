"""Language-model training windows: token ids -> (inputs, targets) shifted by one.

A language model reads tokens x(1..T) and is trained to predict x(2..T+1), so
every window of `seq_len + 1` consecutive ids gives one training example:

    ids      =  [the, cat, sat, on, the, mat, </s>]
    inputs   =  [the, cat, sat]          targets = [cat, sat, on]
    inputs   =  [on,  the, mat]          targets = [the, mat, </s>]

Everything here is numpy, so the arrays feed `model.fit` on every Keras backend.
"""

from __future__ import annotations

import numpy as np

from rnn_course.vocab import PAD_ID


def _as_ids(ids) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(
            f"Expected a 1-D array of integer token ids. Received an array of shape {arr.shape} "
            f"and dtype {arr.dtype}. Encode text first, e.g. `vocab.encode(tokens)`."
        )
    return arr.astype(np.int32, copy=False)


def _check_positive(**kwargs) -> None:
    for name, value in kwargs.items():
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")


def lm_windows(ids, seq_len: int, *, stride: int | None = None, pad_last: bool = False):
    """Cuts a token stream into (inputs, targets) windows, targets shifted by one.

    Args:
        ids: 1-D integer array of token ids (a whole split, e.g. `vocab.encode(stream)`).
        seq_len: the number of time steps per window (the BPTT length).
        stride: how far each window starts after the previous one. Defaults to
            `seq_len` (non-overlapping windows that cover every target once).
        pad_last: keep the final, shorter window, padded with `<pad>` (id 0) in
            both inputs and targets. The padded steps must be masked out of the loss.

    Returns:
        `(inputs, targets)`, two int32 arrays of shape `(num_windows, seq_len)`.

    Example:

    >>> x, y = lm_windows(np.arange(7), seq_len=3)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """
    ids = _as_ids(ids)
    stride = seq_len if stride is None else stride
    _check_positive(seq_len=seq_len, stride=stride)
    if len(ids) < 2:
        raise ValueError(f"Need at least 2 token ids to make one (input, target) pair. Received {len(ids)}.")
    if pad_last:
        # Pad so that the last window starting at a multiple of `stride` is complete.
        n_starts = -(-(len(ids) - 1) // stride)
        needed = (n_starts - 1) * stride + seq_len + 1
        ids = np.concatenate([ids, np.full(max(0, needed - len(ids)), PAD_ID, np.int32)])
    if len(ids) < seq_len + 1:
        raise ValueError(
            f"The stream has {len(ids)} ids, too few for one window of seq_len={seq_len} "
            f"(needs seq_len + 1 = {seq_len + 1}). Use a smaller seq_len or pad_last=True."
        )
    windows = np.lib.stride_tricks.sliding_window_view(ids, seq_len + 1)[::stride]  # (N, seq_len+1)
    return np.ascontiguousarray(windows[:, :-1]), np.ascontiguousarray(windows[:, 1:])


def bptt_batches(ids, batch_size: int, seq_len: int):
    """Arranges a stream for truncated BPTT with the hidden state carried across batches.

    The stream is cut into `batch_size` contiguous rows (as in the classic
    `batchify`), and each row is read `seq_len` steps at a time. Batch `k + 1`
    continues, row by row, exactly where batch `k` stopped, so a stateful RNN can
    carry its state over. Feed the result with `shuffle=False`.

    Returns:
        `(inputs, targets)` of shape `(num_batches * batch_size, seq_len)`, in
        batch order: rows `[k * batch_size, (k + 1) * batch_size)` are batch `k`.
    """
    ids = _as_ids(ids)
    _check_positive(batch_size=batch_size, seq_len=seq_len)
    row_len = (len(ids) - 1) // batch_size
    num_batches = row_len // seq_len
    if num_batches == 0:
        raise ValueError(
            f"The stream has {len(ids)} ids: too few for batch_size={batch_size} x seq_len={seq_len} "
            f"(needs at least {batch_size * seq_len + 1})."
        )
    usable = num_batches * seq_len
    x = ids[: batch_size * row_len].reshape(batch_size, row_len)[:, :usable]  # (B, T_row)
    y = ids[1: batch_size * row_len + 1].reshape(batch_size, row_len)[:, :usable]
    # (B, num_batches, seq_len) -> (num_batches, B, seq_len) -> (num_batches * B, seq_len)
    def arrange(a):
        return np.ascontiguousarray(
            a.reshape(batch_size, num_batches, seq_len).transpose(1, 0, 2).reshape(-1, seq_len)
        )
    return arrange(x), arrange(y)
