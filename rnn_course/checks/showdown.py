"""Public checks for notebook 06, the language-model showdown.

Each check runs the student's answer on inputs small enough to follow by hand and prints one
"✓" line, or raises `CheckFailed` with a hint that names the wrong part. They write only to
stdout and never depend on a training run.

| check                    | exercise                                                                  |
|--------------------------|---------------------------------------------------------------------------|
| `check_lm_stream`        | 6.1 the ids a neural LM reads, so that its targets are exactly the events |
|                          | an n-gram model scores (every token and every line's `</s>`, as KenLM)    |
| `check_tied_output`      | 6.2 an output layer that reuses the input embedding: logits = h Eᵀ + b    |
|                          | (Press & Wolf 2017, "Using the Output Embedding to Improve Language        |
|                          | Models"; Inan et al. 2017)                                                |
| `check_time_to_target`   | 6.3 the wall-clock seconds until a learning curve first beats a target    |
"""

from __future__ import annotations

import math

import numpy as np

from rnn_course.checks import CheckFailed, _one_line, expect_close, fail, guard, passed, to_numpy
from rnn_course.checks.cells import OUTPUT_ATOL, call
from rnn_course.vocab import BOS_ID, EOS_ID, UNK_ID, Vocabulary

#: 6.1's probe: "the cat", an empty line, "dog sat" ("dog" is not in the vocabulary).
STREAM_VOCAB = ("the", "cat", "sat")
STREAM_SENTENCES = (["the", "cat"], [], ["dog", "sat"])


def lm_stream_reference(sentences, vocab: Vocabulary) -> np.ndarray:
    """`[</s>]`, then each sentence's ids followed by `</s>`: int32 `(1 + Σ (len(s) + 1),)`."""
    ids = [EOS_ID]
    for sentence in sentences:
        ids.extend(int(i) for i in vocab.encode(sentence))
        ids.append(EOS_ID)
    return np.array(ids, dtype=np.int32)


def _ids(value, what) -> np.ndarray:
    if isinstance(value, (list, tuple)) and value and all(hasattr(v, "__len__") for v in value):
        fail(f"{what}: returned {len(value)} separate sequences (one per line?). Expected one flat stream of ids, "
             "shape (n,): concatenate the sentences' ids into one array.", code="stream-not-flat")
    got = to_numpy(value, what)
    if got.ndim != 1:
        fail(f"{what}: expected one flat stream of ids, shape (n,). Received shape {got.shape}: concatenate the "
             "sentences' ids into one array.", code="stream-not-flat")
    try:
        dtype = np.asarray(value).dtype
    except Exception:  # noqa: BLE001: a tensor NumPy cannot view; its values were read above
        dtype = np.dtype("int64") if np.all(got == np.round(got)) else got.dtype
    if not np.issubdtype(dtype, np.integer):
        fail(f"{what}: expected integer ids (dtype int32), received dtype {dtype} ({got[:8].tolist()}...). Ids index "
             "the embedding and lm_windows refuses floats: build the stream from vocab.encode's int arrays, or "
             "return np.array(ids, dtype='int32').", code="ids-not-integers")
    return got.astype(np.int64)


