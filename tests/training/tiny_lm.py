"""A tiny HookedModule language model and a training script the crash tests run in a subprocess.

``python tests/training/tiny_lm.py OUT STEPS [--resume] [--nan-at N] [--slow S]`` trains TinyLM on
a fixed random token stream, saving a checkpoint every step and printing ``step N`` lines.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from circuitlab.data import WindowBatches
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.training import TrainConfig, next_token_loss, register_model, train


@dataclass(frozen=True)
class TinyConfig:
    d_vocab: int = 17
    d_model: int = 8
    n_ctx: int = 8
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TinyConfig:
        return cls(**data)


class TinyLM(HookedModule):
    """logits = W_U tanh(W_E[t] + W_pos[p]): enough to learn bigram statistics."""

    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        self.W_E = nn.Parameter(0.1 * torch.randn(cfg.d_vocab, cfg.d_model, generator=gen))
        self.W_pos = nn.Parameter(0.1 * torch.randn(cfg.n_ctx, cfg.d_model, generator=gen))
        self.W_U = nn.Parameter(0.1 * torch.randn(cfg.d_model, cfg.d_vocab, generator=gen))
        self.b_U = nn.Parameter(torch.zeros(cfg.d_vocab))
        self.hook_resid = HookPoint()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        resid = self.hook_resid(torch.tanh(self.W_E[tokens] + self.W_pos[: tokens.shape[-1]]))
        return resid @ self.W_U + self.b_U


register_model("tiny-lm", TinyLM, TinyConfig)


def token_stream(n: int = 4000, d_vocab: int = 17, seed: int = 0) -> np.ndarray:
    """A stream where token t+1 = (t * 3 + noise) % d_vocab: learnable, not trivial."""
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=np.uint16)
    for i in range(1, n):
        out[i] = (int(out[i - 1]) * 3 + int(rng.integers(0, 2))) % d_vocab
    return out


def batches(batch_size: int = 8, seed: int = 0, stream: int = 0) -> WindowBatches:
    return WindowBatches(
        token_stream(), batch_size=batch_size, n_ctx=TinyConfig().n_ctx, seed=seed, stream=stream
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("steps", type=int)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds to sleep in every step")
    parser.add_argument("--losses", default=None, help="write the step losses here as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model = TinyLM(TinyConfig())
    cfg = TrainConfig(
        steps=args.steps,
        lr=3e-2,
        min_lr=3e-3,
        warmup=3,
        batch_size=8,
        grad_accum=2,
        eval_every=5,
        eval_batches=2,
        checkpoint_every=1,
        progress=False,
    )

    class Report:
        def on_step(self, state: Any) -> None:
            print(f"step {state.step}", flush=True)
            time.sleep(args.slow)

    result = train(
        model,
        next_token_loss,
        batches(),
        cfg,
        val_batches=batches(stream=1),
        callbacks=[Report()],
        out_dir=args.out,
        resume=args.resume,
    )
    if args.losses:
        Path(args.losses).write_text(json.dumps({"losses": result.losses, "evals": result.evals}))
    print(f"done {result.step} interrupted={result.interrupted}", flush=True)
    return 130 if result.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
