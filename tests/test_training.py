"""Training and perplexity helpers (rnn_course.training), generation steps and the learning-curve plot."""

import itertools
import math

import keras
import numpy as np
import pytest
from keras import ops

from rnn_course import generation, plotting, training
from rnn_course.windows import lm_windows


def nll_numpy(targets, logits):
    z = logits.astype(np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
    return -np.take_along_axis(logp, targets[..., None], -1)[..., 0]


def padded_case(seed=0, batch=3, steps=6, vocab=9):
    rng = np.random.default_rng(seed)
    targets = rng.integers(1, vocab, size=(batch, steps)).astype("int32")
    targets[0, 3:] = 0
    targets[-1, 1:] = 0
    logits = rng.normal(scale=2.0, size=(batch, steps, vocab)).astype("float32")
    return targets, logits


def tiny_lm(vocab=12, units=8, cell=None, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(vocab, 6),
        keras.layers.RNN(cell or keras.layers.SimpleRNNCell(units), return_sequences=True),
        keras.layers.Dense(vocab),
    ])


def test_sequence_loss_averages_only_the_real_targets():
    targets, logits = padded_case()
    mask = targets != 0
    expected = nll_numpy(targets, logits)[mask].mean()
    assert float(training.sequence_loss(targets, logits)) == pytest.approx(expected, abs=1e-5)
    nll, got_mask = training.token_nll(targets, logits)
    np.testing.assert_array_equal(ops.convert_to_numpy(got_mask), mask.astype("float32"))
    assert np.all(ops.convert_to_numpy(nll)[~mask] == 0)
    assert training.perplexity_from_logits(targets, logits) == pytest.approx(math.exp(expected), rel=1e-5)
    assert float(training.sequence_loss(np.zeros_like(targets), logits)) == 0.0  # nothing to predict
    with pytest.raises(ValueError, match=r"Received targets \(3, 6\) and logits \(3, 6\)"):
        training.token_nll(targets, logits[..., 0])


def test_masked_loss_is_the_token_mean_and_serialises():
    targets, logits = padded_case(seed=1)
    loss = training.MaskedSequenceLoss()
    assert float(loss(targets, logits)) == pytest.approx(nll_numpy(targets, logits)[targets != 0].mean(), abs=1e-5)
    clone = keras.losses.deserialize(keras.losses.serialize(training.MaskedSequenceLoss(pad_id=3)))
    assert isinstance(clone, training.MaskedSequenceLoss) and clone.pad_id == 3


def masked_lm(mask_zero, vocab=12, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((None,), dtype="int32"),
        keras.layers.Embedding(vocab, 6, mask_zero=mask_zero),
        keras.layers.RNN(keras.layers.SimpleRNNCell(8), return_sequences=True),
        keras.layers.Dense(vocab),
    ])


def window_weights(kind, targets):
    """Sample weights of one kind for `targets` (None, per window, per position, tiny per window)."""
    rng = np.random.default_rng(11)
    return {"none": None,
            "window": np.array([1.0, 0.5, 2.0, 0.0, 1.0, 3.0, 0.25], "float32")[:len(targets)],
            "position": rng.uniform(0.0, 2.0, size=targets.shape).astype("float32"),
            "tiny": np.full(len(targets), 0.004, "float32")}[kind]  # the weights of all real targets sum to < 1


