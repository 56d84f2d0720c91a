"""Train (or reload) the 2-layer induction model with the recipe, tracking its heads.

The checkpoint goes to ``<run>/checkpoints/two_layer_induction`` (``two_layer_induction-<hash>``
for any corpus but the embedded one: :meth:`CorpusData.checkpoint_name`) and the score history
beside it (``induction_history.json``, keyed by the recipe), so a second run reloads both instead
of training again unless ``ctx.fresh``; a model trained on one corpus is never reloaded for another.
A folder holding a model that cannot be reloaded (another recipe, a history scored with the older
induction measure, an interrupted run) is moved to ``<folder>.previous`` before training.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from circuitlab.circuits import repeated_random_tokens
from circuitlab.data import WindowBatches
from circuitlab.data.selection import RepetitionRichWindows
from circuitlab.data.synthetic import RepeatedPassageBatches
from circuitlab.experiments.base import CorpusData, RunContext, corpus_data
from circuitlab.experiments.induction.recipe import INDUCTION_THRESHOLD, InductionRecipe
from circuitlab.files import atomic_write_json, set_aside
from circuitlab.training import train
from circuitlab.training.batches import next_token_loss
from circuitlab.training.cached import finished_model
from circuitlab.training.induction_tracker import InductionTracker, ScorePoint
from circuitlab.transformer import Transformer

NAME = "two_layer_induction"
HALF = 50  # length of R in the BOS + R + R sequences the heads are scored on
N_SCORE_ROWS = 16


@dataclass(frozen=True)
class TrainedInduction:
    """The trained model, its score history and how long training took (0 when reloaded)."""

    model: Transformer
    recipe: InductionRecipe
    data: CorpusData
    history: list[ScorePoint]
    tokens_seen: int
    train_seconds: float
    tokens_per_s: float
    reloaded: bool


def scoring_tokens(recipe: InductionRecipe, bos: int | None, seed: int = 1234) -> torch.Tensor:
    """BOS + R + R, ``[16, 2 * half + 1]``, R of ``half = min(50, (n_ctx - 1) // 2)`` ids of the
    recipe's vocabulary other than the BOS."""
    half = min(HALF, (recipe.model.n_ctx - 1) // 2)
    return repeated_random_tokens(recipe.vocab_size, half, N_SCORE_ROWS, seed=seed, bos=bos)


def bos_id(data: CorpusData) -> int | None:
    """The id that starts the sequences the model is probed with (the scoring tokens, the
    attention viewer's sample): the tokenizer's end-of-text, or for a character tokenizer (which
    has none) the newline that starts every line of text."""
    eot = getattr(data.tokenizer, "eot_id", None)
    if eot is None and data.tokenizer.kind == "char":
        (eot,) = data.tokenizer.encode("\n")
    return eot


def text_windows(data: CorpusData, n_ctx: int, rows: int = 64, seed: int = 7) -> torch.Tensor:
    """``rows`` validation windows of real text, ``[rows, n_ctx]``, for the in-context-learning score."""
    source = data.tokens.val if len(data.tokens.val) > n_ctx + 1 else data.tokens.train
    return WindowBatches(source, rows, n_ctx, seed=seed, stream=2)(0).inputs


def train_induction(ctx: RunContext, recipe: InductionRecipe) -> TrainedInduction:
    """Train the recipe's model on its corpus (or reload it), scoring heads as it trains."""
    ctx.report(0.0, "two_layer_induction: tokenizing the corpus")
    data = corpus_data(
        recipe.corpus, recipe.vocab_size, max_bytes=recipe.max_bytes, tokenizer=recipe.tokenizer
    )
    reloaded = _reload(ctx, recipe, data)
    if reloaded is not None:
        return reloaded
    set_aside(checkpoint_dir(ctx, data))  # a model that cannot be reloaded is kept, not overwritten
    model = Transformer(recipe.model)
    repeated, text = scoring_tokens(recipe, bos_id(data)), text_windows(data, recipe.model.n_ctx)
    tracker = InductionTracker(repeated, text, recipe.eval_every, threshold=INDUCTION_THRESHOLD)
    start = time.perf_counter()
    result = train(
        model,
        next_token_loss,
        training_batches(recipe, data),
        recipe.train,
        callbacks=[tracker, _Progress(ctx, recipe.train.steps, tracker)],
        out_dir=checkpoint_dir(ctx, data),
        tokenizer=data.tokenizer,
    )
    seconds = time.perf_counter() - start
    if not tracker.history or tracker.history[-1].step != result.step:
        tracker.record(model, result.step, result.step * recipe.tokens_per_step, result.final_loss or 0.0)
    tokens = result.step * recipe.tokens_per_step
    saved = {"history": tracker.to_rows(), "induction_measure": tracker.measure, "tokens_seen": tokens,
             "train_seconds": seconds, "tokens_per_s": result.tokens_per_s}  # fmt: skip
    atomic_write_json(_history_path(ctx, data), {"recipe": recipe.to_dict(), **saved})
    return TrainedInduction(
        model.eval(), recipe, data, tracker.history, tokens, seconds, result.tokens_per_s, False
    )


def training_batches(recipe: InductionRecipe, data: CorpusData) -> WindowBatches | RepeatedPassageBatches:
    """Windows of the corpus (from the ``select_fraction`` richest in repeated 8-grams when it is
    set); in ``repeat_fraction`` of them a ``passage`` repeated later."""
    shape = (data.tokens.train, recipe.train.batch_size, recipe.model.n_ctx)
    base = (
        RepetitionRichWindows(*shape, seed=recipe.train.seed, fraction=recipe.select_fraction)
        if recipe.select_fraction
        else WindowBatches(*shape, seed=recipe.train.seed)
    )
    if recipe.repeat_fraction == 0:
        return base
    return RepeatedPassageBatches(
        base, fraction=recipe.repeat_fraction, seed=recipe.train.seed, passage=recipe.passage,
        d_vocab=recipe.model.d_vocab,
    )  # fmt: skip


def checkpoint_dir(ctx: RunContext, data: CorpusData) -> Path:
    """``<run>/checkpoints/two_layer_induction``, suffixed with the corpus's hash unless it is stdlib."""
    return ctx.out_dir / "checkpoints" / data.checkpoint_name(NAME)


def _history_path(ctx: RunContext, data: CorpusData) -> Path:
    path = checkpoint_dir(ctx, data) / "induction_history.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _reload(ctx: RunContext, recipe: InductionRecipe, data: CorpusData) -> TrainedInduction | None:
    """The finished model and its history when both were saved for this very recipe and the
    history's induction score is the tracker's (older histories scored every repeated row)."""
    saved = None if ctx.fresh else _saved_history(_history_path(ctx, data))
    if saved is None or not _same_recipe(saved.get("recipe"), recipe):
        return None
    if saved.get("induction_measure") != InductionTracker.measure:
        return None
    model = finished_model(checkpoint_dir(ctx, data), recipe.model, recipe.train.steps, ctx.device)
    if model is None:
        return None
    history = [ScorePoint(**row) for row in saved["history"]]
    return TrainedInduction(
        model.eval(), recipe, data, history, saved["tokens_seen"], saved["train_seconds"], saved["tokens_per_s"],
        reloaded=True,
    )  # fmt: skip


def _same_recipe(saved: Any, recipe: InductionRecipe) -> bool:
    """The saved recipe is this one; its corpus may be spelled differently (the checkpoint folder is
    already keyed by the corpus's text), and a history saved before the tokenizer and window
    selection were recorded used BPE on every window."""
    if not isinstance(saved, dict):
        return False
    older = {"tokenizer": "bpe", "select_fraction": 0.0}  # histories saved before these fields existed
    return {**older, **saved, "corpus": None} == {**recipe.to_dict(), "corpus": None}


def _saved_history(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text()) if path.is_file() else None
    except (ValueError, OSError):
        return None


class _Progress:
    """Reports training progress (the first 85% of the experiment) with the latest scores."""

    def __init__(self, ctx: RunContext, steps: int, tracker: InductionTracker) -> None:
        self.ctx, self.steps, self.tracker = ctx, steps, tracker

    def on_step(self, state) -> None:
        if state.step % 25 == 0 or state.step == self.steps:
            last = self.tracker.history[-1] if self.tracker.history else None
            scores = f", induction {last.induction:.2f}, prev-token {last.previous_token:.2f}" if last else ""
            self.ctx.report(
                0.85 * state.step / self.steps,
                f"two_layer_induction: step {state.step}/{self.steps}, loss {state.loss:.3f}{scores}",
            )


__all__ = [
    "HALF",
    "NAME",
    "TrainedInduction",
    "checkpoint_dir",
    "bos_id",
    "scoring_tokens",
    "text_windows",
    "train_induction",
]