def check_lm_stream(lm_stream) -> None:
    """Checks `lm_stream(sentences, vocab)`: the ids whose targets (`ids[1:]`) are the n-gram's events.

    An n-gram model scores, for each sentence, every token (an unknown one as `<unk>`) and the
    `</s>` that ends it: `Σ (len(s) + 1)` events (`NGramLM.log_probs`). A neural LM predicts
    `ids[1:]` from `ids[:-1]`, so the stream starts with one `</s>` (the line end before the
    first line) and then holds every sentence followed by `</s>`. Probed on word lists (with an
    empty line and an unknown word) and on character strings.

    Raises:
        CheckFailed: with a hint naming the wrong part.
    """
    vocab = Vocabulary(STREAM_VOCAB)
    sentences = [list(s) for s in STREAM_SENTENCES]
    what = f"lm_stream({sentences}, vocab with {list(STREAM_VOCAB)})"
    got = _ids(call(what, lm_stream, [list(s) for s in sentences], vocab), what)
    expected = lm_stream_reference(sentences, vocab)  # [3, 4, 5, 3, 3, 1, 6, 3]
    shown = f"Expected {expected.tolist()} (</s> = {EOS_ID}, <unk> = {UNK_ID}); received {got.tolist()}."
    if got.tolist() != expected.tolist():
        if got.tolist() == expected[1:].tolist():
            fail(f"{what}: the stream starts with the first word, which then is never a target: the model scores "
                 f"one event fewer than the n-gram. Start with </s> (the end of the line before). {shown}",
                 code="first-token-not-predicted")
        if got.size and got[0] == BOS_ID and got[1:].tolist() == expected[1:].tolist():
            fail(f"{what}: the stream starts with <s> ({BOS_ID}). A neural LM reads the </s> that ends the line "
                 f"before at every other line start; begin with </s> too, so the first line looks like the rest. "
                 f"{shown}", code="bos-instead-of-eos")
        content = [i for i in expected.tolist() if i != EOS_ID]
        if [i for i in got.tolist() if i != EOS_ID] == content and got.tolist().count(EOS_ID) < expected.tolist().count(EOS_ID):
            kept = [EOS_ID] + [i for s in sentences if s for i in [*lm_stream_reference([s], vocab)[1:]]]
            if got.tolist() in (kept, kept[1:]):
                fail(f"{what}: the empty line is gone. It still ends, and the n-gram scores its </s> (one event): "
                     f"keep empty sentences. {shown}", code="empty-line-dropped")
            fail(f"{what}: a line's </s> is missing. The end of each line is an event the n-gram scores (as KenLM "
                 f"does): append vocab.eos_id after every sentence. {shown}", code="eos-missing")
        if got.tolist() == [i for i in expected.tolist() if i != UNK_ID]:
            fail(f"{what}: the unknown word 'dog' was dropped. For every model of the table it is the event <unk> "
                 f"(id {UNK_ID}), as for the n-gram: vocab.encode maps it. {shown}", code="unknown-word-dropped")
        fail(f"{what}: {shown} The stream is </s>, then each sentence's ids followed by </s>.", code="stream-wrong")
    chars = Vocabulary(list("ab"))
    what = f"lm_stream(['ab', 'b'], a character vocabulary), lines as strings"
    got = _ids(call(what, lm_stream, ["ab", "b"], chars), what)
    expected = lm_stream_reference(["ab", "b"], chars)
    if got.tolist() != expected.tolist():
        fail(f"{what}: expected {expected.tolist()}, received {got.tolist()}. A line given as a string is a "
             "sequence of characters: vocab.encode takes it as it is.", code="char-lines-wrong")
    what = "lm_stream([[]], vocab): one empty line"
    got = _ids(call(what, lm_stream, [[]], vocab), what)
    if got.tolist() != [EOS_ID, EOS_ID]:
        fail(f"{what}: expected [{EOS_ID}, {EOS_ID}] (one event: the empty line's </s>), received {got.tolist()}.",
             code="empty-line-dropped")
    passed("lm_stream: one target per n-gram event (every word, <unk> for an unknown one, every line's </s>, empty "
           "lines included), on words and on characters.")


def tied_logits_reference(h, embeddings, bias) -> np.ndarray:
    """`h Eᵀ + b`: `h` `(..., d)`, `E` `(V, d)`, `b` `(V,)` -> `(..., V)`."""
    return np.asarray(h, np.float64) @ np.asarray(embeddings, np.float64).T + np.asarray(bias, np.float64)


