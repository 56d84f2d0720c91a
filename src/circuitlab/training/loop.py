"""A training loop that knows no model (in the manner of minGPT's Trainer).

``train(model, loss_fn, train_batches, cfg)`` runs AdamW with linear warmup and a cosine decay,
gradient clipping and accumulation, evaluation every ``eval_every`` steps, callbacks, a progress
bar, metrics as JSON lines and crash-safe checkpoints. ``train_batches(step)`` returns the global
batch of optimizer step ``step``; because it is a pure function of the step, a resumed run sees
the same data, and ``resume=True`` reproduces an uninterrupted run bitwise on CPU.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from tqdm import tqdm  # tqdm.auto warns in kernels without ipywidgets

from circuitlab.data.tokenizer import Tokenizer
from circuitlab.errors import TrainingError
from circuitlab.training import distributed
from circuitlab.training.batches import batch_rows, make_optimizer, map_tensors, split_batch
from circuitlab.training.bookkeeping import Run, prepare_out
from circuitlab.training.config import TrainConfig

LossFn = Callable[[nn.Module, Any], Tensor]


@dataclass
class TrainState:
    """What a callback sees after each optimizer step (``step`` steps are done)."""

    step: int
    loss: float
    lr: float
    tokens_seen: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class TrainResult:
    """``losses[i]`` is the mean training loss of step ``start_step + i + 1``."""

    start_step: int
    step: int
    losses: tuple[float, ...]
    evals: tuple[dict[str, float], ...]
    checkpoint: Path | None
    interrupted: bool
    tokens_per_s: float

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None


def _step(run: Run, ddp_model: nn.Module, loss_fn: LossFn, batch: Any) -> Tensor:
    """Forward and backward over the rank's micro batches; return the global mean loss."""
    cfg, ctx = run.cfg, run.ctx
    local = split_batch(batch, ctx.world_size, ctx.rank)
    run.optimizer.zero_grad(set_to_none=True)
    total = torch.zeros((), device=ctx.device)
    for i in range(cfg.grad_accum):
        micro = map_tensors(split_batch(local, cfg.grad_accum, i), lambda t: t.to(ctx.device))
        last = i == cfg.grad_accum - 1
        with nullcontext() if last or not ctx.distributed else ddp_model.no_sync():
            loss = loss_fn(ddp_model, micro)
            (loss / cfg.grad_accum).backward()
        total += loss.detach().float()
    return ctx.mean(total / cfg.grad_accum)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loss_fn: LossFn,
    val_batches: Callable[[int], Any],
    n_batches: int,
    ctx: distributed.DistContext | None = None,
) -> float:
    """Mean loss over validation batches ``val_batches(0 .. n_batches - 1)``."""
    ctx = ctx or distributed.DistContext(0, 1, 0, next(model.parameters()).device)
    was_training = model.training
    model.eval()
    total = torch.zeros((), device=ctx.device)
    for i in range(n_batches):
        local = split_batch(val_batches(i), ctx.world_size, ctx.rank)
        total += loss_fn(model, map_tensors(local, lambda t: t.to(ctx.device))).float()
    model.train(was_training)
    return float(ctx.mean(total / n_batches))


