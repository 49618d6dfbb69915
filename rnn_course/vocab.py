"""Vocabulary: the one token <-> id mapping shared by the n-gram and neural models.

Every model in the course (the n-gram baseline of notebook 01 and the RNN LMs of
notebooks 02-06) encodes text through a `Vocabulary`, so perplexities computed on
the same split are comparable: the same `<unk>` replaces the same rare words and
the same `</s>` ends every line.

Ids 0-3 are always the special tokens, in this order:

| id | token   | meaning                                         |
|----|---------|-------------------------------------------------|
| 0  | `<pad>` | padding; masked out of every loss               |
| 1  | `<unk>` | any token not in the vocabulary                 |
| 2  | `<s>`   | start of a sentence (n-gram context padding)    |
| 3  | `</s>`  | end of a sentence / line (WikiText's `<eos>`)   |
"""

from __future__ import annotations

import collections
import json
from typing import Iterable, Sequence

import numpy as np

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3


class Vocabulary:
    """A frequency-ordered token vocabulary with `<pad>`, `<unk>`, `<s>`, `</s>`.

    Args:
        tokens: the list of ordinary tokens, most frequent first. The special
            tokens are added in front; any special token in `tokens` is skipped.
            Use `Vocabulary.build` to count a corpus instead.

    Example:

    >>> vocab = Vocabulary.build("the cat sat on the mat".split(), min_freq=2)
    >>> vocab.encode(["the", "dog"]).tolist()
    [4, 1]
    >>> vocab.decode([4, 1])
    ['the', '<unk>']
    """

    pad_id, unk_id, bos_id, eos_id = PAD_ID, UNK_ID, BOS_ID, EOS_ID

    def __init__(self, tokens: Iterable[str] = ()):
        itos = list(SPECIALS)
        for tok in tokens:
            if not isinstance(tok, str):
                raise TypeError(
                    f"Vocabulary tokens must be strings. Received: {tok!r} "
                    f"of type {type(tok).__name__}."
                )
            if tok not in SPECIALS:
                itos.append(tok)
        stoi = {tok: i for i, tok in enumerate(itos)}
        if len(stoi) != len(itos):
            dupes = [t for t, c in collections.Counter(itos).items() if c > 1]
            raise ValueError(
                f"Vocabulary tokens must be distinct. Received duplicates: {dupes[:5]}"
            )
        self._itos = itos
        self._stoi = stoi
        self._itos_array = np.array(itos, dtype=object)

    @classmethod
    def build(
        cls,
        tokens: Iterable[str],
        *,
        min_freq: int = 1,
        max_size: int | None = None,
    ) -> "Vocabulary":
        """Counts `tokens` and keeps the frequent ones.

        Args:
            tokens: a token stream (a list of words, or a string of characters).
            min_freq: keep tokens seen at least this many times.
            max_size: keep at most this many tokens, specials included.
                `None` keeps every token that passes `min_freq`.

        Ties in frequency are broken alphabetically, so the same corpus always
        gives the same ids.
        """
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"`min_freq` must be an integer >= 1. Received: min_freq={min_freq!r}")
        if max_size is not None and (not isinstance(max_size, int) or max_size <= len(SPECIALS)):
            raise ValueError(
                f"`max_size` must be None or an integer > {len(SPECIALS)} (the special tokens "
                f"count towards it). Received: max_size={max_size!r}"
            )
        counts = collections.Counter(tokens)
        for special in SPECIALS:
            counts.pop(special, None)
        kept = sorted(
            (tok for tok, c in counts.items() if c >= min_freq),
            key=lambda tok: (-counts[tok], tok),
        )
        if max_size is not None:
            kept = kept[: max_size - len(SPECIALS)]
        return cls(kept)

    # ------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self._itos)

    def __contains__(self, token: str) -> bool:
        return token in self._stoi

    def __repr__(self) -> str:
        preview = ", ".join(repr(t) for t in self._itos[4:9])
        return f"Vocabulary(size={len(self)}, tokens=[{preview}, ...])"

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self._itos == other._itos

    @property
    def tokens(self) -> list[str]:
        """All tokens, indexed by id (specials first)."""
        return list(self._itos)

    def token_to_id(self, token: str) -> int:
        """The id of `token`, or `unk_id` if it is not in the vocabulary."""
        return self._stoi.get(token, UNK_ID)

    def id_to_token(self, idx: int) -> str:
        if not 0 <= int(idx) < len(self):
            raise IndexError(f"Token id out of range: expected 0 <= id < {len(self)}. Received: {idx}")
        return self._itos[int(idx)]

    # ----------------------------------------------------------- encode/decode
    def encode(self, tokens: Sequence[str] | str) -> np.ndarray:
        """Maps tokens to an int32 array; unknown tokens become `unk_id`.

        A string is encoded character by character (char-level models).
        """
        get = self._stoi.get
        return np.fromiter((get(t, UNK_ID) for t in tokens), dtype=np.int32, count=len(tokens))

    def decode(self, ids, *, skip_pad: bool = True) -> list[str]:
        """Maps ids back to tokens. Padding is dropped unless `skip_pad=False`."""
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(
                f"Token ids must lie in [0, {len(self)}). Received ids from {ids.min()} to {ids.max()}."
            )
        if skip_pad:
            ids = ids[ids != PAD_ID]
        return self._itos_array[ids].tolist()

    def unk_rate(self, tokens: Sequence[str]) -> float:
        """The fraction of `tokens` that this vocabulary maps to `<unk>`."""
        if len(tokens) == 0:
            return 0.0
        return float(np.mean(self.encode(tokens) == UNK_ID))

    # ------------------------------------------------------------ persistence
    def get_config(self) -> dict:
        return {"tokens": self._itos[len(SPECIALS):]}

    @classmethod
    def from_config(cls, config: dict) -> "Vocabulary":
        return cls(config["tokens"])

    def to_json(self) -> str:
        return json.dumps(self.get_config(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Vocabulary":
        return cls.from_config(json.loads(text))
