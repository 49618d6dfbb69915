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
