"""Speed goal of the superposition issue: a full sparsity sweep (5 features -> 2 dims, 10 instances,
10k Adam steps at batch 1024) trains in under a minute on 2 CPU cores.

``run(device, quick)`` returns rows {"name", "seconds", "goal", "met"}; quick trains 1k steps
against a tenth of the goal. Another script collects and prints the rows.
"""

from __future__ import annotations

import time

import torch

from circuitlab.superposition import ToyModel, geometric_importance, sparsity_sweep, train_toy_model

FULL_STEPS = 10_000
GOAL_SECONDS = 60.0


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    steps = FULL_STEPS // 10 if quick else FULL_STEPS
    goal = GOAL_SECONDS * steps / FULL_STEPS
    model = ToyModel(
        5,
        2,
        10,
        geometric_importance(5, 0.9),
        sparsity_sweep(10, 0.05),
        generator=torch.Generator().manual_seed(0),
    ).to(device)
    train_toy_model(model, steps=10, batch=1024, seed=0)  # warm-up: allocator, kernels
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    start = time.perf_counter()
    train_toy_model(model, steps=steps, batch=1024, seed=1)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return [
        {
            "name": f"toy model sparsity sweep 5->2, 10 instances, {steps} steps, batch 1024 ({device})",
            "seconds": round(seconds, 3),
            "goal": goal,
            "met": seconds < goal,
        }
    ]


if __name__ == "__main__":
    import sys

    for row in run(sys.argv[1] if len(sys.argv) > 1 else "cpu", quick="--quick" in sys.argv):
        print(row)