class _StopOnSigint:
    """While active, Ctrl-C asks the loop to stop after the current step (a second one aborts)."""

    def __init__(self, run: Run) -> None:
        self.run, self.previous = run, None

    def __enter__(self) -> _StopOnSigint:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.run.stop_requested = True
        signal.signal(signal.SIGINT, self.previous or signal.default_int_handler)

    def __exit__(self, *exc: Any) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def train(
    model: nn.Module,
    loss_fn: LossFn,
    train_batches: Callable[[int], Any],
    cfg: TrainConfig,
    val_batches: Callable[[int], Any] | None = None,
    callbacks: Sequence[Any] = (),
    out_dir: str | Path | None = None,
    resume: bool = False,
    tokenizer: Tokenizer | None = None,
) -> TrainResult:
    """Train ``model`` for ``cfg.steps`` optimizer steps and return a ``TrainResult``.

    ``loss_fn(model, batch) -> scalar``; ``train_batches(step)`` / ``val_batches(i)`` give batches.
    Callbacks may define ``on_step(state)`` and ``on_eval(state, metrics)``. With ``out_dir``,
    checkpoints (with ``tokenizer``) and ``metrics.jsonl`` go there; ``resume=True`` continues from
    its checkpoint. A NaN/inf loss raises TrainingError; Ctrl-C saves and returns early.
    """
    ctx = distributed.setup(cfg.device)
    try:
        model.to(ctx.device).train()
        run = Run(cfg, ctx, model, make_optimizer(model, cfg), Path(out_dir) if out_dir else None, tokenizer)
        if run.out is not None:
            prepare_out(run, resume)
        with _StopOnSigint(run):
            return _loop(run, ctx.wrap(model), loss_fn, train_batches, val_batches, callbacks)
    finally:
        ctx.close()


def _callbacks_and_eval(
    run: Run,
    state: TrainState,
    loss_fn: LossFn,
    val_batches: Callable[[int], Any] | None,
    callbacks: Sequence[Any],
) -> None:
    cfg, step = run.cfg, state.step
    for cb in callbacks:
        getattr(cb, "on_step", lambda s: None)(state)
    if val_batches is not None and (step == cfg.steps or (cfg.eval_every and step % cfg.eval_every == 0)):
        val_loss = evaluate(run.model, loss_fn, val_batches, cfg.eval_batches, run.ctx)
        metrics = {"step": step, "val_loss": val_loss}
        run.evals.append(metrics)
        run.log(metrics)
        for cb in callbacks:
            getattr(cb, "on_eval", lambda s, m: None)(state, metrics)


def _loop(
    run: Run,
    ddp_model: nn.Module,
    loss_fn: LossFn,
    train_batches: Callable[[int], Any],
    val_batches: Callable[[int], Any] | None,
    callbacks: Sequence[Any],
) -> TrainResult:
    cfg, ctx = run.cfg, run.ctx
    bar = tqdm(
        total=cfg.steps, initial=run.start, disable=not (cfg.progress and ctx.is_main), dynamic_ncols=True
    )
    t0, tokens0, step, loss = time.perf_counter(), run.tokens_seen, run.start, None
    for step in range(run.start + 1, cfg.steps + 1):
        lr = cfg.lr_at(step - 1)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        batch = train_batches(step - 1)
        loss = float(_step(run, ddp_model, loss_fn, batch))
        if not math.isfinite(loss):
            bar.close()
            kept = (
                f"the last good checkpoint (step {run.last_saved}) in {run.out} is kept"
                if run.last_saved is not None
                else "no checkpoint was written"
            )
            raise TrainingError(
                f"loss is {loss} at step {step}; {kept}; lower the learning rate or raise grad_clip / warmup"
            )
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
        run.optimizer.step()
        run.tokens_seen += batch_rows(batch)[1]
        run.losses.append(loss)
        speed = (run.tokens_seen - tokens0) / max(time.perf_counter() - t0, 1e-9)
        run.log({"step": step, "loss": loss, "lr": lr, "tokens": run.tokens_seen, "tokens_per_s": speed})
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}", tok_s=f"{speed:,.0f}")
        state = TrainState(
            step, loss, lr, run.tokens_seen, run.model, run.optimizer, ctx.rank, ctx.world_size
        )
        _callbacks_and_eval(run, state, loss_fn, val_batches, callbacks)
        stop = ctx.any(run.stop_requested)
        if stop or step == cfg.steps or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0):
            run.save(step, loss)
        if stop:
            run.stop_requested = True
            break
    bar.close()
    speed = (run.tokens_seen - tokens0) / max(time.perf_counter() - t0, 1e-9)
    return TrainResult(
        run.start,
        step,
        tuple(run.losses),
        tuple(run.evals),
        run.out if run.out is not None and run.last_saved is not None else None,
        run.stop_requested,
        speed,
    )
