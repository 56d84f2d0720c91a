"""Tokenized corpora (memory-mapped, cached, split by file) and reproducible window batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuitlab.data import CharTokenizer, Corpus, Document, WindowBatches, tokenize_corpus, train_tokenizer
from circuitlab.errors import DataError


@pytest.fixture
def corpus() -> Corpus:
    docs = tuple(Document(f"f{i:02d}.py", f"def f{i}(x):\n    return x * {i}\n" * 5) for i in range(10))
    return Corpus("test", docs)


def test_split_is_by_file_and_tokens_are_the_concatenated_encodings(tmp_path, corpus) -> None:
    tok = train_tokenizer(corpus, "bpe", 280, cache=tmp_path)
    data = tokenize_corpus(corpus, tok, val_fraction=0.2, cache=tmp_path)
    names = [d.name for d in corpus.documents]
    assert len(data.val_files) == 2 and set(data.train_files) | set(data.val_files) == set(names)
    assert not set(data.train_files) & set(data.val_files)
    by_name = {d.name: d.text for d in corpus.documents}
    expected = [i for n in data.train_files for i in tok.encode(by_name[n]) + [tok.eot_id]]
    assert data.train.tolist() == expected
    assert len(data.val) == sum(len(tok.encode(by_name[n])) + 1 for n in data.val_files)


def test_tokens_are_read_only_uint16_memory_maps(tmp_path, corpus) -> None:
    data = tokenize_corpus(corpus, CharTokenizer.train(corpus), cache=tmp_path)
    assert isinstance(data.train, np.memmap) and data.train.dtype == np.uint16
    with pytest.raises(ValueError):
        data.train[0] = 1


def test_tokenized_corpus_is_cached_by_corpus_and_tokenizer(tmp_path, corpus, monkeypatch) -> None:
    tok = CharTokenizer.train(corpus)
    first = tokenize_corpus(corpus, tok, cache=tmp_path)
    monkeypatch.setattr(tok, "encode", lambda text: (_ for _ in ()).throw(AssertionError("re-encoded")))
    again = tokenize_corpus(corpus, tok, cache=tmp_path)
    np.testing.assert_array_equal(again.train, first.train)
    changed = Corpus("test", corpus.documents[:-1])
    with pytest.raises(AssertionError, match="re-encoded"):
        tokenize_corpus(changed, tok, cache=tmp_path)


def test_a_damaged_cache_is_rebuilt(tmp_path, corpus) -> None:
    tok = CharTokenizer.train(corpus)
    first = tokenize_corpus(corpus, tok, cache=tmp_path)
    expected = np.array(first.train)
    (bin_file,) = (tmp_path / "tokens").glob("*/train.bin")
    bin_file.write_bytes(bin_file.read_bytes()[:10])
    np.testing.assert_array_equal(tokenize_corpus(corpus, tok, cache=tmp_path).train, expected)


def test_one_file_corpus_holds_out_its_tail(tmp_path) -> None:
    corpus = Corpus("one", (Document("only.txt", "abcdefghij" * 10),))
    tok = CharTokenizer.train(corpus)
    data = tokenize_corpus(corpus, tok, val_fraction=0.1, cache=tmp_path)
    assert (len(data.train), len(data.val)) == (90, 10)
    assert tok.decode(data.val.tolist()) == "abcdefghij"


def test_batch_for_a_step_is_a_pure_function_of_seed_and_step() -> None:
    tokens = np.arange(1000, dtype=np.uint16)
    a, b = WindowBatches(tokens, 4, 16, seed=3), WindowBatches(tokens, 4, 16, seed=3)
    torch.testing.assert_close(a(7).inputs, b(7).inputs, rtol=0, atol=0)
    torch.testing.assert_close(a(7).inputs, a(7).inputs, rtol=0, atol=0)
    assert not torch.equal(a(7).inputs, a(8).inputs)
    assert not torch.equal(a(7).inputs, WindowBatches(tokens, 4, 16, seed=4)(7).inputs)
    assert not torch.equal(a(7).inputs, WindowBatches(tokens, 4, 16, seed=3, stream=1)(7).inputs)


def test_windows_are_contiguous_and_targets_are_inputs_shifted_by_one() -> None:
    tokens = np.arange(500, dtype=np.uint16)
    batch = WindowBatches(tokens, 8, 12, seed=0)(0)
    assert batch.inputs.shape == batch.targets.shape == (8, 12) and batch.inputs.dtype == torch.int64
    torch.testing.assert_close(batch.targets[:, :-1], batch.inputs[:, 1:], rtol=0, atol=0)
    steps = torch.diff(torch.cat([batch.inputs, batch.targets[:, -1:]], dim=1), dim=1)
    assert torch.all(steps == 1)
    assert batch.targets.max() < 500


def test_token_array_shorter_than_a_window_is_a_data_error() -> None:
    with pytest.raises(DataError, match="smaller n_ctx"):
        WindowBatches(np.arange(10, dtype=np.uint16), 2, 10)


@pytest.mark.parametrize("val_fraction", [-0.1, 1.0], ids=["negative", "one"])
def test_val_fraction_outside_unit_interval_is_refused(tmp_path, corpus, val_fraction) -> None:
    with pytest.raises(DataError, match="val_fraction"):
        tokenize_corpus(corpus, CharTokenizer.train(corpus), val_fraction, cache=tmp_path)
