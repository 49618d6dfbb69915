"""The bundled corpora: sizes, splits, integrity checks and the opt-in tfds path.

The expected sizes are those recorded in each corpus's SOURCE.md (and reproduced by
`rnn-course doctor` / notebook 00 on this data)."""

import collections
import hashlib
import json
import lzma
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rnn_course import corpora
from rnn_course.errors import CorpusError
from rnn_course.vocab import EOS


def test_wikitext_streams_have_the_standard_sizes():
    assert len(corpora.word_stream("wikitext-2", "train")) == 2_088_628
    assert len(corpora.word_stream("wikitext-2", "valid")) == 217_646
    assert len(corpora.word_stream("wikitext-2", "test")) == 245_569
    stream = corpora.word_stream("wikitext-2", "valid")
    assert stream.count(EOS) == 3_760  # one per line
    assert "<eos>" not in stream


def test_shakespeare_split_is_tfds_90_5_5_by_character():
    parts = [corpora.char_stream("tiny-shakespeare", s) for s in corpora.SPLITS]
    assert [len(p) for p in parts] == [1_003_854, 55_770, 55_770]
    assert parts[0].startswith("First Citizen:")
    whole = corpora._text("tiny-shakespeare", "input.txt")
    assert "".join(parts) == whole


def test_sentiment_split_is_stratified_disjoint_and_seeded():
    splits = {s: corpora.load_sentiment(s) for s in corpora.SPLITS}
    assert [len(splits[s]) for s in corpora.SPLITS] == [2400, 300, 300]
    for data in splits.values():
        for site in ("amazon", "imdb", "yelp"):
            labels = data.labels[np.array(data.sources) == site]
            assert labels.sum() * 2 == len(labels)  # balanced within every site
    # the three splits partition the 3,000 lines (a few sentences occur twice in the data,
    # so compare multisets rather than sets)
    together = collections.Counter(pair for d in splits.values() for pair in zip(d.sentences, d.sources))
    everything = collections.Counter(
        (corpora._parse_sentiment_line(line, name, 0)[0], site)
        for site, name in corpora.CORPORA["sentiment"][1].items()
        for line in corpora.split_lines(corpora._text("sentiment", name)))
    assert together == everything and sum(everything.values()) == 3000
    again = corpora.load_sentiment("train")
    assert again.sentences == splits["train"].sentences
    assert corpora.load_sentiment("train", seed=1).sentences != splits["train"].sentences
    # lines with quotes survive (csv-style parsing would merge them)
    assert any('"' in s for d in splits.values() for s in d.sentences)


def test_pos_sentences_skip_multiword_and_empty_nodes():
    dev = corpora.load_pos("dev")
    assert len(dev) == 2_001 and sum(map(len, dev.words)) == 25_147
    assert all(len(w) == len(t) for w, t in zip(dev.words, dev.tags))
    assert {t for tags in dev.tags for t in tags} == set(corpora.UPOS_TAGS)
    train = corpora.load_pos("train")
    assert len(train) == 12_544 and sum(map(len, train.words)) == 204_577


def test_parse_conllu_handles_ranges_and_empty_nodes():
    text = ("# sent_id = 1\n1-2\tdon't\t_\t_\t_\t_\t_\t_\t_\t_\n1\tdo\tdo\tAUX\t_\t_\t0\troot\t_\t_\n"
            "2\tn't\tnot\tPART\t_\t_\t1\tadvmod\t_\t_\n2.1\tgo\tgo\tVERB\t_\t_\t_\t_\t_\t_\n\n")
    parsed = corpora.parse_conllu(text)
    assert parsed.words == [["do", "n't"]] and parsed.tags == [["AUX", "PART"]]
    with pytest.raises(CorpusError, match="10 TAB-separated"):
        corpora.parse_conllu("1\tonly\tthree\n")


@pytest.mark.parametrize("call, match", [
    (lambda: corpora.word_stream("penn-treebank"), r"Unknown corpus: 'penn-treebank'. Expected one of"),
    (lambda: corpora.word_stream("wikitext-2", "training"), r"Unknown split: 'training'. Expected one of"),
    (lambda: corpora.text("sentiment"), "language-modelling corpora"),
    (lambda: corpora.load_pos("train", source="web"), "Unknown source: 'web'"),
    (lambda: corpora.word_stream("wikitext-2", source="tfds"), "no tensorflow-datasets version"),
])
def test_bad_names_say_what_is_expected(call, match):
    with pytest.raises(CorpusError, match=match):
        call()


def test_name_and_split_aliases():
    assert corpora.canonical_name("WikiText2") == "wikitext-2"
    assert corpora.canonical_name("tiny_shakespeare") == "tiny-shakespeare"
    assert corpora.canonical_split("dev") == corpora.canonical_split("validation") == "valid"


