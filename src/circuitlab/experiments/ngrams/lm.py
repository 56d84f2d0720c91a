"""The 0- and 1-layer language models of the n-gram claims, trained on the corpus and cached.

Both train on the first ``CORPUS_BYTES`` of the run's corpus (``ctx.corpus``: by default the
Python standard library, sorted file order), BPE vocabulary 1024, context 128, AdamW lr 1e-2
decaying to 1e-3, batch 32. A trained model is saved under ``<run>/checkpoints/<name>`` (with the
corpus's hash appended for any corpus but the embedded one, :meth:`CorpusData.checkpoint_name`)
and loaded from there on the next run unless ``ctx.fresh``
(:func:`circuitlab.training.cached.train_or_load`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from circuitlab.data import WindowBatches
from circuitlab.experiments.base import CorpusData, RunContext, corpus_data
from circuitlab.training import TrainConfig
from circuitlab.training.batches import next_token_loss
from circuitlab.training.cached import train_or_load
from circuitlab.transformer import Transformer, TransformerConfig

VOCAB, N_CTX = 1024, 128
CORPUS_BYTES = 4_000_000  # the first 4 MB of the corpus, in sorted file order
QUICK_STEPS = {"zero_layer": 300, "one_layer": 400}  # the full profile trains 4x longer


def zero_layer_config(seed: int = 0) -> TransformerConfig:
    return TransformerConfig(
        n_layers=0, d_model=256, n_heads=1, d_head=1, d_vocab=VOCAB, n_ctx=N_CTX, positional="none", seed=seed
    )


def one_layer_config(seed: int = 0) -> TransformerConfig:
    return TransformerConfig(
        n_layers=1, d_model=256, n_heads=8, d_head=32, d_vocab=VOCAB, n_ctx=N_CTX, positional="shortformer",
        seed=seed,
    )  # fmt: skip


def corpus(source: str = "stdlib") -> CorpusData:
    """The tokenized corpus both models train on: ``"stdlib"`` or a text file, folder or glob."""
    return corpus_data(source, vocab_size=VOCAB, max_bytes=CORPUS_BYTES)


def train_config(ctx: RunContext, name: str) -> TrainConfig:
    steps = QUICK_STEPS[name] * (1 if ctx.profile == "quick" else 4)
    return TrainConfig(
        steps=steps,
        lr=1e-2,
        min_lr=1e-3,
        warmup=min(50, steps // 5),
        batch_size=32,
        eval_every=0,
        checkpoint_every=max(50, steps // 4),
        seed=ctx.seed,
        device=ctx.device,
        progress=False,
    )


@dataclass(frozen=True)
class TrainedLM:
    """A trained (or reloaded) model and how it was trained. ``result`` is None when reloaded."""

    model: Transformer
    result: Any
    reloaded: bool
    tokens_seen: int


def zero_layer_model(ctx: RunContext, data: CorpusData) -> TrainedLM:
    return train_lm(ctx, "zero_layer", zero_layer_config(ctx.seed), data)


def one_layer_model(ctx: RunContext, data: CorpusData) -> TrainedLM:
    return train_lm(ctx, "one_layer", one_layer_config(ctx.seed), data)


def train_lm(
    ctx: RunContext, name: str, model_cfg: TransformerConfig, data: CorpusData, callbacks: Sequence[Any] = ()
) -> TrainedLM:
    """Train ``model_cfg`` on ``data`` into ``checkpoints/<name>``, or reload it from there.

    A Ctrl-C saves the checkpoint and raises KeyboardInterrupt: a half-trained model is no result,
    and the next run resumes it.
    """
    train_cfg = train_config(ctx, name)
    batches = WindowBatches(data.tokens.train, train_cfg.batch_size, model_cfg.n_ctx, seed=train_cfg.seed)
    val = WindowBatches(data.tokens.val, train_cfg.batch_size, model_cfg.n_ctx, seed=train_cfg.seed, stream=1)
    trained = train_or_load(
        Transformer,
        model_cfg,
        next_token_loss,
        batches,
        train_cfg,
        ctx.out_dir / "checkpoints" / data.checkpoint_name(name),
        fresh=ctx.fresh,
        val_batches=val,
        callbacks=[_Progress(ctx, train_cfg.steps, name), *callbacks],
        tokenizer=data.tokenizer,
    )
    if trained.result is not None and trained.result.interrupted:
        raise KeyboardInterrupt(f"training of {name} stopped at step {trained.result.step}; rerun to resume")
    tokens_seen = train_cfg.steps * train_cfg.batch_size * model_cfg.n_ctx
    return TrainedLM(trained.model, trained.result, trained.reloaded, tokens_seen)


class _Progress:
    def __init__(self, ctx: RunContext, steps: int, name: str) -> None:
        self.ctx, self.steps, self.name = ctx, steps, name

    def on_step(self, state) -> None:
        if state.step % 10 == 0 or state.step == self.steps:
            self.ctx.report(
                state.step / self.steps, f"{self.name}: step {state.step}/{self.steps} loss {state.loss:.3f}"
            )
