"""Data: corpora (stdlib source by default), tokenizers, tokenized corpora and batches."""

from circuitlab.data.corpora import STDLIB, Corpus, Document, cache_dir, load_corpus, stdlib_files
from circuitlab.data.datasets import Batch, TokenizedCorpus, WindowBatches, tokenize_corpus
from circuitlab.data.selection import RepetitionRichWindows, repeat_flags
from circuitlab.data.tokenizer import (
    BPETokenizer,
    CharTokenizer,
    Tokenizer,
    load_tokenizer,
    tokenizer_from_str,
    tokenizer_hash,
    train_tokenizer,
)

__all__ = [
    "STDLIB",
    "Batch",
    "BPETokenizer",
    "CharTokenizer",
    "Corpus",
    "Document",
    "RepetitionRichWindows",
    "TokenizedCorpus",
    "Tokenizer",
    "WindowBatches",
    "cache_dir",
    "load_corpus",
    "load_tokenizer",
    "repeat_flags",
    "stdlib_files",
    "tokenize_corpus",
    "tokenizer_from_str",
    "tokenizer_hash",
    "train_tokenizer",
]
