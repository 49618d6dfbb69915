import numpy as np
import pytest

from rnn_course.windows import bptt_batches, lm_windows


def test_targets_are_inputs_shifted_by_one():
    ids = np.arange(100, 123)
    x, y = lm_windows(ids, seq_len=5)
    assert x.shape == y.shape == (4, 5)
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])
    np.testing.assert_array_equal(x.reshape(-1), ids[:20])
    np.testing.assert_array_equal(y.reshape(-1), ids[1:21])
    assert x.dtype == np.int32


def test_stride_gives_overlapping_windows():
    x, y = lm_windows(np.arange(10), seq_len=4, stride=2)
    assert x[:, 0].tolist() == [0, 2, 4]
    assert y[-1].tolist() == [5, 6, 7, 8]


def test_pad_last_keeps_every_target_and_pads_with_zero():
    ids = np.arange(1, 12)  # 11 ids -> 10 targets
    x, y = lm_windows(ids, seq_len=4, pad_last=True)
    assert x.shape == (3, 4)
    assert sorted(y[y != 0].tolist()) == list(range(2, 12))
    assert y[-1].tolist() == [10, 11, 0, 0]


def test_bptt_batches_continue_row_by_row():
    ids = np.arange(1000)
    batch, seq = 4, 7
    x, y = bptt_batches(ids, batch_size=batch, seq_len=seq)
    assert x.shape[0] % batch == 0 and x.shape[1] == seq
    np.testing.assert_array_equal(y, x + 1)  # the stream is arange, so the shift is +1
    first, second = x[:batch], x[batch:2 * batch]
    np.testing.assert_array_equal(second[:, 0], first[:, -1] + 1)  # row r of batch k+1 follows row r of batch k
    assert len(np.unique(x)) == x.size  # every input position used once


@pytest.mark.parametrize("call, match", [
    (lambda: lm_windows(np.arange(10), seq_len=0), "seq_len"),
    (lambda: lm_windows(np.arange(10), seq_len=3, stride=-1), "stride"),
    (lambda: lm_windows(np.arange(3), seq_len=5), "too few"),
    (lambda: lm_windows(np.ones((2, 5), int), seq_len=2), "1-D"),
    (lambda: lm_windows(np.linspace(0, 1, 9), seq_len=2), "integer"),
    (lambda: bptt_batches(np.arange(10), batch_size=4, seq_len=5), "too few"),
])
def test_bad_input_is_explained(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_windows_train_a_keras_model_on_the_active_backend():
    import keras

    keras.utils.set_random_seed(0)
    ids = np.random.default_rng(0).integers(4, 30, size=2000)
    x, y = lm_windows(ids, seq_len=10)
    model = keras.Sequential([keras.layers.Embedding(30, 8), keras.layers.Dense(30)])
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
