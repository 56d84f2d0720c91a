"""Tokenized corpora on disk and the batches of random windows a language model trains on.

A corpus is tokenized once and cached (key: corpus hash + tokenizer hash) as two raw
``uint16``/``uint32`` token files, read back as read-only memory maps. Train and validation
are split by file. The batch for step ``s`` is a pure function of ``(seed, s)``, so a resumed
run sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from circuitlab.data.corpora import Corpus, cache_dir
from circuitlab.data.tokenizer import Tokenizer, atomic_write, tokenizer_hash
from circuitlab.errors import DataError
from circuitlab.typing import Int, Tensor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch:
    """Next-token prediction: ``targets[b, p] = inputs[b, p + 1]`` of one window."""

    inputs: Int[Tensor, "batch pos"]
    targets: Int[Tensor, "batch pos"]


@dataclass(frozen=True)
class TokenizedCorpus:
    """Token ids of the training and validation files, as read-only memory maps."""

    train: np.ndarray
    val: np.ndarray
    train_files: tuple[str, ...]
    val_files: tuple[str, ...]
    vocab_size: int


def _dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size <= 2**16 else np.dtype(np.uint32)


def _val_indices(n_docs: int, val_fraction: float) -> set[int]:
    """Evenly spaced validation files: at least one when there are two or more files."""
    if val_fraction <= 0 or n_docs < 2:
        return set()
    n_val = min(n_docs - 1, max(1, round(n_docs * val_fraction)))
    return {int((j + 0.5) * n_docs / n_val) for j in range(n_val)}


def _encode(docs: list, tokenizer: Tokenizer) -> np.ndarray:
    eot = getattr(tokenizer, "eot_id", None)
    ids: list[int] = []
    for doc in docs:
        ids.extend(tokenizer.encode(doc.text))
        if eot is not None:
            ids.append(eot)
    return np.asarray(ids, dtype=_dtype(tokenizer.vocab_size))


def tokenize_corpus(
    corpus: Corpus, tokenizer: Tokenizer, val_fraction: float = 0.1, cache: str | Path | None = None
) -> TokenizedCorpus:
    """Tokenize ``corpus`` (cached) and split it by file into train and validation.

    A one-file corpus cannot be split by file: its last ``val_fraction`` of tokens is held out.
    """
    if not 0 <= val_fraction < 1:
        raise DataError(f"val_fraction={val_fraction!r}: must be in [0, 1)")
    key = hashlib.sha256(f"{corpus.hash}|{tokenizer_hash(tokenizer)}|{val_fraction}".encode()).hexdigest()
    folder = cache_dir(cache) / "tokens" / key[:24]
    cached = _read_cached(folder, tokenizer.vocab_size)
    if cached is not None:
        return cached
    docs = list(corpus.documents)
    val_idx = _val_indices(len(docs), val_fraction)
    train_docs = [d for i, d in enumerate(docs) if i not in val_idx]
    val_docs = [d for i, d in enumerate(docs) if i in val_idx]
    train, val = _encode(train_docs, tokenizer), _encode(val_docs, tokenizer)
    if len(docs) == 1 and val_fraction > 0:
        log.info(
            "corpus %s has one file: holding out its last %.0f%% of tokens", corpus.source, 100 * val_fraction
        )
        cut = int(len(train) * (1 - val_fraction))
        train, val = train[:cut], train[cut:]
    atomic_write(folder / "train.bin", train.tobytes())
    atomic_write(folder / "val.bin", val.tobytes())
    meta = {
        "vocab_size": tokenizer.vocab_size,
        "dtype": train.dtype.name,
        "n_train": len(train),
        "n_val": len(val),
        "train_files": [d.name for d in train_docs],
        "val_files": [d.name for d in val_docs],
    }
    atomic_write(folder / "meta.json", json.dumps(meta).encode())
    return _read_cached(folder, tokenizer.vocab_size)


def _read_cached(folder: Path, vocab_size: int) -> TokenizedCorpus | None:
    """The cached token files, or None when absent or inconsistent (they are then rebuilt)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        dtype = np.dtype(meta["dtype"])
        if meta["vocab_size"] != vocab_size or dtype != _dtype(vocab_size):
            return None
        arrays = []
        for part in ("train", "val"):
            n, path = int(meta[f"n_{part}"]), folder / f"{part}.bin"
            if path.stat().st_size != n * dtype.itemsize:
                return None
            arrays.append(np.memmap(path, dtype=dtype, mode="r", shape=(n,)) if n else np.zeros(0, dtype))
        return TokenizedCorpus(
            arrays[0],
            arrays[1],
            tuple(meta["train_files"]),
            tuple(meta["val_files"]),
            int(meta["vocab_size"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class WindowBatches:
    """Random windows of ``n_ctx + 1`` tokens; ``batches(step)`` depends only on (seed, stream, step).

    ``batches(step) -> Batch`` with ``inputs, targets: int64 [batch_size, n_ctx]``.
    """

    def __init__(
        self, tokens: np.ndarray, batch_size: int, n_ctx: int, seed: int = 0, stream: int = 0
    ) -> None:
        for name, value in (("batch_size", batch_size), ("n_ctx", n_ctx)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f"WindowBatches {name}={value!r}: must be an integer >= 1")
        if len(tokens) < n_ctx + 1:
            raise DataError(
                f"token array of {len(tokens)} tokens is shorter than one window of n_ctx+1="
                f"{n_ctx + 1}; use a larger corpus (or max_bytes) or a smaller n_ctx"
            )
        self.tokens, self.batch_size, self.n_ctx = tokens, batch_size, n_ctx
        self.seed, self.stream = seed, stream

    def draw_starts(self, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` window starts, uniform over the corpus."""
        return rng.integers(0, len(self.tokens) - self.n_ctx, size=self.batch_size)

    def windows(self, step: int) -> Int[Tensor, "batch pos"]:
        """The step's windows ``[batch_size, n_ctx + 1]`` as int64."""
        starts = self.draw_starts(np.random.default_rng([self.seed, self.stream, step]))
        rows = np.stack([np.asarray(self.tokens[s : s + self.n_ctx + 1]) for s in starts])
        return torch.from_numpy(rows.astype(np.int64))

    def __call__(self, step: int) -> Batch:
        w = self.windows(step)
        return Batch(inputs=w[:, :-1], targets=w[:, 1:])
