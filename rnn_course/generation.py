"""Generating text from an RNN language model, one step at a time (notebook 02, section 6).

Generation is repeated sampling: the token sampled at step t is the input of
step t + 1. Running the whole model on the whole prefix again at every step
would cost O(n²); an RNN only needs its hidden state. `rnn_lm_step(model)`
takes an LM built as Embedding -> RNN(cell) -> Dense and returns a `step`
function that advances the state by one token:

    step, state = rnn_lm_step(model)
    logits, state = step(np.array([token_id]), state)  # logits: (1, vocab) numpy

It calls the model's own layers (the embedding, the RNN's *cell*, the output
layer), so it works with any Keras RNN cell whose `call(inputs, states)`
follows the Keras contract: a simple RNN, an LSTM, a GRU, or yours.

`sample_from_model(model, prompt_ids, n)` (notebook 06) pays the O(n²) instead, for
any model whose layers `rnn_lm_step` cannot take apart (two stacked RNNs, a tied
output layer).
"""

from __future__ import annotations

import numpy as np


def _find_layers(model):
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    embeddings = [layer for layer in layers if isinstance(layer, keras.layers.Embedding)]
    rnns = [layer for layer in layers if isinstance(layer, keras.layers.RNN)]
    if len(embeddings) != 1 or len(rnns) != 1 or not isinstance(layers[-1], keras.layers.Dense):
        kinds = [type(layer).__name__ for layer in layers]
        raise ValueError(
            "rnn_lm_step expects a model whose layers are Embedding -> RNN(cell) -> ... -> Dense "
            f"(one Embedding, one keras.layers.RNN, a Dense last). Received layers: {kinds}."
        )
    rnn = rnns[0]
    if rnn.go_backwards:
        raise ValueError("The model's RNN reads right to left (go_backwards=True): it cannot generate "
                         "left to right. Expected go_backwards=False.")
    between = layers[layers.index(rnn) + 1:]  # e.g. Dropout, then the Dense output layer
    return embeddings[0], rnn, between


def rnn_lm_step(model, batch_size: int = 1):
    """A one-token step function for an RNN language model, and its initial state.

    Args:
        model: a built Keras model, Embedding -> RNN(cell) -> [Dropout ...] -> Dense(vocab).
        batch_size: how many sequences are generated side by side.

    Returns:
        `(step, state)`. `step(token_ids, state)` takes `(batch,)` int ids and the
        state, and returns `(logits, new_state)` with `logits` a float numpy array
        `(batch, vocab)`. `state` is the cell's initial state (zeros).
    """
    import keras

    embedding, rnn, after = _find_layers(model)
    cell = rnn.cell
    state = rnn.get_initial_state(batch_size)

    def step(token_ids, state):
        ids = keras.ops.convert_to_tensor(np.asarray(token_ids, dtype="int32").reshape(batch_size))
        x = embedding(ids)  # (batch, embed)
        output, new_state = cell(x, state, training=False)  # (batch, units)
        for layer in after:
            output = layer(output, training=False)
        if not isinstance(new_state, (list, tuple)):
            new_state = [new_state]
        return keras.ops.convert_to_numpy(output).astype(np.float64), list(new_state)

    return step, state


def sample_from_model(model, prompt_ids, num_tokens: int, *, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    """Samples `num_tokens` ids from any left-to-right language model by re-reading the prefix.

    Unlike `rnn_lm_step`, this needs nothing of the model but its contract (`(batch, T)` ids in,
    `(batch, T, vocab)` logits out, the logits at step t depending only on the ids up to t), so it
    serves stacked RNNs, tied output layers and dropout alike. Each new token costs one forward
    pass over a window of fixed length `len(prompt_ids) + num_tokens` (the steps after the
    prefix hold `<pad>` and are never read by a causal model), so the model is compiled once.

    Args:
        model: a Keras language model (`predict_on_batch` is used, dropout is off).
        prompt_ids: 1-D int ids to start from, at least one (e.g. `[vocab.eos_id]`: a line start).
        num_tokens: how many ids to sample after the prompt.
        temperature: divides the logits before the softmax; must be > 0.
        seed: seed of the NumPy generator that draws the tokens.

    Returns:
        int array `(num_tokens,)`: the sampled ids, without the prompt.

    Raises:
        ValueError: an empty prompt, a non-positive `num_tokens` or `temperature`.
    """
    prompt = np.asarray(prompt_ids, dtype=np.int32).reshape(-1)
    if prompt.size == 0:
        raise ValueError("`prompt_ids` must hold at least one id (e.g. [vocab.eos_id], a line start). Received none.")
    if not isinstance(num_tokens, (int, np.integer)) or num_tokens < 1:
        raise ValueError(f"`num_tokens` must be a positive integer. Received: num_tokens={num_tokens!r}")
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature!r}")
    rng = np.random.default_rng(seed)
    window = np.zeros((1, prompt.size + num_tokens), dtype=np.int32)
    window[0, :prompt.size] = prompt
    for t in range(prompt.size, window.shape[1]):
        logits = np.asarray(model.predict_on_batch(window), dtype=np.float64)[0, t - 1] / temperature
        probs = np.exp(logits - logits.max())
        window[0, t] = rng.choice(probs.size, p=probs / probs.sum())
    return window[0, prompt.size:].copy()