def _tied_layer(TiedOutput, embeddings, what):
    """A `TiedOutput` around an Embedding holding `embeddings` `(V, d)`, built on h `(1, 2, d)`; also its own weights."""
    import keras

    vocab_size, dim = embeddings.shape
    embedding = keras.layers.Embedding(vocab_size, dim)
    embedding.build((None,))
    embedding.embeddings.assign(embeddings.astype("float32"))
    layer = call(f"TiedOutput(keras.layers.Embedding({vocab_size}, {dim}))", TiedOutput, embedding)
    if getattr(type(layer), "call", None) is keras.layers.Layer.call:
        fail(f"{what}: the layer has no `call` of its own (Keras's default raises NotImplementedError). Expected "
             "call(self, h) returning the logits h Eᵀ + b.", code="call-missing")
    with guard(f"{what}: calling the layer on h of shape {TIED_H.shape}"):
        layer(TIED_H)
    own = [w for w in layer.trainable_weights if all(w is not e for e in embedding.trainable_weights)]
    big = [tuple(w.shape) for w in own if tuple(w.shape) in ((vocab_size, dim), (dim, vocab_size))]
    if big:
        fail(f"{what}: the layer has a weight of its own of shape {big[0]}: an output matrix that is not tied. "
             "Use the embedding's matrix (embedding.embeddings), transposed, and create only the bias.",
             code="not-tied")
    if [tuple(w.shape) for w in own] != [(vocab_size,)]:
        fail(f"{what}: expected one weight of its own, the bias of shape ({vocab_size},) (one per token). Received "
             f"{[tuple(w.shape) for w in own]}.", code="bias-missing" if not own else "wrong-own-weights")
    start = to_numpy(own[0], "the bias")
    if not np.all(start == 0.0):
        fail(f"{what}: the bias starts at {np.round(start, 3).tolist()}. Expected zeros (initializer=\"zeros\"), as "
             "the exercise asks: an untrained layer should favour no token.", code="bias-not-zero")
    try:
        layer(keras.Input((None, dim)))
    except Exception as err:  # noqa: BLE001: the student's error, reported with what was being done
        fail(f"{what}: calling the layer on a symbolic keras.Input(shape=(None, {dim})), as a functional model does "
             f"(section 5), raised {type(err).__name__}: {_one_line(str(err), 200)} Inside call use keras.ops only "
             "(no NumPy, no float()): a symbolic input has no values.", cause=err, code="not-traceable")
    return embedding, layer, own[0]


#: The states the tied layer is probed on: (batch 1, T 2, d 2).
TIED_H = np.array([[[1.0, 1.0], [2.0, -1.0]]], "float32")


def _tied_logits(layer, embeddings, bias, what):
    from keras import ops

    what = f"{what} with b = {bias.tolist()}, on h = {TIED_H[0].tolist()}"
    got = to_numpy(call(what, layer, ops.convert_to_tensor(TIED_H)), what)
    expected = tied_logits_reference(TIED_H, embeddings, bias)
    if got.shape == expected.shape and not np.allclose(got, expected, atol=OUTPUT_ATOL):
        shown = f"Expected h Eᵀ + b = {expected[0].tolist()}, received {got[0].tolist()}."
        if embeddings.shape[0] == embeddings.shape[1] and np.allclose(got, TIED_H @ embeddings + bias, atol=OUTPUT_ATOL):
            fail(f"{what}: computed h E, not h Eᵀ. Row i of E embeds token i, so the logit of token i is h · E[i]: "
                 f"transpose E. {shown}", code="E-not-transposed")
        if np.allclose(got, expected - bias, atol=OUTPUT_ATOL):
            fail(f"{what}: the bias is not added. {shown}", code="bias-not-added")
        if np.allclose(got.sum(-1), 1.0, atol=1e-4) and np.all(got >= 0):
            fail(f"{what}: these are probabilities (each row sums to 1). Return the logits h Eᵀ + b: the loss "
                 "and the perplexity apply the softmax themselves.", code="softmax-applied")
    expect_close(got, expected, what=what, atol=OUTPUT_ATOL,
                 hint="the logit of token i is h · E[i] + b[i]: ops.matmul(h, ops.transpose(E)) + b.", code="logits-wrong")