@pytest.mark.parametrize("mask_zero", [True, False], ids=["mask_zero", "no_mask"])
def test_compiled_loss_is_the_mean_over_the_real_targets_whatever_the_mask(mask_zero):
    # A 40-id stream cut into windows of 6 with the last one padded: 7 windows, 42 positions, 40 real
    # inputs (mask_zero's mask) but 39 real targets. Keras used to rescale the loss by its mask, 42/40:
    # loss 2.6110 where the mean over the real targets is 2.4867 (TF, this seed; the 2.6745 vs 2.5471).
    model = training.compile_lm(masked_lm(mask_zero))  # one model for every case: each new signature recompiles
    for padded, weights in itertools.product([True, False], ["none", "window", "position", "tiny"]):
        case = f"padded={padded}, weights={weights}"
        ids = np.random.default_rng(0).integers(1, 12, size=40 if padded else 43)
        x, y = lm_windows(ids, 6, pad_last=padded)
        assert x.shape == (7, 6) and int((y != 0).sum()) == (39 if padded else 42)
        nll = nll_numpy(y, ops.convert_to_numpy(model(x)))
        sample_weight = window_weights(weights, y)
        w = np.ones(y.shape) if sample_weight is None else np.broadcast_to(sample_weight.reshape(len(y), -1), y.shape)
        w = w * (y != 0)
        expected = (nll * w).sum() / w.sum()  # float64 numpy: the weighted mean NLL over the real targets
        logs = model.evaluate(x, y, sample_weight=sample_weight, batch_size=len(x), verbose=0, return_dict=True)
        assert logs["loss"] == pytest.approx(expected, abs=1e-5), case
        assert math.log(logs["perplexity"]) == pytest.approx(expected, abs=1e-5), case  # loss = log(perplexity)
        trained = model.train_on_batch(x, y, sample_weight=sample_weight, return_dict=True)  # the loss it descends
        assert trained["loss"] == pytest.approx(expected, abs=1e-5), case


def test_a_loss_function_is_not_rescaled_by_the_mask_and_refuses_what_it_cannot_do():
    ids = np.random.default_rng(0).integers(1, 12, size=40)
    x, y = lm_windows(ids, 6, pad_last=True)
    model = training.compile_lm(masked_lm(True), loss=training.sequence_loss)
    nll = nll_numpy(y, ops.convert_to_numpy(model(x)))
    logs = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)
    assert logs["loss"] == pytest.approx(nll[y != 0].mean(), abs=1e-5)
    with pytest.raises(ValueError, match=r"`sequence_loss\(targets, logits\)` takes no sample weights"):
        model.evaluate(x, y, sample_weight=np.ones(len(x)), batch_size=len(x), verbose=0)
    per_position = training.compile_lm(masked_lm(False), loss=lambda t, z: training.token_nll(t, z)[0])
    with pytest.raises(ValueError, match=r"`lambda\(targets, logits\)` must return a scalar .* shape \(7, 6\)"):
        per_position.evaluate(x, y, batch_size=len(x), verbose=0)


def test_masked_loss_reductions_and_sample_weight_shapes():
    targets, logits = padded_case(seed=4)
    nll, real = nll_numpy(targets, logits), targets != 0
    w = np.array([2.0, 0.5, 1.0], "float32")
    W = w[:, None] * real
    assert float(training.MaskedSequenceLoss()(targets, logits, w)) == pytest.approx((nll * W).sum() / W.sum(), abs=1e-5)
    assert float(training.MaskedSequenceLoss()(targets, logits, w[:, None])) == pytest.approx(
        (nll * W).sum() / W.sum(), abs=1e-5)  # (batch, 1) is one weight per window too
    assert float(training.MaskedSequenceLoss(reduction="sum")(targets, logits, w)) == pytest.approx((nll * W).sum(), rel=1e-5)
    none = ops.convert_to_numpy(training.MaskedSequenceLoss(reduction=None)(targets, logits, w))
    np.testing.assert_allclose(none, nll * W, rtol=1e-5, atol=1e-6)
    assert float(training.MaskedSequenceLoss()(targets, logits, np.zeros(3))) == 0.0  # nothing counts
    with pytest.raises(ValueError, match=r"\(batch,\) .* or \(batch, seq\) .* Received shape \(3, 6, 1, 1\)"):
        training.MaskedSequenceLoss()(targets, logits, np.ones((3, 6, 1, 1)))


def test_perplexity_metric_weighs_every_token_alike_across_batches():
    (t1, z1), (t2, z2) = padded_case(seed=2), padded_case(seed=3, batch=2, steps=6)
    metric = training.Perplexity()
    metric.update_state(t1, z1)
    metric.update_state(t2, z2)
    all_nll = np.concatenate([nll_numpy(t1, z1)[t1 != 0], nll_numpy(t2, z2)[t2 != 0]])
    assert float(metric.result()) == pytest.approx(math.exp(all_nll.mean()), rel=1e-5)
    metric.reset_state()
    metric.update_state(t1, np.zeros_like(z1))
    assert float(metric.result()) == pytest.approx(9.0, rel=1e-5)  # uniform logits: V
    assert training.Perplexity.from_config(training.Perplexity(pad_id=2).get_config()).pad_id == 2


