"""Tokenizers: exact round trips, deterministic training, caching, validated files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from circuitlab.data import (
    BPETokenizer,
    CharTokenizer,
    Corpus,
    Document,
    Tokenizer,
    load_tokenizer,
    tokenizer_hash,
    train_tokenizer,
)
from circuitlab.errors import DataError

TEXT = "def add(a, b):\n    return a + b\n\nclass Point:\n    x: int = 0\n" * 20


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return Corpus("test", (Document("a.py", TEXT), Document("b.py", "print('héllo wörld')\n" * 30)))


@pytest.fixture(scope="module")
def bpe(corpus) -> BPETokenizer:
    return BPETokenizer.train(corpus, vocab_size=300)


@pytest.mark.parametrize(
    "text",
    ["def add(a, b):", "ünïcödé ✓ 数学", "", "\t\n  \r\n", "never seen: ~`@#$%^&*"],
    ids=["code", "unicode", "empty", "whitespace", "unseen-chars"],
)
def test_bpe_decode_inverts_encode_exactly(bpe, text) -> None:
    assert bpe.decode(bpe.encode(text)) == text


def test_bpe_learns_merges_up_to_the_vocab_size(bpe) -> None:
    assert 257 < bpe.vocab_size <= 300
    assert len(bpe.encode(TEXT)) < len(TEXT.encode("utf-8")) / 2
    assert isinstance(bpe, Tokenizer) and bpe.eot_id is not None


def test_bpe_training_is_deterministic(corpus, bpe) -> None:
    assert BPETokenizer.train(corpus, vocab_size=300).to_str() == bpe.to_str()


def test_char_tokenizer_round_trips_and_maps_unseen_chars_to_unk(corpus) -> None:
    tok = CharTokenizer.train(corpus)
    assert tok.vocab_size == len(set(corpus.text)) + 1
    assert tok.decode(tok.encode("def add")) == "def add"
    assert tok.encode("Z")[0] == 0 and tok.decode([0]) == "<unk>"


def test_printable_tokenizer_is_fixed_ascii_with_unk_for_the_rest(tmp_path, corpus) -> None:
    tok = train_tokenizer(corpus, "printable", 300, cache=tmp_path / "cache")
    assert tok.vocab_size == 98 and tok.chars == CharTokenizer.printable().chars
    assert tok.decode(tok.encode("def f(x):\n\treturn x")) == "def f(x):\n\treturn x"
    assert tok.encode("\r\x0c\u00e9") == [0, 0, 0]  # carriage return, form feed, non-ASCII: <unk>
    assert not (tmp_path / "cache").exists()  # nothing trained, nothing cached


@pytest.mark.parametrize("kind", ["bpe", "char", "printable"])
def test_saved_tokenizer_loads_with_identical_encodings(tmp_path, corpus, kind) -> None:
    tok = train_tokenizer(corpus, kind, 300, cache=tmp_path / "cache")
    tok.save(tmp_path / "tokenizer.json")
    back = load_tokenizer(tmp_path / "tokenizer.json")
    assert type(back) is type(tok) and back.vocab_size == tok.vocab_size
    assert back.encode(TEXT) == tok.encode(TEXT)
    assert tokenizer_hash(back) == tokenizer_hash(tok)


def test_trained_tokenizer_is_cached_by_corpus_hash(tmp_path, corpus, monkeypatch) -> None:
    first = train_tokenizer(corpus, "bpe", 300, cache=tmp_path)
    assert len(list((tmp_path / "tokenizers").glob("*.json"))) == 1

    def fail(*args, **kwargs):
        raise AssertionError("retrained instead of using the cache")

    monkeypatch.setattr(BPETokenizer, "train", fail)
    assert train_tokenizer(corpus, "bpe", 300, cache=tmp_path).to_str() == first.to_str()
    other = Corpus("other", (Document("c.py", "x = 1\n"),))
    with pytest.raises(AssertionError, match="retrained"):
        train_tokenizer(other, "bpe", 300, cache=tmp_path)


def _bpe_json(bpe: BPETokenizer) -> dict:
    return json.loads(bpe.to_str())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda b: b"{not json", "not valid JSON"),
        (lambda b: b.to_str().encode()[:200], "not valid JSON"),
        (lambda b: b"[1, 2, 3]", "JSON object"),
        (lambda b: json.dumps({**_bpe_json(b), "model": {"type": "WordPiece"}}).encode(), "not a BPE"),
        (
            lambda b: json.dumps(
                {**_bpe_json(b), "model": {**_bpe_json(b)["model"], "vocab": {"a": 0, "b": 5}}}
            ).encode(),
            "0..1",
        ),
        (
            lambda b: json.dumps({"circuitlab_tokenizer": "char", "version": 1, "chars": ["ab"]}).encode(),
            "character tokenizer",
        ),
        (lambda b: b"\xff\xfe\x00", "UTF-8"),
    ],
    ids=[
        "garbage",
        "truncated",
        "json-list",
        "wrong-model-type",
        "gappy-vocab-ids",
        "bad-char-table",
        "binary",
    ],
)
def test_corrupt_tokenizer_file_is_a_data_error_naming_the_file(tmp_path, bpe, content, message) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content(bpe))
    with pytest.raises(DataError, match=message) as err:
        load_tokenizer(path)
    assert str(path) in str(err.value)


def test_missing_tokenizer_file_is_a_data_error(tmp_path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_tokenizer(tmp_path / "nope.json")


def test_loading_a_char_file_as_bpe_is_refused(tmp_path, corpus) -> None:
    CharTokenizer.train(corpus).save(tmp_path / "t.json")
    with pytest.raises(DataError, match="not a BPE tokenizer"):
        BPETokenizer.load(tmp_path / "t.json")
    assert isinstance(CharTokenizer.load(Path(tmp_path / "t.json")), CharTokenizer)


def test_too_small_bpe_vocab_is_refused(corpus) -> None:
    with pytest.raises(DataError, match="vocab_size"):
        BPETokenizer.train(corpus, vocab_size=100)
