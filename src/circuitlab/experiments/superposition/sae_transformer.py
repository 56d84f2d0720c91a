"""A sparse autoencoder on the residual stream of the 2-layer induction model.

The seed: the residual stream is a bottleneck, so a model stores more features than it has
dimensions. An SAE with 4x more latents than dimensions, trained through ``run_with_cache`` on
``blocks.1.hook_resid_post``, rewrites each residual vector as a sparse sum of latents: it must
explain >= 80% of the variance with at most d_model / 4 latents active per token on average.
The run folder also gets the feature dashboards of its most frequent latents
(``superposition/sae_dashboard.json``), which the report shows in this claim's section.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.experiments.induction.recipe import context_recipe
from circuitlab.experiments.induction.train import text_windows, train_induction
from circuitlab.experiments.superposition.sae_cache import cached_train
from circuitlab.report.dashboard import save_dashboard_data
from circuitlab.superposition import SAEConfig
from circuitlab.superposition.sae import latent_dashboards
from circuitlab.superposition.sae.tokens import TransformerSAEResult, sae_on_transformer

HOOK = "blocks.1.hook_resid_post"


@dataclass(frozen=True)
class ResidualSAE:
    sae: TransformerSAEResult
    cfg: SAEConfig
    d_model: int
    rows: int  # validation windows the SAE was trained on
    vectors: int  # residual vectors (rows x n_ctx)
    dashboards: dict  # report.dashboard's document: the most frequent latents' dashboards


def sae_transformer(ctx: RunContext) -> ClaimResult:
    """Train an SAE (4x latents) on the 2-layer model's final residual stream; report its metrics
    and the tokens its most active latents fire on."""
    m = measure(ctx)
    save_dashboard_data(ctx.out_dir, m.dashboards)
    return render(m, judge(m))


def measure(ctx: RunContext) -> ResidualSAE:
    trained = train_induction(ctx, context_recipe(ctx))
    model = trained.model.cpu()
    rows = 64 if ctx.profile == "quick" else 256
    tokens = text_windows(trained.data, model.cfg.n_ctx, rows=rows, seed=11)
    ctx.report(0.5, f"sae_transformer: training an SAE on {HOOK}")
    cfg = residual_sae_config(ctx, model.cfg.d_model)
    decode = trained.data.tokenizer.decode
    result = sae_on_transformer(
        model, tokens, HOOK, cfg, decode=decode, train=cached_train(ctx, "resid_relu")
    )
    dashes = latent_dashboards(
        model, result.train.sae, tokens[:32], hook_name=HOOK, decode=decode, n_latents=8
    )
    doc = {"title": f"ReLU SAE ({cfg.n_latents} latents) at {HOOK} of the 2-layer induction model",
           "latents": [d.to_json() for d in dashes]}  # fmt: skip
    return ResidualSAE(result, cfg, model.cfg.d_model, rows, int(tokens.numel()), doc)


def residual_sae_config(ctx: RunContext, d_model: int) -> SAEConfig:
    """The ReLU SAE of this claim; L1 10 suits this residual stream's scale (docs/induction-recipe.md
    has the sweep)."""
    return SAEConfig(
        d_in=d_model, expansion=4, l1_coeff=10.0, lr=1e-3, steps=4000 if ctx.profile == "quick" else 12000,
        batch_size=512, seed=ctx.seed,
    )  # fmt: skip


def judge(m: ResidualSAE) -> Judgement:
    metrics = m.sae.metrics
    return Judgement(
        {
            "variance explained": metrics.fraction_variance_explained >= 0.8,
            "sparse": metrics.l0 <= m.d_model / 4,
        },
        f"the SAE explains >= 80% of the residual stream's variance while using on average at "
        f"most d_model/4 = {m.d_model // 4} active latents per token (of {4 * m.d_model})",
    )


def render(m: ResidualSAE, judgement: Judgement) -> ClaimResult:
    metrics = m.sae.metrics
    table = [["latent", "mean activation rank", "top tokens (with context)"]]
    for rank, latent in enumerate(m.sae.latents):
        table.append([latent.latent, rank + 1, " | ".join(repr(t[-24:]) for t in latent.text[:5])])
    return ClaimResult(
        measured={
            "fraction_variance_explained": metrics.fraction_variance_explained,
            "l0": metrics.l0,
            "d_model": m.d_model,
            "n_latents": metrics.n_latents,
            "dead_latents": metrics.dead_latents,
            "vectors": m.vectors,
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=f"SAE ({4 * m.d_model} latents, L1 {m.cfg.l1_coeff:g}, {m.cfg.steps} steps) on {HOOK} of the "
        f"2-layer induction model over {m.rows} windows of the corpus's validation text",
        tables={"Most active latents and the code they fire on": table},
    )