def test_fit_lm_learns_a_repeating_stream_and_records_its_curve(capsys):
    ids = np.tile(np.arange(4, 12), 200)  # a deterministic cycle: perfectly predictable
    train = lm_windows(ids, 16)
    valid = lm_windows(ids[:300], 16, pad_last=True)
    model = tiny_lm()
    history = training.fit_lm(model, train, valid, steps=40, batch_size=8, eval_every=10, learning_rate=1e-2,
                              interval=0.0)
    out = capsys.readouterr()
    assert history.steps == [0, 10, 20, 30, 40]
    assert math.isnan(history.train_perplexity[0]) and history.valid_perplexity[0] > 8
    assert history.valid_perplexity[-1] < 2.0 < history.valid_perplexity[0]
    assert history.tokens_per_step == 8 * 16 and history.seconds == sorted(history.seconds)
    assert "40/40" in out.out and "val_perplexity" in out.out and out.err == ""
    assert "valid ppl" in history.table().splitlines()[0] and len(history.table().splitlines()) == 6
    exact = training.evaluate_perplexity(model, ids[:300], seq_len=16)
    assert exact == pytest.approx(history.valid_perplexity[-1], rel=1e-3)  # the same events, the same number


def test_fit_lm_accepts_a_loss_function_of_int_targets():
    seen = {}

    def my_loss(targets, logits):
        seen["dtype"] = str(targets.dtype)
        return training.sequence_loss(targets, logits)

    ids = np.tile(np.arange(4, 10), 60)
    history = training.fit_lm(tiny_lm(), lm_windows(ids, 8), steps=4, batch_size=4, eval_every=2,
                              loss=my_loss, progress=False)
    assert "int32" in seen["dtype"] and len(history.steps) == 3


def test_evaluate_perplexity_counts_each_target_once():
    ids = np.random.default_rng(5).integers(1, 12, size=53)
    model = tiny_lm(seed=3)
    logits = ops.convert_to_numpy(model(ids[None, :-1]))  # one window: every target of the stream
    one_window = math.exp(nll_numpy(ids[None, 1:], logits).mean())
    assert training.evaluate_perplexity(model, ids, seq_len=52) == pytest.approx(one_window, rel=1e-4)
    # Windows of 10 (each from a zero state); the last one holds 2 targets and 8 padded steps.
    nll = [nll_numpy(ids[None, s + 1:s + 11], ops.convert_to_numpy(model(ids[None, s:s + 10][:, :len(ids) - 1 - s])))
           for s in range(0, 52, 10)]
    per_window = math.exp(np.concatenate([n.ravel() for n in nll]).mean())
    assert sum(n.size for n in nll) == 52
    assert training.evaluate_perplexity(model, ids, seq_len=10, batch_size=2) == pytest.approx(per_window, rel=1e-4)


def test_fit_lm_stops_at_the_first_evaluation_past_its_time_budget(capsys, monkeypatch):
    clock = iter(np.arange(0.0, 1000.0, 0.5))  # each reading of the clock is 0.5 s later
    monkeypatch.setattr(training.time, "perf_counter", lambda: float(next(clock)))
    ids = np.tile(np.arange(4, 12), 50)
    history = training.fit_lm(tiny_lm(), lm_windows(ids, 8), lm_windows(ids[:100], 8), steps=40, batch_size=4,
                              eval_every=2, time_budget=1.7, interval=0.0)
    # Readings: the first interval starts at 0, its first step at 0.5 and ends at 1.0 (0.5 s of compiling, not
    # counted), its validation starts at 1.5: 1.0 s. Every later interval reads the clock twice: 0.5 s each.
    # 1.0 and 1.5 s are under the budget, 2.0 s is past it: three intervals of two steps run, not twenty.
    assert history.steps == [0, 2, 4, 6] and history.seconds == [0.0, 1.0, 1.5, 2.0]
    assert history.compile_seconds == 0.5
    out = capsys.readouterr()
    assert "6/Unknown" in out.out and out.err == ""  # steps without an ETA, closed where training stopped


