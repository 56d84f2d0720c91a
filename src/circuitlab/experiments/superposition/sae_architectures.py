"""Every SAE architecture undoes superposition: ReLU+L1, TopK and JumpReLU each recover the
feature directions of the same toy model.

The toy model is sae_toy's (ToyModel(10, 5), feature probability 0.05, so more than 5 features
share 5 dimensions). On its ``hook_hidden`` (65536 activations through ``run_with_cache``) an SAE
of each architecture, 4x latents, is trained with the settings below; for each, the mean over the
represented features (||W_i|| > 0.5) of the best cosine with any decoder row must be >= 0.9.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext, save_figure
from circuitlab.experiments.superposition.sae_toy import SAE_TOY
from circuitlab.experiments.superposition.sizes import PROFILES
from circuitlab.superposition import (
    SAEConfig,
    ToyModel,
    feature_norms,
    max_cosine_similarity,
    train_sae,
    train_toy_model,
)
from circuitlab.superposition.sae import SAEMetrics

# The k of TopK matches the toy's sparsity (0.5 active features per input on average); JumpReLU's
# threshold and kernel width suit the toy's activations, whose norms are ~1.
SETTINGS = {
    "relu": {"l1_coeff": SAE_TOY["l1_coeff"]},
    "topk": {"k": 1, "dead_tokens": 20_000},
    "jumprelu": {"l0_coeff": 0.05, "threshold_init": 0.05, "bandwidth": 0.05},
}


@dataclass(frozen=True)
class Recovered:
    cos: dict[str, torch.Tensor]  # per architecture: [represented features] best cosines
    metrics: dict[str, SAEMetrics]
    configs: dict[str, SAEConfig]
    n_true: int


def sae_architectures(ctx: RunContext) -> ClaimResult:
    """Train one toy model in superposition and a ReLU, a TopK and a JumpReLU SAE on its hidden layer."""
    m = measure(ctx)
    return render(ctx, m, judge(m))


def measure(ctx: RunContext) -> Recovered:
    sizes, c = PROFILES[ctx.profile], SAE_TOY
    ctx.report(0.0, "training the toy model")
    toy = ToyModel(
        c["n_features"], c["d_hidden"], 1, None, c["p"], generator=torch.Generator().manual_seed(ctx.seed)
    )
    toy = toy.to(ctx.device)
    train_toy_model(toy, steps=sizes.sae_toy_steps, batch=sizes.batch, seed=ctx.seed)
    gen = torch.Generator(device=ctx.device).manual_seed(ctx.seed + 1)
    batches = [toy.generate_batch(8192, gen) for _ in range(8)]
    W = toy.W.detach()[0].cpu()
    truth = W.T[feature_norms(W) > 0.5]
    cos, metrics, configs = {}, {}, {}
    for i, (arch, extra) in enumerate(SETTINGS.items()):
        ctx.report(0.3 + 0.23 * i, f"training the {arch} SAE")
        cfg = SAEConfig(
            d_in=c["d_hidden"], expansion=c["expansion"], lr=c["lr"], steps=sizes.sae_steps, batch_size=1024,
            resample_every=max(sizes.sae_steps // 6, 1), seed=ctx.seed, architecture=arch, **extra,
        )  # fmt: skip
        result = train_sae(toy, "hook_hidden", batches, cfg)
        cos[arch] = max_cosine_similarity(result.sae.directions.cpu(), truth)
        metrics[arch], configs[arch] = result.metrics, cfg
    return Recovered(cos, metrics, configs, len(truth))


def judge(m: Recovered) -> Judgement:
    checks = {f"{arch} recovers the features": float(c.mean()) >= 0.9 for arch, c in m.cos.items()}
    checks["in superposition"] = m.n_true >= SAE_TOY["d_hidden"] + 1
    return Judgement(checks, "for every architecture, the mean over the toy model's features of the best cosine "
                             "with a decoder direction is >= 0.9")  # fmt: skip


def _figure(ctx: RunContext, m: Recovered) -> str:
    from circuitlab.report.figures import pyplot

    fig, ax = pyplot().subplots(figsize=(7, 2.8))
    width = 0.8 / len(m.cos)
    for i, (arch, cos) in enumerate(m.cos.items()):
        ax.bar([j + i * width for j in range(len(cos))], cos.numpy(), width, label=arch)
    ax.axhline(0.9, color="gray", ls="--", lw=1)
    ax.set(ylim=(0, 1.05), xlabel="true feature", ylabel="max cos(decoder, feature)")
    ax.legend(loc="lower right", fontsize=8)
    return save_figure(ctx, fig, "superposition", "sae_architectures")


def render(ctx: RunContext, m: Recovered, judgement: Judgement) -> ClaimResult:
    sizes = PROFILES[ctx.profile]
    table = [["architecture", "setting", "mean max cos", "min max cos", "L0", "FVE", "dead latents"]]
    measured: dict[str, float | int] = {"true_features": m.n_true}
    for arch, cos in m.cos.items():
        mt, extra = m.metrics[arch], SETTINGS[arch]
        setting = ", ".join(f"{k} {v:g}" for k, v in extra.items() if k != "dead_tokens")
        table.append([arch, setting, round(float(cos.mean()), 4), round(float(cos.min()), 4), round(mt.l0, 3),
                      round(mt.fraction_variance_explained, 4), mt.dead_latents])  # fmt: skip
        measured[f"{arch}_mean_max_cosine"] = round(float(cos.mean()), 4)
        measured[f"{arch}_l0"] = round(mt.l0, 3)
    fig = _figure(ctx, m)
    ctx.report(1.0, "SAE architectures done")
    return ClaimResult(
        measured=measured,
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=f"ToyModel(10, 5), p = 0.05, {sizes.sae_toy_steps} steps; ReLU, TopK and JumpReLU SAEs with 20 "
        f"latents, {sizes.sae_steps} steps each on 65536 hook_hidden activations",
        figures={"Best cosine of each true feature with a decoder direction, per architecture": fig},
        tables={"Each architecture on the same toy model": table},
    )
