"""Language models for the experiments: the embedded corpus, a tokenizer, and cached training.

Every transformer claim trains on the same data: the Python standard library source of the
interpreter that runs circuitlab, BPE-tokenized. A trained model is saved under
``<run>/checkpoints/<name>`` and loaded from there on the next run unless ``ctx.fresh``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from circuitlab.data import (
    TokenizedCorpus,
    Tokenizer,
    WindowBatches,
    load_corpus,
    tokenize_corpus,
    train_tokenizer,
)
from circuitlab.experiments.base import RunContext
from circuitlab.training import TrainConfig
from circuitlab.training.batches import next_token_loss
from circuitlab.training.cached import train_or_load
from circuitlab.transformer import Transformer, TransformerConfig


@dataclass(frozen=True)
class CorpusData:
    """The tokenizer and the tokenized train/validation split of the corpus."""

    tokenizer: Tokenizer
    tokens: TokenizedCorpus
    source: str
    n_bytes: int


def corpus_data(
    source: str = "stdlib", vocab_size: int = 1024, max_bytes: int | None = 4_000_000
) -> CorpusData:
    """Load, BPE-tokenize and split the corpus (all three cached by content hash)."""
    corpus = load_corpus(source, max_bytes=max_bytes)
    tokenizer = train_tokenizer(corpus, "bpe", vocab_size)
    n_bytes = sum(len(d.text.encode()) for d in corpus.documents)
    return CorpusData(tokenizer, tokenize_corpus(corpus, tokenizer), source, n_bytes)


@dataclass(frozen=True)
class TrainedLM:
    """A trained (or reloaded) model and how it was trained. ``result`` is None when reloaded."""

    model: Transformer
    result: Any
    reloaded: bool
    tokens_seen: int


def train_lm(
    ctx: RunContext,
    name: str,
    model_cfg: TransformerConfig,
    train_cfg: TrainConfig,
    data: CorpusData,
    callbacks: Sequence[Any] = (),
) -> TrainedLM:
    """Train ``model_cfg`` on ``data`` with ``train_cfg``, or reload ``checkpoints/<name>``.

    A checkpoint is reused only if its config equals ``model_cfg`` and it finished all steps;
    an unfinished one is resumed (``resume=True``), so an interrupted run picks up where it stopped.
    """
    tokens_seen = train_cfg.steps * train_cfg.batch_size * model_cfg.n_ctx
    batches = WindowBatches(data.tokens.train, train_cfg.batch_size, model_cfg.n_ctx, seed=train_cfg.seed)
    val = WindowBatches(data.tokens.val, train_cfg.batch_size, model_cfg.n_ctx, seed=train_cfg.seed, stream=1)
    trained = train_or_load(
        Transformer,
        model_cfg,
        next_token_loss,
        batches,
        train_cfg,
        ctx.out_dir / "checkpoints" / name,
        fresh=ctx.fresh,
        val_batches=val,
        callbacks=[_ProgressCallback(ctx, train_cfg.steps, name), *callbacks],
        tokenizer=data.tokenizer,
    )
    if trained.result is not None and trained.result.interrupted:  # Ctrl-C: a half-trained model is no result
        raise KeyboardInterrupt(f"training of {name} stopped at step {trained.result.step}; rerun to resume")
    return TrainedLM(trained.model, trained.result, trained.reloaded, tokens_seen)


class _ProgressCallback:
    def __init__(self, ctx: RunContext, steps: int, name: str) -> None:
        self.ctx, self.steps, self.name = ctx, steps, name

    def on_step(self, state) -> None:
        if state.step % 10 == 0 or state.step == self.steps:
            self.ctx.report(
                state.step / self.steps, f"{self.name}: step {state.step}/{self.steps} loss {state.loss:.3f}"
            )