def test_manifest_matches_the_bundled_source_md():
    manifest = json.loads(corpora.MANIFEST.read_text())
    for corpus, (folder, files, attribution) in corpora.CORPORA.items():
        recorded = corpora.sha256_from_source_md((corpora.DATA_DIR / folder / "SOURCE.md").read_text())
        for name in files.values():
            assert manifest[corpus][name]["sha256"] == recorded[name]
        for name in attribution:
            assert (corpora.DATA_DIR / folder / name).exists(), f"attribution file {name} missing"


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    """A private copy of the bundled data that a test may damage."""
    copy = tmp_path / "data"
    shutil.copytree(corpora.DATA_DIR, copy)
    monkeypatch.setattr(corpora, "DATA_DIR", copy)
    monkeypatch.setattr(corpora, "MANIFEST", copy / "MANIFEST.json")
    monkeypatch.setattr(corpora, "_VERIFIED", set())
    corpora._manifest.cache_clear()
    corpora._text.cache_clear()
    yield copy
    corpora._manifest.cache_clear()
    corpora._text.cache_clear()


def test_missing_file_names_the_file_and_the_fix(data_copy):
    (data_copy / "wikitext-2" / "valid.txt.xz").unlink()
    with pytest.raises(CorpusError, match=r"missing: .*valid.txt.xz.*Fix:"):
        corpora.word_stream("wikitext-2", "valid")


def test_truncated_xz_is_reported_as_corrupt(data_copy):
    path = data_copy / "tiny_shakespeare" / "input.txt.xz"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CorpusError, match=r"corrupt .*input.txt.xz.*Fix:"):
        corpora.char_stream("tiny-shakespeare", "train")


def test_changed_content_fails_the_checksum(data_copy):
    path = data_copy / "sentiment_labelled_sentences" / "yelp_labelled.txt.xz"
    raw = lzma.decompress(path.read_bytes()).replace(b"Wow", b"Meh", 1)
    path.write_bytes(lzma.compress(raw))
    with pytest.raises(CorpusError, match=r"failed its checksum: .*yelp_labelled.txt.xz"):
        corpora.load_sentiment("train")
    rows = {r["file"]: r for r in corpora.verify_all()}
    assert not rows["yelp_labelled.txt"]["ok"] and rows["imdb_labelled.txt"]["ok"]


def test_missing_manifest_says_reinstall(data_copy):
    (data_copy / "MANIFEST.json").unlink()
    with pytest.raises(CorpusError, match="reinstall"):
        corpora.load_pos("dev")


def test_bundle_refuses_files_that_differ_from_source_md(tmp_path):
    src = tmp_path / "shared"
    for corpus, (folder, files, attribution) in corpora.CORPORA.items():
        (src / folder).mkdir(parents=True)
        rows = []
        for name in files.values():
            payload = f"{corpus} {name}\n".encode()
            (src / folder / name).write_bytes(payload)
            rows.append(f"| {name} | {len(payload)} | `{hashlib.sha256(payload).hexdigest()}` |")
        for name in attribution:
            if name != "SOURCE.md":
                (src / folder / name).write_text("attribution\n")
        (src / folder / "SOURCE.md").write_text("| file | bytes | sha256 |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    dest = tmp_path / "bundle"
    manifest = corpora.bundle(src, dest)
    assert set(manifest) == set(corpora.CORPORA)
    assert lzma.decompress((dest / "wikitext-2" / "train.txt.xz").read_bytes()) == b"wikitext-2 train.txt\n"
    (src / "wikitext-2" / "valid.txt").write_text("tampered\n")
    with pytest.raises(CorpusError, match="does not match SOURCE.md"):
        corpora.bundle(src, tmp_path / "bundle2")


def test_default_path_never_imports_tensorflow_datasets():
    code = ("import sys; from rnn_course import corpora; corpora.word_stream('wikitext-2', 'valid'); "
            "corpora.load_pos('dev'); corpora.load_sentiment('test'); corpora.char_stream(); "
            "assert 'tensorflow_datasets' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


class _FakeDataset:
    def __init__(self, rows):
        self.rows = rows

    def as_numpy_iterator(self):
        return iter(self.rows)


def test_tfds_source_is_opt_in_and_converted(monkeypatch):
    calls = []

    class Info:
        class upos:  # noqa: N801 - mimics tfds's Sequence(ClassLabel)
            class feature:  # noqa: N801
                names = list(corpora.UPOS_TAGS)

        features = {"upos": upos}

    def fake_load(name, split):
        calls.append((name, split))
        if name == "tiny_shakespeare":
            return _FakeDataset([{"text": b"To be"}]), None
        if name == "imdb_reviews":
            return _FakeDataset([{"text": b"great", "label": 1}, {"text": b"bad", "label": 0}]), None
        return _FakeDataset([{"tokens": [b"I", b"ran"], "upos": [10, 15]}]), Info

    monkeypatch.setattr(corpora, "_tfds_load", fake_load)
    assert corpora.char_stream("tiny-shakespeare", "valid", source="tfds") == "To be"
    assert corpora.load_sentiment("test", source="tfds").labels.tolist() == [1, 0]
    pos = corpora.load_pos("dev", source="tfds")
    assert pos.words == [["I", "ran"]] and pos.tags == [["PRON", "VERB"]]
    assert calls == [("tiny_shakespeare", "validation"), ("imdb_reviews", "test"),
                     ("universal_dependencies/en_ewt", "dev")]
