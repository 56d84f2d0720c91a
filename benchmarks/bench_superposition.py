"""Speed goals of the superposition issues.

    toy model sparsity sweep   5 features -> 2 dims, 10 instances, 10k Adam steps at batch 1024, in
                               under a minute on 2 CPU cores (quick: 1k steps, a tenth of the goal)
    sae_topk_train_vs_saelens  SAE training throughput (activations/s) of circuitlab's TopK SAE
                               (d_in 512, 8x expansion, k 32, batch 4096) against SAELens's
                               SAETrainer with its TopKTrainingSAE, same shapes, same tensor of
                               activations, Adam at the same lr; ratio = ours / SAELens, goal >= 1.5
                               (quick: d_in 64, batch 512; SAELens missing: a row saying so)

``run(device, quick)`` returns the rows; benchmarks/run.py collects and prints them.
"""

from __future__ import annotations

import os
import time
import warnings

import torch

from circuitlab.superposition import ToyModel, geometric_importance, sparsity_sweep, train_toy_model
from circuitlab.superposition.sae import SAEConfig, SAETrainer

FULL_STEPS = 10_000
GOAL_SECONDS = 60.0
LR = 3e-4


def _sweep(device: str, quick: bool) -> dict:
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
    return {
        "name": f"toy model sparsity sweep 5->2, 10 instances, {steps} steps, batch 1024 ({device})",
        "seconds": round(seconds, 3),
        "goal": goal,
        "met": seconds < goal,
    }


def _saelens_fit(d_in: int, d_sae: int, k: int, batches: list[torch.Tensor], device: str):
    """A closure running SAELens's SAETrainer.fit() over ``batches`` (a new trainer each call, the
    same TopKTrainingSAE throughout), or None when sae-lens is not installed."""
    try:
        from sae_lens import TopKTrainingSAE, TopKTrainingSAEConfig
        from sae_lens.config import SAETrainerConfig
        from sae_lens.training.sae_trainer import SAETrainer as LensTrainer
    except ImportError:
        return None
    sae = TopKTrainingSAE(TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k, device=device))
    n = sum(b.shape[0] for b in batches)
    cfg = SAETrainerConfig(total_training_samples=n, train_batch_size_samples=batches[0].shape[0], lr=LR,
                           lr_end=LR, device=device)  # fmt: skip

    def fit() -> None:
        os.environ["TQDM_DISABLE"] = "1"  # SAETrainer.fit() opens a tqdm bar; keep the table clean
        try:
            LensTrainer(cfg=cfg, sae=sae, data_provider=iter(batches)).fit()
        finally:
            os.environ.pop("TQDM_DISABLE", None)

    return fit


def _sae_vs_saelens(device: str, quick: bool) -> dict:
    from timing import interleaved_medians

    d_in, batch, steps, reps = (64, 512, 4, 2) if quick else (512, 4096, 4, 3)
    d_sae, k = 8 * d_in, 32
    acts = torch.randn(steps * batch, d_in, generator=torch.Generator().manual_seed(0)).to(device)
    batches = list(acts.split(batch))
    cfg = SAEConfig(
        d_in=d_in, expansion=8, architecture="topk", k=k, batch_size=batch, lr=LR, dead_tokens=10**9
    )
    ours = SAETrainer(cfg, device=device)
    name = f"sae_topk_train_vs_saelens (d_in {d_in}, 8x, k {k}, batch {batch}, {steps} steps; {device})"
    theirs = _saelens_fit(d_in, d_sae, k, batches, device)
    if theirs is None:
        return {"name": name, "ratio": None, "goal": ">= 1.5", "met": None, "note": "sae-lens not installed"}

    def ours_fit() -> None:
        for b in batches:
            ours.train_step(b)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = interleaved_medians({"ours": ours_fit, "saelens": theirs}, reps, device)
    ratio = t["saelens"] / t["ours"]
    return {
        "name": name,
        "ours_acts_per_s": round(steps * batch / t["ours"], 1),
        "saelens_acts_per_s": round(steps * batch / t["saelens"], 1),
        "ratio": round(ratio, 3),
        "ratio_is": "our activations/s / SAELens's",
        "goal": ">= 1.5",
        "met": bool(ratio >= 1.5),
        "reps": reps,
    }


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    return [_sweep(device, quick), _sae_vs_saelens(device, quick)]


if __name__ == "__main__":
    import sys

    for row in run(sys.argv[1] if len(sys.argv) > 1 else "cpu", quick="--quick" in sys.argv):
        print(row)