def check_tied_output(TiedOutput) -> None:
    """Checks `TiedOutput(embedding)`: logits `h Eᵀ + b`, with E the embedding's own matrix.

    `E` is the `(V, d)` matrix of a `keras.layers.Embedding(V, d)` (row i embeds token i); the
    layer maps states `h` `(batch, T, d)` to logits `(batch, T, V)`: the logit of token i is
    the dot product of h with token i's embedding, plus a bias `b` `(V,)` that is the layer's
    one weight of its own. Probed with constant matrices (a square one that is not symmetric,
    so that h E and h Eᵀ differ, then V = 3 tokens of d = 2), a bias set by hand, and an
    embedding changed after the layer was built.

    Raises:
        CheckFailed: with a hint naming the wrong part.
    """
    from keras import ops

    for E, bias in ((np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([0.5, -0.5])),
                    (np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]), np.array([0.5, 0.0, -0.5]))):
        what = f"TiedOutput(Embedding({E.shape[0]}, {E.shape[1]}) with E = {E.astype(int).tolist()})"
        embedding, layer, own_bias = _tied_layer(TiedOutput, E, what)
        own_bias.assign(bias.astype("float32"))
        _tied_logits(layer, E, bias, what)
    changed = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    embedding.embeddings.assign(changed.astype("float32"))
    what = f"{what}, after the embedding changed to E = {changed.astype(int).tolist()}"
    got = to_numpy(call(what, layer, ops.convert_to_tensor(TIED_H)), what)
    if not np.allclose(got, tied_logits_reference(TIED_H, changed, bias), atol=OUTPUT_ATOL):
        fail(f"{what}: the logits did not follow the embedding (training changes it at every step): the layer holds "
             "a copy, so the two matrices are not tied. Read embedding.embeddings in call().", code="copied-not-tied")
    _check_gradient_reaches_E(TiedOutput)
    passed("TiedOutput: logits h Eᵀ + b from the embedding's own matrix (it follows the embedding when that "
           "changes, and training moves it through the output), with a zero-initialised bias (V,) as its one weight.")


