import numpy as np
import pytest

from rnn_course.vocab import BOS, EOS, PAD, UNK, Vocabulary


def test_specials_have_fixed_ids():
    vocab = Vocabulary.build("b a b c".split())
    assert vocab.tokens[:4] == [PAD, UNK, BOS, EOS]
    assert (vocab.pad_id, vocab.unk_id, vocab.bos_id, vocab.eos_id) == (0, 1, 2, 3)
    assert [vocab.token_to_id(t) for t in (PAD, UNK, BOS, EOS)] == [0, 1, 2, 3]


def test_build_orders_by_frequency_then_alphabetically():
    vocab = Vocabulary.build("c b b a a d".split())
    assert vocab.tokens[4:] == ["a", "b", "c", "d"]
    vocab = Vocabulary.build("z z z y x x".split())
    assert vocab.tokens[4:] == ["z", "x", "y"]


def test_min_freq_and_max_size_cut_rare_tokens():
    tokens = "a a a b b c".split()
    assert Vocabulary.build(tokens, min_freq=2).tokens[4:] == ["a", "b"]
    assert Vocabulary.build(tokens, max_size=5).tokens[4:] == ["a"]


def test_special_tokens_in_corpus_are_not_duplicated():
    vocab = Vocabulary.build(["the", EOS, UNK, "the", EOS])
    assert len(vocab) == 5 and vocab.tokens.count(EOS) == 1


def test_encode_decode_round_trip_and_unknowns():
    vocab = Vocabulary.build("the cat sat on the mat".split())
    ids = vocab.encode("the dog sat".split())
    assert ids.dtype == np.int32
    assert ids.tolist() == [vocab.token_to_id("the"), vocab.unk_id, vocab.token_to_id("sat")]
    assert vocab.decode(ids) == ["the", UNK, "sat"]
    assert vocab.decode([vocab.token_to_id("cat"), 0, 0]) == ["cat"]
    assert vocab.decode([0], skip_pad=False) == [PAD]


def test_char_level_encoding_of_a_string():
    vocab = Vocabulary.build("hello\nworld")
    assert "".join(vocab.decode(vocab.encode("hello\nworld"))) == "hello\nworld"
    assert "\n" in vocab


def test_unk_rate():
    vocab = Vocabulary.build("a b".split())
    assert vocab.unk_rate("a b c d".split()) == 0.5
    assert vocab.unk_rate([]) == 0.0


def test_config_and_json_round_trip():
    vocab = Vocabulary.build("x y y z z z".split())
    assert Vocabulary.from_config(vocab.get_config()) == vocab
    assert Vocabulary.from_json(vocab.to_json()) == vocab


@pytest.mark.parametrize("kwargs, match", [
    ({"min_freq": 0}, "min_freq"),
    ({"min_freq": 1.5}, "min_freq"),
    ({"max_size": 3}, "max_size"),
])
def test_bad_arguments_say_what_was_received(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Vocabulary.build("a b".split(), **kwargs)


def test_bad_tokens_and_ids():
    with pytest.raises(TypeError, match="Received: 3"):
        Vocabulary(["a", 3])
    with pytest.raises(ValueError, match="duplicates"):
        Vocabulary(["a", "a"])
    vocab = Vocabulary(["a"])
    with pytest.raises(IndexError, match=r"\[0, 5\)"):
        vocab.decode([7])
    with pytest.raises(IndexError):
        vocab.id_to_token(-1)
