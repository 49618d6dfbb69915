"""Training and perplexity for the course's language models (notebook 02 onwards).

A language model is trained to minimise the cross-entropy of the next token,
averaged over every predicted position, and evaluated by perplexity, the
exponential of that average (CS224N: `perplexity = exp(J(θ))`):

    J(θ) = (1 / T) Σ_t -log ŷ(t)[x(t+1)]        perplexity = exp(J(θ))

Positions whose target is `<pad>` (id 0) are not predictions: they are left out
of both the sum and the count `T`. Everything here is written with `keras.ops`,
so it runs on every Keras backend:

| name                      | what it is                                                        |
|---------------------------|-------------------------------------------------------------------|
| `token_nll`               | `-log ŷ(t)[target]` at every position, and the 0/1 padding mask   |
| `sequence_loss`           | the masked mean of `token_nll` (a float tensor)                   |
| `MaskedSequenceLoss`      | the same as a `keras.losses.Loss`, for `model.compile`            |
| `Perplexity`              | a `keras.metrics.Metric`: exp(total NLL / total tokens), exact     |
| `fit_lm`                  | `model.fit` for `(inputs, targets)` windows, by steps, with a      |
|                           | progress bar and a learning curve (`LMHistory`)                   |
| `evaluate_perplexity`     | the perplexity of a model on a whole token stream                 |

The loss and the metric take **logits** (the Dense layer's output before the
softmax), as `keras.losses.SparseCategoricalCrossentropy(from_logits=True)` does.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time

import numpy as np

from rnn_course.vocab import PAD_ID

try:  # registration needs Keras; importing this module without it still documents the API
    import keras
    from keras import ops

    _register = keras.saving.register_keras_serializable(package="rnn_course")
except ImportError:  # pragma: no cover - Keras is a hard dependency of the course
    keras = ops = None

    def _register(cls):
        return cls


# ------------------------------------------------------------------ the loss
def token_nll(targets, logits, mask=None, *, pad_id: int = PAD_ID):
    """The negative log-likelihood of each target token, and the mask of real targets.

    Args:
        targets: int tensor `(batch, seq)` of target ids.
        logits: float tensor `(batch, seq, vocab)`, unnormalised scores.
        mask: optional `(batch, seq)` tensor, 1 (or True) where the position
            counts. `None` counts every position whose target is not `pad_id`.
        pad_id: the id of `<pad>`.

    Returns:
        `(nll, mask)`: two float32 tensors of shape `(batch, seq)`; `nll` is 0
        where `mask` is 0.
    """
    logits = ops.convert_to_tensor(logits)
    if logits.dtype != "float32":
        logits = ops.cast(logits, "float32")
    targets = ops.cast(ops.convert_to_tensor(targets), "int32")
    if len(logits.shape) != 3 or len(targets.shape) != 2:
        raise ValueError(
            "Expected targets of shape (batch, seq) and logits of shape (batch, seq, vocab). "
            f"Received targets {tuple(targets.shape)} and logits {tuple(logits.shape)}."
        )
    if mask is None:
        mask = ops.not_equal(targets, pad_id)
    mask = ops.cast(ops.convert_to_tensor(mask), "float32")  # (batch, seq)
    log_probs = ops.log_softmax(logits, axis=-1)  # (batch, seq, vocab)
    safe_targets = ops.where(mask > 0, targets, ops.zeros_like(targets))  # pad ids may be out of range
    picked = ops.take_along_axis(log_probs, ops.expand_dims(safe_targets, -1), axis=-1)  # (batch, seq, 1)
    nll = -ops.squeeze(picked, axis=-1) * mask  # (batch, seq)
    return nll, mask


def sequence_loss(targets, logits, mask=None, *, pad_id: int = PAD_ID):
    """The mean next-token cross-entropy (nats) over the positions that count.

    A batch whose every target is padding has loss 0 (there is nothing to predict).
    """
    nll, mask = token_nll(targets, logits, mask, pad_id=pad_id)
    return ops.sum(nll) / ops.maximum(ops.sum(mask), 1.0)


def perplexity_from_logits(targets, logits, mask=None, *, pad_id: int = PAD_ID) -> float:
    """`exp(sequence_loss(...))` as a Python float."""
    return float(math.exp(float(ops.convert_to_numpy(sequence_loss(targets, logits, mask, pad_id=pad_id)))))


if keras is not None:

    @_register
    class MaskedSequenceLoss(keras.losses.Loss):
        """Next-token cross-entropy from logits, averaged over the non-`<pad>` targets.

        `SparseCategoricalCrossentropy(from_logits=True)` would average over every
        position, padding included; this loss gives each batch the mean over its
        real targets only, so that the loss of a batch is the log of its
        `Perplexity`:

            loss = Σ w·nll / Σ w      over the positions whose target is not `pad_id`

        with `w` the sample weight (1 without one). The targets alone decide what
        counts: a mask that the model propagates (`Embedding(..., mask_zero=True)`,
        `Masking`) is ignored. Keras would otherwise apply it a second time on top
        of the target mask and rescale the mean by `positions / unmasked inputs`,
        which counts the padding twice (with `lm_windows(..., pad_last=True)` the
        last real input is unmasked but its target is `<pad>`).

        Args:
            pad_id: the target id that is not a prediction (`<pad>`, 0).
            name: the loss's name.
            reduction: `"sum_over_batch_size"` (the default), `"mean"` or
                `"mean_with_sample_weight"`: the weighted mean above; `"sum"`:
                `Σ w·nll`; `None` or `"none"`: `w·nll` at every position,
                `(batch, seq)`, 0 at `<pad>` targets.

        Call arguments:
            y_true: int (or integral float) targets `(batch, seq)`.
            y_pred: float logits `(batch, seq, vocab)`.
            sample_weight: optional weights `(batch,)` (one per window) or
                `(batch, seq)` (one per position).

        Returns:
            A float32 scalar (0 when no target counts), or `(batch, seq)` for
            `reduction=None`.

        Raises:
            ValueError: if the shapes are not those above.

        Example:

        >>> model.compile(optimizer="adam", loss=MaskedSequenceLoss(), metrics=[Perplexity()])
        """

        def __init__(self, pad_id: int = PAD_ID, name: str = "masked_sequence_loss", **kwargs):
            kwargs.setdefault("reduction", "sum_over_batch_size")
            super().__init__(name=name, **kwargs)
            self.pad_id = int(pad_id)

        def __call__(self, y_true, y_pred, sample_weight=None):
            # Replaces keras.losses.Loss.__call__, which multiplies by the mask
            # propagated with `y_pred` (rescaled by total / unmasked) after `call`.
            with keras.name_scope(self.name):
                nll, weight = token_nll(y_true, y_pred, pad_id=self.pad_id)  # (batch, seq) each
                if sample_weight is not None:
                    weight = weight * _position_weights(sample_weight, weight)
                weighted = nll * weight
                if self.reduction in (None, "none"):
                    return weighted
                if self.reduction == "sum":
                    return ops.sum(weighted)
                return ops.divide_no_nan(ops.sum(weighted), ops.sum(weight))

        def call(self, y_true, y_pred):
            """`-log ŷ(t)[target]` at every position, `(batch, seq)`, 0 at `<pad>` targets."""
            return token_nll(y_true, y_pred, pad_id=self.pad_id)[0]

        def get_config(self):
            return {**super().get_config(), "pad_id": self.pad_id}

    class _TargetsLogitsLoss(keras.losses.Loss):
        """Wraps a function `loss(targets, logits) -> scalar` for `model.compile`.

        The function does its own masking from the targets, so the mask that the
        model propagates is not applied again (see `MaskedSequenceLoss`), and its
        int32 targets are restored (Keras hands them over as floats).
        """

        def __init__(self, fn, name):
            super().__init__(name=name)
            self.fn = fn

        def __call__(self, y_true, y_pred, sample_weight=None):
            if sample_weight is not None:
                raise ValueError(
                    f"The loss function `{self.name}(targets, logits)` takes no sample weights, but sample "
                    "weights were given. Expected no `sample_weight`, or `loss=None` (MaskedSequenceLoss, "
                    "which weighs each window or position)."
                )
            with keras.name_scope(self.name):
                value = ops.convert_to_tensor(self.fn(ops.cast(y_true, "int32"), y_pred))
            if len(value.shape) != 0:
                raise ValueError(
                    f"The loss function `{self.name}(targets, logits)` must return a scalar (the mean loss over "
                    f"the real targets). Received a tensor of shape {tuple(value.shape)}."
                )
            return value

        def call(self, y_true, y_pred):
            return self.fn(ops.cast(y_true, "int32"), y_pred)


def _position_weights(sample_weight, like):
    """Sample weights `(batch,)` or `(batch, seq)` (or `(batch, 1)`) as float32 `(batch, seq)`, like `like`."""
    weight = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
    try:
        rank = len(weight.shape)
    except ValueError:  # unknown rank: a tf.function traced with relaxed shapes
        rank = None
    if rank not in (None, 1, 2):
        raise ValueError(
            "Expected sample weights of shape (batch,) (one per window) or (batch, seq) (one per position). "
            f"Received shape {tuple(weight.shape)} for targets of shape {tuple(like.shape)}."
        )
    # (batch,) and (batch, 1) become (batch, 1), broadcast along the sequence; (batch, seq) stays.
    weight = ops.reshape(weight, (ops.shape(like)[0], -1))
    return ops.broadcast_to(weight, ops.shape(like))


if keras is not None:

    @_register
    class Perplexity(keras.metrics.Metric):
        """exp(total NLL / number of real targets), accumulated over every batch seen.

        The average is over tokens, not over batches, so the result is exactly the
        perplexity of everything evaluated since the last reset, however the
        batches were cut and padded.

        Args:
            pad_id: targets equal to it are not counted.
            name: the metric's name (it appears in the logs as `perplexity`,
                and `val_perplexity` for validation data).
        """

        def __init__(self, pad_id: int = PAD_ID, name: str = "perplexity", **kwargs):
            super().__init__(name=name, **kwargs)
            self.pad_id = int(pad_id)
            self.total_nll = self.add_variable(shape=(), initializer="zeros", name="total_nll")
            self.count = self.add_variable(shape=(), initializer="zeros", name="count")

        def update_state(self, y_true, y_pred, sample_weight=None):
            nll, mask = token_nll(y_true, y_pred, pad_id=self.pad_id)
            if sample_weight is not None:  # (batch,) or (batch, seq) weights
                weight = _position_weights(sample_weight, mask)
                nll, mask = nll * weight, mask * weight
            self.total_nll.assign_add(ops.cast(ops.sum(nll), self.total_nll.dtype))
            self.count.assign_add(ops.cast(ops.sum(mask), self.count.dtype))

        def result(self):
            return ops.exp(ops.divide_no_nan(self.total_nll, self.count))  # 1 when nothing counted

        def get_config(self):
            return {**super().get_config(), "pad_id": self.pad_id}


# --------------------------------------------------------------- the fit loop
@dataclasses.dataclass
class LMHistory:
    """A learning curve: perplexities against optimisation steps.

    Attributes:
        steps: the step after which each row was measured (0 = before training).
        train_perplexity: over the training batches since the previous row
            (NaN at step 0).
        valid_perplexity: on the whole validation set, at that step (NaN if
            there is none).
        seconds: wall-clock training time up to that row (evaluation excluded, and
            the first step too: it compiles the model).
        tokens_per_step: `batch_size * seq_len`.
        compile_seconds: the first training step's wall time (tracing and compiling
            the train step, then one step), which `seconds` leaves out: a fixed cost
            that would otherwise count against the bigger models in a race.
    """

    steps: list = dataclasses.field(default_factory=list)
    train_perplexity: list = dataclasses.field(default_factory=list)
    valid_perplexity: list = dataclasses.field(default_factory=list)
    seconds: list = dataclasses.field(default_factory=list)
    tokens_per_step: int = 0
    compile_seconds: float = 0.0

    def add(self, step, train, valid, seconds):
        self.steps.append(int(step))
        self.train_perplexity.append(float(train))
        self.valid_perplexity.append(float(valid))
        self.seconds.append(float(seconds))

    @property
    def final_valid_perplexity(self) -> float:
        return self.valid_perplexity[-1] if self.valid_perplexity else float("nan")

    def table(self) -> str:
        """The curve as a fixed-width text table."""
        rows = [f"{'step':>7s} {'train ppl':>10s} {'valid ppl':>10s} {'seconds':>8s}"]
        for s, tr, va, sec in zip(self.steps, self.train_perplexity, self.valid_perplexity, self.seconds):
            rows.append(f"{s:>7d} {tr:>10.2f} {va:>10.2f} {sec:>8.1f}")
        return "\n".join(rows)


def _check_windows(name, data):
    try:
        x, y = data
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a pair (inputs, targets) of int arrays. Received: {type(data).__name__}.") from None
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 2 or x.shape != y.shape or not np.issubdtype(x.dtype, np.integer):
        raise ValueError(
            f"`{name}` must be (inputs, targets), two integer arrays of the same shape (num_windows, seq_len). "
            f"Received shapes {x.shape} and {y.shape}, dtype {x.dtype}. Make them with "
            "`rnn_course.windows.lm_windows(ids, seq_len)`."
        )
    return x.astype("int32"), y.astype("int32")


def _batches(x, y, batch_size, seed):
    """Shuffled batches forever: a new permutation each pass over the windows."""
    rng = np.random.default_rng(seed)
    n = len(x)
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]


if keras is not None:

    class LMProgressBar(keras.callbacks.Callback):
        """A keras `Progbar` over all training steps (not per epoch), showing the loss,
        the training perplexity and the latest validation perplexity.

        Args:
            total_steps: the number of optimisation steps of the whole run, or `None` when a
                time budget decides (the bar then counts steps without an ETA).
            interval: the least number of seconds between two redraws (keeps the
                notebook's stored output small).
        """

        def __init__(self, total_steps: int, interval: float = 2.0):
            super().__init__()
            self.total_steps = None if total_steps is None else int(total_steps)
            self.interval = interval
            self.step = 0
            self.valid = None
            self._logs = {}  # the last epoch's logs, shown when the bar closes

        def on_train_begin(self, logs=None):
            self.bar = keras.utils.Progbar(self.total_steps, interval=self.interval, unit_name="step",
                                           stateful_metrics=["loss", "perplexity", "val_perplexity"])

        def on_train_batch_end(self, batch, logs=None):
            self.step += 1
            logs = logs or {}
            values = [(k, float(logs[k])) for k in ("loss", "perplexity") if k in logs]
            if self.valid is not None:
                values.append(("val_perplexity", self.valid))
            # The last redraw happens in on_epoch_end, once the validation is known.
            self.bar.update(self.step, values, finalize=False)

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if "val_perplexity" in logs:
                self.valid = float(logs["val_perplexity"])
            self._logs = logs
            if self.total_steps is not None and self.step >= self.total_steps:
                self._finish()

        def on_train_end(self, logs=None):  # stopped by a time budget: close the bar where it stands
            if self.total_steps is None or self.step < self.total_steps:
                self._finish()

        def _finish(self):
            values = [(k, float(self._logs[k])) for k in ("loss", "perplexity") if k in self._logs]
            if self.valid is not None:
                values.append(("val_perplexity", self.valid))
            self.bar.update(self.step, values, finalize=True)

    class _Recorder(keras.callbacks.Callback):
        def __init__(self, history: LMHistory, eval_every: int, time_budget: float | None = None):
            super().__init__()
            self.history, self.eval_every, self.time_budget = history, eval_every, time_budget
            self.train_seconds = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch, self._start = epoch, time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            if self._epoch == 0 and batch == 0:
                self._first = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if self._epoch == 0 and batch == 0:  # the first step compiles the train step: not counted
                self.history.compile_seconds = time.perf_counter() - self._first
                self.train_seconds -= self.history.compile_seconds

        def on_test_begin(self, logs=None):  # validation runs inside the epoch: stop the clock
            self.train_seconds += time.perf_counter() - self._start

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if "val_perplexity" not in logs:
                self.train_seconds += time.perf_counter() - self._start
            self.history.add((epoch + 1) * self.eval_every, logs.get("perplexity", float("nan")),
                             logs.get("val_perplexity", float("nan")), self.train_seconds)
            if self.time_budget is not None and self.train_seconds >= self.time_budget:
                self.model.stop_training = True  # checked between evaluations, so every row is a whole interval


def compile_lm(model, *, learning_rate: float = 2e-3, clipnorm: float | None = 1.0, loss=None,
               pad_id: int = PAD_ID):
    """Compiles a language model with Adam, a masked sequence loss and `Perplexity`.

    Args:
        model: a Keras model mapping `(batch, seq)` ids to `(batch, seq, vocab)` logits.
        learning_rate: Adam's step size.
        clipnorm: clip the gradient to this global norm (`None`: no clipping).
            RNNs can produce exploding gradients; notebook 03 explains why clipping helps.
        loss: `None` for `MaskedSequenceLoss`, or a function `loss(targets, logits)`
            returning the scalar mean loss, written with `keras.ops` (e.g. yours from
            exercise 2.4). Your function sees the targets as int32 and masks the
            padding itself; it takes no sample weights.
        pad_id: the target id that is not a prediction.

    The loss is the mean over the real (non-`pad_id`) targets whether or not the
    model propagates a mask (`Embedding(..., mask_zero=True)`): Keras's own
    mask weighting is not applied on top of it, so the logged loss of a batch
    is the log of its perplexity. `Perplexity` is compiled as a weighted metric:
    sample weights given to `fit`/`evaluate` weigh it as they weigh the loss.

    Raises:
        ValueError: if `loss` is neither `None`, a Keras loss nor a function;
            when training, if such a function returns a non-scalar or sample
            weights are given to it.
    """
    if loss is None:
        loss = MaskedSequenceLoss(pad_id=pad_id)
    elif not isinstance(loss, keras.losses.Loss):
        if not callable(loss):
            raise ValueError(f"`loss` must be None, a keras Loss or a function (targets, logits) -> scalar. "
                             f"Received: {loss!r}")
        name = re.sub(r"\W", "_", getattr(loss, "__name__", "loss")).strip("_") or "loss"  # "<lambda>" -> "lambda"
        loss = _TargetsLogitsLoss(loss, name=name)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clipnorm)
    # A weighted metric, so that sample weights weigh the perplexity as they weigh the loss.
    model.compile(optimizer=optimizer, loss=loss, weighted_metrics=[Perplexity(pad_id=pad_id)])
    return model


def fit_lm(model, train, valid=None, *, steps: int, batch_size: int = 32, eval_every: int | None = None,
           learning_rate: float = 2e-3, clipnorm: float | None = 1.0, loss=None, seed: int = 0, compile: bool = True,
           progress: bool = True, interval: float = 2.0, eval_batch_size: int | None = None,
           time_budget: float | None = None) -> LMHistory:
    """Trains a language model for a number of steps with `model.fit`; returns its learning curve.

    The training windows are shuffled and batched forever (teacher forcing: the
    model reads the true previous tokens, whatever it predicted). Every
    `eval_every` steps, Keras evaluates the whole `valid` set; the curve records
    the training perplexity of the steps since the last evaluation and the
    validation perplexity.

    Args:
        model: maps `(batch, seq)` int ids to `(batch, seq, vocab)` logits.
        train: `(inputs, targets)`, int arrays `(num_windows, seq_len)`
            (`rnn_course.windows.lm_windows`).
        valid: the same for validation, or `None`.
        steps: the number of optimisation steps (batches).
        batch_size: windows per step.
        eval_every: steps between two evaluations (default: `steps // 10`).
        learning_rate, clipnorm, loss: see `compile_lm` (ignored if `compile=False`).
        seed: the seed of the batch order.
        compile: compile the model with `compile_lm`; `False` keeps your own compile.
        progress: show a keras progress bar over the whole run.
        interval: seconds between two redraws of the progress bar.
        eval_batch_size: batch size for validation (default: `2 * batch_size`).
        time_budget: seconds of training (evaluation excluded) after which to stop, or `None`
            to run all `steps`. The budget is checked after each evaluation, so training
            stops at the first evaluation at or past it and every row of the curve covers
            `eval_every` steps; `steps` is then the most that may run. Notebook 06 gives every
            model the same wall-clock budget, so a slower machine trains less, not longer.

    Returns:
        An `LMHistory`, whose first row (step 0) is the untrained model.

    Raises:
        ValueError: bad `steps`, `eval_every`, `batch_size` or `time_budget`, or windows
            that are not `(inputs, targets)` int arrays of one shape.
    """
    x, y = _check_windows("train", train)
    if len(x) < batch_size:
        raise ValueError(f"`train` has {len(x)} windows, fewer than batch_size={batch_size}. "
                         "Expected at least one full batch: use a smaller batch_size or more data.")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"`steps` must be a positive integer. Received: steps={steps!r}")
    eval_every = int(eval_every or max(1, steps // 10))
    if eval_every < 1 or steps % eval_every:
        raise ValueError(f"`steps` must be a multiple of `eval_every`. Received steps={steps}, eval_every={eval_every}.")
    if time_budget is not None and not (isinstance(time_budget, (int, float, np.integer, np.floating))
                                        and math.isfinite(time_budget) and time_budget > 0):
        raise ValueError(f"`time_budget` must be None or a positive number of seconds. Received: time_budget={time_budget!r}")
    validation = _check_windows("valid", valid) if valid is not None else None
    eval_batch_size = eval_batch_size or 2 * batch_size
    if validation is not None and len(validation[0]) % eval_batch_size:
        # Whole batches only: data parallelism splits each batch evenly over the devices. The added
        # windows are all padding, which the loss and the perplexity leave out.
        extra = eval_batch_size - len(validation[0]) % eval_batch_size
        validation = tuple(np.concatenate([a, np.full((extra, a.shape[1]), PAD_ID, a.dtype)]) for a in validation)
    if compile:
        compile_lm(model, learning_rate=learning_rate, clipnorm=clipnorm, loss=loss)
    history = LMHistory(tokens_per_step=int(batch_size * x.shape[1]))
    before = (model.evaluate(*validation, batch_size=eval_batch_size, verbose=0, return_dict=True)
              if validation is not None else {})
    history.add(0, float("nan"), before.get("perplexity", float("nan")), 0.0)
    callbacks = [_Recorder(history, eval_every, None if time_budget is None else float(time_budget))]
    if progress:
        callbacks.append(LMProgressBar(None if time_budget is not None else steps, interval=interval))
    model.fit(_batches(x, y, batch_size, seed), steps_per_epoch=eval_every, epochs=steps // eval_every,
              validation_data=validation, validation_batch_size=eval_batch_size, callbacks=callbacks, verbose=0,
              shuffle=False)  # the generator shuffles the windows itself
    return history


def evaluate_perplexity(model, ids, *, seq_len: int = 256, batch_size: int = 16) -> float:
    """The perplexity of `model` on a whole encoded stream: it predicts `ids[1:]` from `ids[:-1]`.

    The stream is cut into windows of `seq_len` (the last one padded, and the
    padding masked out), each read from a zero initial state. Every target is
    counted exactly once.
    """
    from rnn_course.windows import lm_windows

    x, y = lm_windows(np.asarray(ids), seq_len, pad_last=True)
    total, count = 0.0, 0.0
    for start in range(0, len(x), batch_size):
        logits = model(x[start:start + batch_size], training=False)  # (batch, seq, vocab)
        nll, mask = token_nll(y[start:start + batch_size], logits)
        total += float(ops.convert_to_numpy(ops.sum(nll)))
        count += float(ops.convert_to_numpy(ops.sum(mask)))
    return math.exp(total / count)