def _check_gradient_reaches_E(TiedOutput) -> None:
    """One SGD step of a tiny tied LM reading token 0 and predicting token 1: token 1's row of E must move.

    Token 1 is never an input, so only the output layer can move its embedding.
    """
    import keras

    keras.utils.set_random_seed(61)
    what = ("one SGD step (learning rate 1) of Input -> Embedding(3, 2) -> TiedOutput on the input token 0 and "
            "the target token 1")
    try:
        inputs = keras.Input((None,), dtype="int32")
        embedding = keras.layers.Embedding(3, 2)
        model = keras.Model(inputs, TiedOutput(embedding)(embedding(inputs)))
        model.compile(optimizer=keras.optimizers.SGD(1.0),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        before = to_numpy(embedding.embeddings, "E")
        model.train_on_batch(np.zeros((1, 1), "int32"), np.ones((1, 1), "int32"))
        after = to_numpy(embedding.embeddings, "E")
    except CheckFailed:
        raise
    except Exception as err:  # noqa: BLE001: the student's error, reported with what was being done
        fail(f"{what} raised {type(err).__name__}: {_one_line(str(err), 200)} Keras compiles the training step, "
             "so inside call use keras.ops only (no NumPy, no float()).", cause=err, code="not-traceable")
    if np.allclose(before[1], after[1]):
        fail(f"{what}: E[1], the embedding of a token that is never an input, did not move. The gradient does not "
             "reach E through the output layer (ops.stop_gradient, a NumPy copy, or a matrix of its own), so the "
             "two roles are not tied in training. Use embedding.embeddings directly, with keras.ops.",
             code="no-gradient-to-E")


def time_to_target_reference(seconds, valid_perplexity, target) -> float:
    """The first `seconds[i]` with `valid_perplexity[i] < target`, else `math.inf`."""
    for s, p in zip(seconds, valid_perplexity):
        if p < target:
            return float(s)
    return math.inf


def check_time_to_target(time_to_target) -> None:
    """Checks `time_to_target(seconds, valid_perplexity, target)`.

    The answer is the training time (seconds) of the first evaluation whose validation
    perplexity is strictly below `target`, or `math.inf` if none is. Probed on short curves
    where the first crossing, the best value and the last value differ, with seconds that are
    not whole numbers, a value exactly equal to the target, a curve already below the target at
    the untrained evaluation (0 s), a curve that never gets there, and NumPy arrays.

    Raises:
        CheckFailed: with a hint naming the wrong part.
    """
    cases = [
        ([0.0, 12.5, 22.5, 37.5, 50.0], [500.0, 120.0, 90.0, 70.0, 80.0], 100.0, "the first crossing"),
        ([0.0, 12.5, 22.5], [500.0, 100.0, 90.0], 100.0, "a value equal to the target"),
        ([0.0, 7.5, 15.0], [80.0, 60.0, 50.0], 100.0, "a weak target that the untrained model already beats"),
        ([0.0, 5.0, 10.0], [500.0, 200.0, 150.0], 100.0, "a curve that never reaches the target"),
    ]
    for seconds, ppl, target, label in cases:
        for kind, args in (("lists", (list(seconds), list(ppl))), ("arrays", (np.array(seconds), np.array(ppl)))):
            what = f"time_to_target({seconds}, {ppl}, target={target:g}) ({label}, as {kind})"
            got = call(what, time_to_target, *args, float(target))
            expected = time_to_target_reference(seconds, ppl, target)
            try:
                value = float(got)
            except (TypeError, ValueError):
                value = None
            if value is not None and (value == expected or (math.isinf(expected) and value == math.inf)):
                continue
            shown = f"Expected {expected}; received {got!r}."
            if math.isinf(expected):
                fail(f"{what}: the curve never beats the target, so the answer is math.inf (never), which sorts "
                     f"after every time and prints as inf. {shown}", code="never-not-inf")
            first = next(i for i, p in enumerate(ppl) if p < target)
            if value is not None and first == 0 and value == seconds[1]:
                fail(f"{what}: the evaluation before training (at 0 s) counts too: here the untrained model already "
                     f"beats the target. {shown}", code="first-evaluation-skipped")
            if value is not None and value != expected and value in (round(expected), math.floor(expected)):
                fail(f"{what}: the seconds were rounded to a whole number; return seconds[i] as it is (a float). "
                     f"{shown}", code="seconds-rounded")
            if value is not None and value == first:
                fail(f"{what}: that is the index of the evaluation; return its time, seconds[{first}]. {shown}",
                     code="index-not-seconds")
            if value is not None and value == seconds[int(np.argmin(ppl))]:
                fail(f"{what}: that is when the curve was best, not when it first beat the target. {shown}",
                     code="best-not-first")
            if value is not None and value == seconds[-1]:
                fail(f"{what}: that is the last evaluation, not the first below the target. {shown}",
                     code="last-not-first")
            if value is not None and any(p == target and s == value for s, p in zip(seconds, ppl)):
                fail(f"{what}: a perplexity equal to the target does not beat it: compare with <. {shown}",
                     code="not-strictly-below")
            fail(f"{what}: {shown} Walk the curve in order and return the seconds of the first perplexity "
                 "below the target.", code="time-wrong")
    passed("time_to_target: the seconds of the first evaluation strictly below the target, inf when none is "
           "(lists and arrays).")


__all__ = ["check_lm_stream", "check_tied_output", "check_time_to_target", "lm_stream_reference",
           "tied_logits_reference", "time_to_target_reference", "STREAM_VOCAB", "STREAM_SENTENCES"]
