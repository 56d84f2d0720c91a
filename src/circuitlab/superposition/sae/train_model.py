"""Training an SAE on a model's activations: all at once (``train_sae``) or streamed from an
ActivationStore or a ShardStore (``train_sae_on_store``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from torch import Tensor

from circuitlab.errors import ShapeError
from circuitlab.hooks import HookedModule
from circuitlab.superposition.sae.config import SAEConfig
from circuitlab.superposition.sae.evaluate import evaluate_sae
from circuitlab.superposition.sae.model import SAELoss
from circuitlab.superposition.sae.store import collect_activations
from circuitlab.superposition.sae.train import SAETrainer, SAETrainResult, fit, train_sae_on_activations


def train_sae(
    model: HookedModule, hook_name: str, batches: Iterable[Any] | Tensor, cfg: SAEConfig
) -> SAETrainResult:
    """Read ``hook_name`` from ``model`` on ``batches`` through ``run_with_cache`` and train an SAE
    on it. An unknown ``hook_name`` raises ``HookNameError`` from the hook system."""
    acts = collect_activations(model, hook_name, batches)
    return train_sae_on_activations(acts, cfg, hook_name=hook_name)


def train_sae_on_store(
    store: Any,
    cfg: SAEConfig,
    trainer: SAETrainer | None = None,
    on_step: Callable[[SAETrainer, SAELoss], None] | None = None,
    stop_at: int | None = None,
) -> SAETrainResult:
    """Train (or, given a restored ``trainer``, continue) an SAE on ``store.next_batch()`` batches up
    to ``cfg.steps`` (or step ``stop_at``); b_dec starts at the mean of the first buffer; metrics on
    the last buffer."""
    if store.d_in is not None and store.d_in != cfg.d_in:
        raise ShapeError(
            f"the activations are of width {store.d_in} but the SAE has d_in={cfg.d_in}; "
            f"set SAEConfig(d_in={store.d_in})"
        )
    pool = store.pool()
    trainer = trainer if trainer is not None else SAETrainer(cfg, device=pool.device)
    if trainer.step == 0:
        trainer.init_b_dec(pool)
    start = time.perf_counter()
    fit(trainer, store.next_batch, store.pool, trainer.gen, on_step, stop_at)
    return SAETrainResult(
        sae=trainer.sae,
        metrics=evaluate_sae(trainer.sae, store.pool()),
        loss_history=trainer.history,
        resampled=trainer.resampled,
        seconds=time.perf_counter() - start,
        hook_name=getattr(store, "hook_name", None),
    )
