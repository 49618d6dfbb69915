"""The four course corpora, bundled (xz-compressed) inside the package.

Nothing here touches the network unless you ask for `source="tfds"` explicitly.

| corpus              | what it is for                    | splits                          |
|---------------------|-----------------------------------|---------------------------------|
| `wikitext-2`        | word-level language models        | train / valid / test (official) |
| `tiny-shakespeare`  | character-level language models   | 90 / 5 / 5 by character (tfds)  |
| `sentiment`         | sentence classification (UCI)     | 80 / 10 / 10 stratified, seeded |
| `ud-ewt`            | POS tagging (UD English EWT 2.16) | train / dev / test (official)   |

`valid` and `dev` name the same split everywhere.

Each bundled file is checked against the sha256 of the original file (recorded in
`rnn_course/data/MANIFEST.json`, which `bundle()` took from the corpus's
`SOURCE.md`) the first time a process reads it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import lzma
import re
import shutil
from functools import lru_cache
from pathlib import Path

import numpy as np

from rnn_course.errors import CorpusError
from rnn_course.vocab import EOS

DATA_DIR = Path(__file__).resolve().parent / "data"
MANIFEST = DATA_DIR / "MANIFEST.json"

#: corpus -> (folder in shared/data and in the package, {split: file}, attribution files)
CORPORA = {
    "wikitext-2": (
        "wikitext-2",
        {"train": "train.txt", "valid": "valid.txt", "test": "test.txt"},
        ("SOURCE.md",),
    ),
    "tiny-shakespeare": ("tiny_shakespeare", {"all": "input.txt"}, ("SOURCE.md",)),
    "sentiment": (
        "sentiment_labelled_sentences",
        {
            "amazon": "amazon_cells_labelled.txt",
            "imdb": "imdb_labelled.txt",
            "yelp": "yelp_labelled.txt",
        },
        ("SOURCE.md", "readme.txt"),
    ),
    "ud-ewt": (
        "ud_english_ewt",
        {
            "train": "en_ewt-ud-train.conllu",
            "valid": "en_ewt-ud-dev.conllu",
            "test": "en_ewt-ud-test.conllu",
        },
        ("SOURCE.md", "LICENSE.txt", "README.md"),
    ),
}
SPLITS = ("train", "valid", "test")
_SPLIT_ALIASES = {"train": "train", "valid": "valid", "dev": "valid", "validation": "valid", "test": "test"}
#: Tiny Shakespeare split points, as tfds makes them: the first 90% of characters, then 5%, 5%.
SHAKESPEARE_SPLIT_FRACTIONS = (0.9, 0.05, 0.05)
#: The 17 Universal POS tags, in the order the tagging notebook uses for class ids.
UPOS_TAGS = (
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
)


# --------------------------------------------------------------------------- names
def available() -> list[str]:
    """The names of the bundled corpora."""
    return list(CORPORA)


def canonical_name(name: str) -> str:
    """`'wikitext2'`, `'WikiText-2'`, `'tiny_shakespeare'` ... -> the registry name."""
    if not isinstance(name, str):
        raise CorpusError(f"A corpus name must be a string. Received: {name!r}. Expected one of {available()}.")
    key = name.strip().lower().replace("_", "-")
    aliases = {"wikitext2": "wikitext-2", "shakespeare": "tiny-shakespeare", "ud-english-ewt": "ud-ewt",
               "en-ewt": "ud-ewt", "sentiment-labelled-sentences": "sentiment"}
    key = aliases.get(key, key)
    if key not in CORPORA:
        raise CorpusError(f"Unknown corpus: {name!r}. Expected one of {available()}.")
    return key


def canonical_split(split: str) -> str:
    """`'dev'`/`'validation'` -> `'valid'`; anything but train/valid/test is an error."""
    key = split.strip().lower() if isinstance(split, str) else split
    if key not in _SPLIT_ALIASES:
        raise CorpusError(f"Unknown split: {split!r}. Expected one of {list(SPLITS)} ('dev' means 'valid').")
    return _SPLIT_ALIASES[key]


# ---------------------------------------------------------------- bundled bytes
@lru_cache(maxsize=None)
def _manifest() -> dict:
    if not MANIFEST.exists():
        raise CorpusError(
            f"The data manifest {MANIFEST} is missing: the package was installed without its data. "
            "Fix: reinstall the course (`pip install --force-reinstall --no-deps -e .` from the repo)."
        )
    return json.loads(MANIFEST.read_text())


_VERIFIED: set[Path] = set()


def _read_bundled(corpus: str, filename: str) -> bytes:
    """The original bytes of one bundled file, sha256-checked on first read."""
    entry = _manifest()[corpus][filename]
    path = DATA_DIR / CORPORA[corpus][0] / entry["xz"]
    fix = ("Fix: restore it with `git checkout -- rnn_course/data` (or reinstall the package); "
           "`rnn-course doctor` checks every corpus.")
    if not path.exists():
        raise CorpusError(f"Corpus file missing: {path}. {fix}")
    try:
        raw = lzma.decompress(path.read_bytes())
    except lzma.LZMAError as err:
        raise CorpusError(f"Corpus file is corrupt (not valid xz: {err}): {path}. {fix}") from None
    if path not in _VERIFIED:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != entry["sha256"]:
            raise CorpusError(
                f"Corpus file failed its checksum: {path} has sha256 {digest[:16]}…, "
                f"expected {entry['sha256'][:16]}… (from SOURCE.md). {fix}"
            )
        _VERIFIED.add(path)
    return raw


def verify_all() -> list[dict]:
    """Checks every bundled file; returns one row per file (for `rnn-course doctor`)."""
    rows = []
    for corpus, (folder, files, _) in CORPORA.items():
        for filename in files.values():
            entry = _manifest().get(corpus, {}).get(filename, {})
            row = {"corpus": corpus, "file": filename, "sha256": entry.get("sha256", "?"),
                   "bytes": entry.get("bytes"), "ok": True, "error": ""}
            try:
                _VERIFIED.discard(DATA_DIR / folder / entry.get("xz", filename + ".xz"))
                _read_bundled(corpus, filename)
            except (CorpusError, KeyError) as err:
                row["ok"], row["error"] = False, str(err)
            rows.append(row)
    return rows


@lru_cache(maxsize=8)
def _text(corpus: str, filename: str) -> str:
    return _read_bundled(corpus, filename).decode("utf-8")


# ---------------------------------------------------------------- text corpora
def split_lines(raw: str) -> list[str]:
    """Splits on LF only. `str.splitlines` would also split on U+0085 and U+2028,
    which occur inside sentences of these corpora."""
    lines = raw.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def text(name: str, split: str = "train", *, source: str = "bundled") -> str:
    """The raw text of one split of `wikitext-2` or `tiny-shakespeare`.

    Args:
        name: `"wikitext-2"` or `"tiny-shakespeare"`.
        split: `"train"`, `"valid"` (or `"dev"`) or `"test"`.
        source: `"bundled"` (default, offline) or `"tfds"` (downloads with
            tensorflow-datasets; only `tiny-shakespeare` exists there).
    """
    corpus, split = canonical_name(name), canonical_split(split)
    if corpus not in ("wikitext-2", "tiny-shakespeare"):
        raise CorpusError(
            f"`text()` serves the language-modelling corpora. Received: {name!r}. "
            "Expected 'wikitext-2' or 'tiny-shakespeare' (use load_sentiment() / load_pos() for the others)."
        )
    if source == "tfds":
        return _tfds_text(corpus, split)
    _check_source(source)
    if corpus == "wikitext-2":
        return _text(corpus, CORPORA[corpus][1][split])
    full = _text(corpus, "input.txt")
    start, stop = shakespeare_bounds(len(full))[split]
    return full[start:stop]


def shakespeare_bounds(n_chars: int) -> dict[str, tuple[int, int]]:
    """Character ranges of the 90/5/5 split, computed as tfds does (int truncation)."""
    n_train = int(n_chars * SHAKESPEARE_SPLIT_FRACTIONS[0])
    n_valid = (n_chars - n_train) // 2  # the rest is halved: 55,770 + 55,770 for the real file
    return {"train": (0, n_train), "valid": (n_train, n_train + n_valid), "test": (n_train + n_valid, n_chars)}


def word_sentences(name: str, split: str = "train", *, source: str = "bundled") -> list[list[str]]:
    """One whitespace-token list per line (blank lines give `[]`)."""
    return [line.split() for line in split_lines(text(name, split, source=source))]


def word_stream(name: str, split: str = "train", *, source: str = "bundled") -> list[str]:
    """The word-level token stream: every line's tokens followed by `</s>`.

    For WikiText-2 train this is the standard 2,088,628-token stream (`</s>` plays
    the part of WikiText's `<eos>`).
    """
    stream: list[str] = []
    for tokens in word_sentences(name, split, source=source):
        stream.extend(tokens)
        stream.append(EOS)
    return stream


def char_stream(name: str = "tiny-shakespeare", split: str = "train", *, source: str = "bundled") -> str:
    """The character-level stream (the text itself; newlines are characters too)."""
    return text(name, split, source=source)


# -------------------------------------------------------------------- sentiment
@dataclasses.dataclass
class SentimentData:
    """Sentences with 0/1 labels and the review site each came from."""

    sentences: list[str]
    labels: np.ndarray  # (n,) int32, 1 = positive
    sources: list[str]  # "amazon" | "imdb" | "yelp"

    def __len__(self) -> int:
        return len(self.sentences)


SENTIMENT_FRACTIONS = (0.8, 0.1, 0.1)


def load_sentiment(split: str = "train", *, seed: int = 0, source: str = "bundled") -> SentimentData:
    """The UCI sentiment sentences, split 80/10/10, stratified by (site, label).

    The split (and the shuffled order within it) depends only on `seed`, so every
    student gets the same one.

    Args:
        split: `"train"`, `"valid"` or `"test"`.
        seed: the shuffling seed of the split.
        source: `"bundled"` or `"tfds"` (the much larger IMDb reviews, downloaded).
    """
    split = canonical_split(split)
    if source == "tfds":
        return _tfds_sentiment(split)
    _check_source(source)
    rng = np.random.default_rng(seed)
    chosen: list[tuple[str, int, str]] = []
    for site, filename in CORPORA["sentiment"][1].items():
        rows = [_parse_sentiment_line(line, filename, i)
                for i, line in enumerate(split_lines(_text("sentiment", filename)), 1) if line.strip()]
        for label in (0, 1):
            stratum = [r for r in rows if r[1] == label]
            order = rng.permutation(len(stratum))
            n_train = round(len(stratum) * SENTIMENT_FRACTIONS[0])
            n_valid = round(len(stratum) * SENTIMENT_FRACTIONS[1])
            cut = {"train": order[:n_train], "valid": order[n_train:n_train + n_valid],
                   "test": order[n_train + n_valid:]}[split]
            chosen.extend((stratum[i][0], label, site) for i in sorted(cut))
    chosen = [chosen[i] for i in rng.permutation(len(chosen))]  # no site/label blocks in batches
    return SentimentData(
        sentences=[s for s, _, _ in chosen],
        labels=np.array([lab for _, lab, _ in chosen], dtype=np.int32),
        sources=[site for _, _, site in chosen],
    )


def _parse_sentiment_line(line: str, filename: str, lineno: int) -> tuple[str, int]:
    # Split on the LAST tab: the sentences contain quotes, so csv parsing is wrong here.
    sentence, sep, label = line.rpartition("\t")
    if not sep or label.strip() not in ("0", "1"):
        raise CorpusError(f"{filename}:{lineno}: expected 'sentence<TAB>0|1'. Received: {line[:60]!r}")
    return sentence.strip(), int(label)


# ------------------------------------------------------------------ POS tagging
@dataclasses.dataclass
class TaggedSentences:
    """Sentences of word forms with one UPOS tag per word."""

    words: list[list[str]]
    tags: list[list[str]]

    def __len__(self) -> int:
        return len(self.words)


def load_pos(split: str = "train", *, source: str = "bundled") -> TaggedSentences:
    """UD English EWT sentences as (FORM, UPOS) pairs.

    Multiword-token lines (IDs like `3-4`) and empty nodes (IDs like `8.1`) are
    skipped, so each word is a syntactic word with exactly one tag.
    """
    split = canonical_split(split)
    if source == "tfds":
        return _tfds_pos(split)
    _check_source(source)
    return parse_conllu(_text("ud-ewt", CORPORA["ud-ewt"][1][split]))


def parse_conllu(conllu: str) -> TaggedSentences:
    """Parses CoNLL-U text into (FORM, UPOS) sentences."""
    words: list[list[str]] = []
    tags: list[list[str]] = []
    cur_w: list[str] = []
    cur_t: list[str] = []
    for lineno, line in enumerate(split_lines(conllu), 1):
        if not line.strip():
            if cur_w:
                words.append(cur_w)
                tags.append(cur_t)
                cur_w, cur_t = [], []
            continue
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != 10:
            raise CorpusError(f"CoNLL-U line {lineno}: expected 10 TAB-separated columns. Received {len(cols)}.")
        if "-" in cols[0] or "." in cols[0]:
            continue
        cur_w.append(cols[1])
        cur_t.append(cols[3])
    if cur_w:
        words.append(cur_w)
        tags.append(cur_t)
    return TaggedSentences(words, tags)


# ------------------------------------------------------------------------ tfds
def _check_source(source: str) -> None:
    if source not in ("bundled", "tfds"):
        raise CorpusError(f"Unknown source: {source!r}. Expected 'bundled' (offline, default) or 'tfds'.")


def _tfds_load(name: str, split: str):
    """Imports tensorflow-datasets only here: the default path never touches it."""
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise CorpusError("source='tfds' needs tensorflow-datasets: `pip install tensorflow-datasets`.") from None
    return tfds.load(name, split=split, with_info=True)


_TFDS_SPLIT = {"train": "train", "valid": "validation", "test": "test"}


def _tfds_text(corpus: str, split: str) -> str:
    if corpus != "tiny-shakespeare":
        raise CorpusError(f"{corpus} has no tensorflow-datasets version. Expected source='bundled' for it.")
    ds, _ = _tfds_load("tiny_shakespeare", _TFDS_SPLIT[split])
    return "".join(_to_str(ex["text"]) for ex in ds.as_numpy_iterator())


def _tfds_sentiment(split: str) -> SentimentData:
    # imdb_reviews has train/test only: 'valid' is the last 10% of tfds train.
    tfds_split = {"train": "train[:90%]", "valid": "train[90%:]", "test": "test"}[split]
    ds, _ = _tfds_load("imdb_reviews", tfds_split)
    sentences, labels = [], []
    for ex in ds.as_numpy_iterator():
        sentences.append(_to_str(ex["text"]))
        labels.append(int(ex["label"]))
    return SentimentData(sentences, np.array(labels, dtype=np.int32), ["imdb"] * len(sentences))


def _tfds_pos(split: str) -> TaggedSentences:
    tfds_split = {"train": "train", "valid": "dev", "test": "test"}[split]
    ds, info = _tfds_load("universal_dependencies/en_ewt", tfds_split)
    upos = info.features["upos"]
    names = getattr(getattr(upos, "feature", upos), "names", None)
    words, tags = [], []
    for ex in ds.as_numpy_iterator():
        words.append([_to_str(t) for t in ex["tokens"]])
        tags.append([names[int(t)] if names and not isinstance(t, (bytes, str)) else _to_str(t)
                     for t in ex["upos"]])
    return TaggedSentences(words, tags)


def _to_str(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


# --------------------------------------------------------------- bundling (dev)
_SHA_ROW = re.compile(r"^\|\s*(?P<name>[^|(]+?)\s*[|(].*?`(?P<sha>[0-9a-f]{64})`", re.M)


def sha256_from_source_md(source_md: str) -> dict[str, str]:
    """{file name: sha256} from the table rows of a corpus's SOURCE.md."""
    found = {}
    for m in _SHA_ROW.finditer(source_md):
        found[m.group("name").strip()] = m.group("sha")
    return found


def bundle(src_root: str | Path, dest: Path = DATA_DIR) -> dict:
    """Compresses the corpora of `src_root` (the shared/data folder) into the package.

    Every file's sha256 must equal the one its SOURCE.md records, so a changed
    upstream file cannot slip in. Writes `MANIFEST.json`. Used once by the course
    maintainers (`rnn-course data --bundle ../shared/data`); students never need it.
    """
    src_root = Path(src_root)
    manifest: dict = {}
    for corpus, (folder, files, attribution) in CORPORA.items():
        src, out = src_root / folder, dest / folder
        if not src.is_dir():
            raise CorpusError(f"Corpus folder not found: {src}. Expected the shared/data layout.")
        recorded = sha256_from_source_md((src / "SOURCE.md").read_text())
        out.mkdir(parents=True, exist_ok=True)
        manifest[corpus] = {}
        for filename in files.values():
            raw = (src / filename).read_bytes()
            digest = hashlib.sha256(raw).hexdigest()
            if recorded.get(filename) != digest:
                raise CorpusError(
                    f"{src / filename}: sha256 {digest} does not match SOURCE.md ({recorded.get(filename)})."
                )
            (out / (filename + ".xz")).write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
            manifest[corpus][filename] = {"xz": filename + ".xz", "sha256": digest, "bytes": len(raw)}
        for name in attribution:
            shutil.copyfile(src / name, out / name)
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    _manifest.cache_clear()
    return manifest