@pytest.mark.parametrize("kwargs, match", [
    ({"train": (np.zeros((4, 5)), np.zeros((4, 5)))}, "integer arrays"),
    ({"time_budget": 0}, "positive number of seconds"),
    ({"time_budget": float("nan")}, "positive number of seconds"),
    ({"train": (np.zeros((4, 5), int), np.zeros((4, 6), int))}, "same shape"),
    ({"steps": 10, "eval_every": 3}, "multiple of `eval_every`"),
    ({"batch_size": 1000}, "fewer than batch_size"),
    ({"steps": 0}, "positive integer"),
])
def test_fit_lm_explains_bad_arguments(kwargs, match):
    args = {"train": lm_windows(np.arange(1, 200), 10), "steps": 4, "batch_size": 4, "progress": False}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        training.fit_lm(tiny_lm(), args.pop("train"), **args)


@pytest.mark.parametrize("cell", ["simple", "lstm"])
def test_rnn_lm_step_reproduces_the_full_forward_pass(cell):
    model = tiny_lm(cell=keras.layers.LSTMCell(8) if cell == "lstm" else None, seed=4)
    ids = np.array([[3, 7, 1, 9, 4]], "int32")
    full = ops.convert_to_numpy(model(ids))[0]  # (5, V)
    step, state = generation.rnn_lm_step(model)
    for t, token in enumerate(ids[0]):
        logits, state = step(np.array([token]), state)  # (1, V)
        np.testing.assert_allclose(logits[0], full[t], atol=1e-5)


def test_rnn_lm_step_rejects_models_it_cannot_step():
    backwards = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(5, 3),
                                  keras.layers.SimpleRNN(4, return_sequences=True, go_backwards=True),
                                  keras.layers.Dense(5)])
    with pytest.raises(ValueError, match="go_backwards"):
        generation.rnn_lm_step(backwards)
    dense_only = keras.Sequential([keras.Input((None,), dtype="int32"), keras.layers.Embedding(5, 3), keras.layers.Dense(5)])
    with pytest.raises(ValueError, match=r"Received layers: \['Embedding', 'Dense'\]"):
        generation.rnn_lm_step(dense_only)


def test_learning_curve_draws_both_curves_and_the_baselines():
    import matplotlib

    matplotlib.use("Agg")
    history = training.LMHistory()
    history.add(0, float("nan"), 60.0, 0.0)
    history.add(100, 12.0, 10.0, 5.0)
    history.add(200, 8.0, 7.5, 10.0)
    ax = plotting.plot_learning_curve(history, baselines={"KN 6-gram": 4.4})
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["train (steps since last point)", "validation", "KN 6-gram: 4.40"]
    assert list(ax.get_lines()[0].get_xdata()) == [100, 200] and ax.get_yscale() == "log"


def test_sample_from_model_follows_the_model_and_is_reproducible():
    model = tiny_lm(seed=6)  # untrained: its distributions are far from one-hot
    first = generation.sample_from_model(model, [3, 5], 6, seed=1)
    assert first.shape == (6,) and first.dtype == np.int32
    np.testing.assert_array_equal(first, generation.sample_from_model(model, [3, 5], 6, seed=1))
    # A tiny temperature is the greedy choice, one argmax of the full forward pass at a time.
    greedy = generation.sample_from_model(model, [3, 5], 4, temperature=1e-7)
    prefix = [3, 5]
    for token in greedy:
        logits = ops.convert_to_numpy(model(np.array([prefix], "int32")))[0, -1]
        assert token == int(np.argmax(logits))
        prefix.append(int(token))


@pytest.mark.parametrize("kwargs, match", [({"prompt_ids": []}, "at least one id"),
                                           ({"num_tokens": 0}, "positive integer"),
                                           ({"temperature": 0.0}, "> 0")])
def test_sample_from_model_explains_bad_arguments(kwargs, match):
    args = {"prompt_ids": [3], "num_tokens": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        generation.sample_from_model(tiny_lm(), args.pop("prompt_ids"), **args)
