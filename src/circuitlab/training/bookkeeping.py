"""The bookkeeping of one call to ``train``: its state, metrics file, checkpoints and resume."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from circuitlab.data.tokenizer import Tokenizer
from circuitlab.errors import CheckpointError
from circuitlab.training import distributed
from circuitlab.training.checkpoint import CHECKPOINT_JSON, read_meta, restore_training_state, save_checkpoint
from circuitlab.training.config import TrainConfig

log = logging.getLogger(__name__)
# settings that may change between a run and its resumption (they do not change the numbers)
_RESUMABLE_DIFF_OK = frozenset({"progress", "device", "eval_every", "eval_batches", "checkpoint_every"})


@dataclass
class Run:
    """Mutable bookkeeping of one call to ``train``."""

    cfg: TrainConfig
    ctx: distributed.DistContext
    model: nn.Module
    optimizer: torch.optim.Optimizer
    out: Path | None
    tokenizer: Tokenizer | None
    start: int = 0
    tokens_seen: int = 0
    last_saved: int | None = None
    losses: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    stop_requested: bool = False

    def log(self, record: dict[str, Any]) -> None:
        if self.out is not None and self.ctx.is_main:
            with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    def save(self, step: int, loss: float | None) -> None:
        if self.out is not None and self.ctx.is_main and self.last_saved != step:
            train_state = {
                "config": self.cfg.to_dict(),
                "tokens_seen": self.tokens_seen,
                "loss": loss,
                "world_size": self.ctx.world_size,
            }
            save_checkpoint(
                self.out,
                self.model,
                tokenizer=self.tokenizer,
                step=step,
                optimizer=self.optimizer,
                train=train_state,
            )
        self.last_saved = step
        self.ctx.barrier()


def prepare_out(run: Run, resume: bool) -> None:
    """Check ``out_dir``; on resume restore the checkpoint there and trim metrics past it."""
    out = run.out
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"out_dir {str(out)!r} is a file; choose a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").touch()
        (out / ".write-test").unlink()
    except OSError as err:
        raise CheckpointError(
            f"out_dir {str(out)!r} is not writable ({err.strerror}); choose another"
        ) from None
    if (out / CHECKPOINT_JSON).is_file():
        if not resume:
            step = read_meta(out).get("step")
            raise CheckpointError(
                f"{out} already holds a checkpoint (step {step}); resume it "
                "(--resume / resume=True) or choose another output folder"
            )
        _resume(run)
    if run.ctx.is_main:
        _trim_metrics(out / "metrics.jsonl", run.start)
    run.ctx.barrier()


def _resume(run: Run) -> None:
    meta = restore_training_state(run.out, run.model, run.optimizer)
    saved = (meta.get("train") or {}).get("config") or {}
    now = run.cfg.to_dict()
    diff = sorted(
        k for k in set(saved) | set(now) if saved.get(k) != now.get(k) and k not in _RESUMABLE_DIFF_OK
    )
    if diff:
        shown = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in diff)
        raise CheckpointError(
            f"cannot resume {run.out} with a different training config ({shown}); "
            "use the original settings or another output folder"
        )
    run.start = run.last_saved = int(meta["step"] or 0)
    run.tokens_seen = int(meta["train"].get("tokens_seen", 0))
    log.info("resuming %s from step %d", run.out, run.start)


def _trim_metrics(path: Path, start: int) -> None:
    """Drop records of steps after ``start`` (written after the checkpoint, before a crash)."""
    if not path.exists():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= start:
                keep.append(line)
        except (json.JSONDecodeError, AttributeError):
            continue  # a line cut short by a crash
    path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")
