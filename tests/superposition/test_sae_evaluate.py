"""Metrics (L0, FVE, dead and dense latents, CE loss recovered, KL) and run_with_saes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from circuitlab.errors import ConfigError, HookNameError, ShapeError
from circuitlab.superposition import SAEConfig, SparseAutoencoder, evaluate_sae, run_with_saes
from circuitlab.superposition.sae import run_with_cache_with_saes, spliced_ce
from circuitlab.transformer import Transformer, TransformerConfig

HOOK = "blocks.0.hook_resid_post"


def tiny_model() -> Transformer:
    torch.manual_seed(0)
    cfg = TransformerConfig(n_layers=2, d_model=8, n_heads=2, d_head=4, d_vocab=17, n_ctx=10, attn_only=True)
    return Transformer(cfg).eval()


def identity_sae(d: int = 8, hook: str | None = HOOK) -> SparseAutoencoder:
    """f = (ReLU(x), ReLU(-x)), x_hat = ReLU(x) - ReLU(-x) = x: a perfect reconstruction."""
    sae = SparseAutoencoder(SAEConfig(d_in=d, expansion=2, hook_name=hook))
    eye = torch.eye(d)
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([eye, -eye], 1))
        sae.W_dec.copy_(torch.cat([eye, -eye], 0))
    return sae


def tokens(n: int = 6) -> torch.Tensor:
    return torch.randint(0, 17, (n, 10), generator=torch.Generator().manual_seed(2))


def test_run_with_saes_replaces_the_activation_with_the_reconstruction() -> None:
    model, sae, toks = (
        tiny_model(),
        SparseAutoencoder(SAEConfig(d_in=8, expansion=3, hook_name=HOOK)),
        tokens(),
    )
    want = model.run_with_hooks(toks, fwd_hooks=[(HOOK, lambda act, hook: sae(act).recon)])
    got = run_with_saes(model, toks, saes=[sae])
    torch.testing.assert_close(got, want)
    assert not torch.allclose(got, model(toks))
    assert all(not p.active for p in model.hook_points()) and all(not p.active for p in sae.hook_points())
    torch.testing.assert_close(
        run_with_saes(model, toks, saes=[identity_sae()]), model(toks), atol=1e-5, rtol=1e-5
    )


def test_the_spliced_saes_latents_are_hookable_under_saelens_names() -> None:
    model, sae, toks = (
        tiny_model(),
        SparseAutoencoder(SAEConfig(d_in=8, expansion=3, hook_name=HOOK)),
        tokens(),
    )
    _, cache = model.run_with_cache(toks, names_filter=HOOK)
    out, sae_cache = run_with_cache_with_saes(model, toks, saes=[sae])
    torch.testing.assert_close(sae_cache[f"{HOOK}.hook_sae_acts_post"], sae.encode(cache[HOOK]).detach())
    torch.testing.assert_close(sae_cache[f"{HOOK}.hook_sae_input"], cache[HOOK])
    killed = run_with_saes(
        model,
        toks,
        saes=[sae],
        fwd_hooks=[(f"{HOOK}.hook_sae_acts_post", lambda f, hook: torch.zeros_like(f))],
    )
    zero_sae = model.run_with_hooks(toks, fwd_hooks=[(HOOK, lambda act, hook: sae.b_dec.expand_as(act))])
    torch.testing.assert_close(killed, zero_sae)
    assert not torch.allclose(killed, out)


def test_ce_loss_recovered_is_one_for_a_perfect_sae_and_zero_for_an_all_zero_one() -> None:
    model, toks = tiny_model(), tokens()
    perfect = spliced_ce(model, identity_sae(), toks, batch_size=4)
    logits = model(toks).detach()
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, 17), toks[:, 1:].reshape(-1))
    assert perfect.ce_clean == pytest.approx(float(ce), rel=1e-5)
    assert perfect.ce_loss_recovered == pytest.approx(1.0, abs=1e-4) and perfect.kl == pytest.approx(
        0.0, abs=1e-5
    )
    zero = identity_sae()
    with torch.no_grad():
        zero.W_dec.zero_()
    ablated = spliced_ce(model, zero, toks)
    assert ablated.ce_sae == pytest.approx(ablated.ce_zero, rel=1e-5)
    assert ablated.ce_loss_recovered == pytest.approx(0.0, abs=1e-4) and ablated.kl > 0


def test_evaluate_sae_reports_dead_and_dense_latents_and_the_spliced_cost() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=2, d_sae=3))
    with torch.no_grad():
        sae.W_enc.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        sae.b_enc.copy_(torch.tensor([0.0, 0.0, -100.0]))
    x = torch.tensor([[1.0, 0.0]] * 9 + [[0.0, 1.0]])  # latent 0 fires on 90%, 1 on 10%, 2 never
    m = evaluate_sae(sae, x, dense_threshold=0.5)
    assert (m.dead_latents, m.dense_latents) == (1, 1)
    assert m.dead_fraction == pytest.approx(1 / 3) and m.dense_fraction == pytest.approx(1 / 3)
    assert m.l0 == pytest.approx(1.0) and m.spliced is None and m.ce_loss_recovered is None
    model, toks = tiny_model(), tokens(4)
    acts = model.run_with_cache(toks, names_filter=HOOK)[1][HOOK].reshape(-1, 8)
    full = evaluate_sae(identity_sae(), acts, model=model, tokens=toks)
    assert full.fraction_variance_explained == pytest.approx(1.0, abs=1e-5)
    assert full.ce_loss_recovered == pytest.approx(1.0, abs=1e-4) and full.kl == pytest.approx(0.0, abs=1e-5)


def test_topk_metrics_on_the_fast_path_equal_the_dense_latents_metrics() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=8, expansion=4, architecture="topk", k=3))
    x = torch.randn(50, 8)
    m = evaluate_sae(sae, x, chunk=7)
    f = sae.encode(x).detach()
    assert m.l0 == pytest.approx(float((f > 0).sum(-1).float().mean()))
    assert m.dead_latents == int((~(f > 0).any(0)).sum())
    assert m.l1 == pytest.approx(float(f.sum(-1).mean()), rel=1e-5)


def test_splicing_bad_input_is_named_in_one_line() -> None:
    model, toks = tiny_model(), tokens(2)
    with pytest.raises(HookNameError, match="blocks.0.hook_resid_pots"):
        run_with_saes(model, toks, saes={"blocks.0.hook_resid_pots": identity_sae()})
    with pytest.raises(ShapeError, match="width 8 but the SAE has d_in=5"):
        run_with_saes(model, toks, saes=[identity_sae(d=5)])
    with pytest.raises(ConfigError, match="no cfg.hook_name"):
        run_with_saes(model, toks, saes=[identity_sae(hook=None)])
    with pytest.raises(HookNameError, match="no hook point 'hook_latents' in the SAE"):
        run_with_saes(model, toks, saes=[identity_sae()], fwd_hooks=[(f"{HOOK}.hook_latents", print)])
