"""At equal L0, a TopK SAE reconstructs the residual stream better than a ReLU+L1 SAE (Gao et al.
2024, "Scaling and evaluating sparse autoencoders"), and costs the model less when spliced in.

On ``blocks.1.hook_resid_post`` of the 2-layer induction model, the ReLU SAE is sae_transformer's
(4x latents, L1 10; trained once per run folder). Its mean L0 on the training activations, rounded,
is the k of a TopK SAE of the same width trained on the same activations with the same steps,
batch and learning rate. Both are then measured on held-out windows: fraction of variance
explained, and, spliced into the model in place of the activation, CE loss recovered
(1 - (CE_sae - CE_clean) / (CE_zero - CE_clean)) and KL to the clean model. The claim passes when
TopK is higher on both FVE and CE loss recovered.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.experiments.induction.recipe import context_recipe
from circuitlab.experiments.induction.train import text_windows, train_induction
from circuitlab.experiments.superposition.sae_cache import cached_train
from circuitlab.experiments.superposition.sae_transformer import HOOK, residual_sae_config
from circuitlab.superposition.sae import SAEMetrics, collect_activations, evaluate_sae


@dataclass(frozen=True)
class Compared:
    held_out: dict[str, SAEMetrics]  # "relu", "topk": metrics on held-out windows, with the spliced cost
    train_l0: float  # the ReLU SAE's L0 on its training activations
    k: int
    steps: int
    n_latents: int
    held_out_tokens: int


def sae_topk_vs_relu(ctx: RunContext) -> ClaimResult:
    """Train a TopK SAE with k = the ReLU SAE's L0 on the same residual activations; compare FVE and
    CE loss recovered on held-out text."""
    m = measure(ctx)
    return render(m, judge(m))


def measure(ctx: RunContext) -> Compared:
    trained = train_induction(ctx, context_recipe(ctx))
    model = trained.model.cpu()
    rows = 64 if ctx.profile == "quick" else 256
    tokens = text_windows(trained.data, model.cfg.n_ctx, rows=rows, seed=11)  # sae_transformer's windows
    held_out = text_windows(trained.data, model.cfg.n_ctx, rows=32, seed=13)
    acts = collect_activations(model, HOOK, list(tokens.split(32)))
    train = cached_train(ctx, "resid_relu")
    ctx.report(0.5, "sae_topk_vs_relu: the ReLU SAE")
    relu_cfg = residual_sae_config(ctx, model.cfg.d_model)
    relu = train(acts, relu_cfg, HOOK)
    k = max(1, round(relu.metrics.l0))
    ctx.report(0.7, f"sae_topk_vs_relu: a TopK SAE with k = {k}")
    topk_cfg = relu_cfg.replace(architecture="topk", k=k, resample_every=0)
    topk = train(acts, topk_cfg, HOOK)
    held_acts = collect_activations(model, HOOK, list(held_out.split(32)))
    held = {
        name: evaluate_sae(r.sae, held_acts, model=model, tokens=held_out, hook_name=HOOK)
        for name, r in (("relu", relu), ("topk", topk))
    }
    ctx.report(1.0, "sae_topk_vs_relu done")
    return Compared(held, relu.metrics.l0, k, relu_cfg.steps, relu_cfg.n_latents, int(held_out.numel()))


def judge(m: Compared) -> Judgement:
    relu, topk = m.held_out["relu"], m.held_out["topk"]
    return Judgement(
        {
            "higher variance explained": topk.fraction_variance_explained > relu.fraction_variance_explained,
            "higher CE loss recovered": topk.ce_loss_recovered > relu.ce_loss_recovered,
        },
        f"with k = {m.k} (the ReLU SAE's L0 {m.train_l0:.1f}, rounded), the TopK SAE's fraction of variance "
        "explained and CE loss recovered on held-out text are both higher than the ReLU SAE's",
    )


def render(m: Compared, judgement: Judgement) -> ClaimResult:
    table = [["SAE", "L0", "FVE", "MSE", "CE loss recovered", "KL", "dead", "dense"]]
    measured: dict[str, float | int] = {"k": m.k, "relu_train_l0": round(m.train_l0, 3)}
    for name, mt in m.held_out.items():
        table.append([name, round(mt.l0, 2), round(mt.fraction_variance_explained, 4), round(mt.mse, 4),
                      round(mt.ce_loss_recovered, 4), round(mt.kl, 4), round(mt.dead_fraction, 3),
                      round(mt.dense_fraction, 3)])  # fmt: skip
        measured[f"{name}_fve"] = round(mt.fraction_variance_explained, 4)
        measured[f"{name}_ce_loss_recovered"] = round(mt.ce_loss_recovered, 4)
        measured[f"{name}_l0"] = round(mt.l0, 3)
    ce = m.held_out["relu"].spliced
    measured.update(ce_clean=round(ce.ce_clean, 4), ce_zero=round(ce.ce_zero, 4))
    return ClaimResult(
        measured=measured,
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=f"ReLU (L1 10) and TopK (k {m.k}) SAEs, {m.n_latents} latents, {m.steps} steps each on {HOOK} of the "
        f"2-layer induction model; measured on {m.held_out_tokens} held-out tokens",
        tables={"ReLU vs TopK at equal L0, held-out text": table},
    )
