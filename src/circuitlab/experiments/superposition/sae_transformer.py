"""A sparse autoencoder on the residual stream of the 2-layer induction model.

The seed: the residual stream is a bottleneck, so a model stores more features than it has
dimensions. An SAE with more latents than dimensions, trained through ``run_with_cache`` on
``blocks.1.hook_resid_post``, rewrites each residual vector as a sparse sum of latents.
"""

from __future__ import annotations

from circuitlab.experiments.base import ClaimResult, RunContext, timed, verdict
from circuitlab.experiments.induction_recipe import induction_recipe
from circuitlab.experiments.induction_train import text_windows, train_induction
from circuitlab.superposition import SAEConfig
from circuitlab.superposition.sae_tokens import sae_on_transformer

SEED = (
    "Due to the dimensionality difference in the residual stream and other model components leading "
    "to bottleneck activations, superposition occurs where each dimension is not a unique interpretable "
    "feature ... and it instead encodes a mix of features."
)
HOOK = "blocks.1.hook_resid_post"


def sae_transformer(ctx: RunContext) -> ClaimResult:
    """Train an SAE (4x latents) on the 2-layer model's final residual stream; report its metrics
    and the tokens its most active latents fire on."""
    with timed() as elapsed:
        trained = train_induction(ctx, induction_recipe(ctx.profile, ctx.seed, device=ctx.device))
        model = trained.model.cpu()
        rows = 64 if ctx.profile == "quick" else 256
        tokens = text_windows(trained.data, model.cfg.n_ctx, rows=rows, seed=11)
        ctx.report(0.5, f"sae_transformer: training an SAE on {HOOK}")
        # L1 = 10 suits this residual stream (mean norm ~116): a sweep gave L0 263 at 0.03, 58 at
        # 10 with 1500 steps, 26 at 10 with 4000 steps (81-87% variance explained).
        cfg = SAEConfig(
            d_in=model.cfg.d_model,
            expansion=4,
            l1_coeff=10.0,
            lr=1e-3,
            steps=4000 if ctx.profile == "quick" else 12000,
            batch_size=512,
            seed=ctx.seed,
        )
        result = sae_on_transformer(model, tokens, HOOK, cfg, decode=trained.data.tokenizer.decode)
    m = result.metrics
    d_model = model.cfg.d_model
    ok = m.fraction_variance_explained >= 0.8 and m.l0 <= d_model / 4
    table = [["latent", "mean activation rank", "top tokens (with context)"]]
    for rank, latent in enumerate(result.latents):
        shown = " | ".join(repr(t[-24:]) for t in latent.text[:5])
        table.append([latent.latent, rank + 1, shown])
    return ClaimResult(
        id="sae_transformer",
        seed=SEED,
        measured={
            "fraction_variance_explained": m.fraction_variance_explained,
            "l0": m.l0,
            "d_model": d_model,
            "n_latents": m.n_latents,
            "dead_latents": m.dead_latents,
            "vectors": int(tokens.numel()),
        },
        threshold=f"the SAE explains >= 80% of the residual stream's variance while using on average at "
        f"most d_model/4 = {d_model // 4} active latents per token (of {4 * d_model})",
        verdict=verdict(ok),
        seconds=elapsed(),
        ran=f"SAE ({4 * d_model} latents, L1 {cfg.l1_coeff:g}, {cfg.steps} steps) on {HOOK} of the "
        f"2-layer induction model over {rows} windows of validation code",
        tables={"Most active latents and the code they fire on": table},
    )
