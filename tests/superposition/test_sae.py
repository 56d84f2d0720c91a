"""The sparse autoencoder: its equations, unit-norm decoder, hooks, resampling, metrics and errors."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from circuitlab.errors import ConfigError, HookNameError, ShapeError
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.superposition import (
    SAEConfig,
    SparseAutoencoder,
    collect_activations,
    evaluate_sae,
    fraction_variance_explained,
    max_cosine_similarity,
    train_sae,
    train_sae_on_activations,
)
from circuitlab.superposition.sae.resample import resample_dead


class TwoLayer(HookedModule):
    def __init__(self) -> None:
        super().__init__()
        self.lin1 = nn.Linear(4, 6)
        self.hook_pre = HookPoint()
        self.lin2 = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(torch.relu(self.hook_pre(self.lin1(x))))


def sparse_data(n: int, n_true: int, d_in: int, p: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x = sum_i c_i d_i with c_i ~ U[0,1] w.p. p: ground-truth unit directions d: [n_true, d_in]."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.randn(n_true, d_in, generator=g)
    truth = truth / truth.norm(dim=-1, keepdim=True)
    coeff = torch.rand(n, n_true, generator=g) * (torch.rand(n, n_true, generator=g) < p)
    return coeff @ truth, truth


def test_forward_follows_the_encoder_decoder_equations() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=3, expansion=2), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for p in sae.parameters():
            p.normal_()
    x = torch.randn(5, 3)
    f = torch.relu((x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    out = sae(x)
    torch.testing.assert_close(out.latents, f)
    torch.testing.assert_close(out.recon, f @ sae.W_dec + sae.b_dec)
    loss = sae.loss(x)
    torch.testing.assert_close(
        loss.total, ((x - out.recon) ** 2).sum(-1).mean() + 1e-3 * f.abs().sum(-1).mean()
    )


def test_latent_count_is_a_multiple_of_input_width_and_decoder_rows_start_unit() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=4, expansion=3))
    assert sae.W_dec.shape == (12, 4) and sae.W_enc.shape == (4, 12)
    torch.testing.assert_close(sae.W_dec.norm(dim=-1), torch.ones(12))


def test_sae_hook_points_cache_latents_and_reconstruction() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=3, expansion=2))
    x = torch.randn(7, 3)
    out, cache = sae.run_with_cache(x)
    assert sae.hook_names == ["hook_sae_input", "hook_sae_acts_pre", "hook_sae_acts_post", "hook_sae_recons"]
    torch.testing.assert_close(cache["hook_sae_input"], x)
    torch.testing.assert_close(cache["hook_sae_acts_pre"], out.pre.detach())
    torch.testing.assert_close(cache["hook_sae_acts_post"], out.latents.detach())
    torch.testing.assert_close(cache["hook_sae_recons"], out.recon.detach())


def test_training_keeps_decoder_rows_unit_norm_and_recovers_sparse_directions() -> None:
    acts, truth = sparse_data(8192, n_true=8, d_in=4, p=0.06, seed=0)
    cfg = SAEConfig(d_in=4, expansion=4, l1_coeff=0.2, lr=3e-3, steps=800, batch_size=512, resample_every=200)
    result = train_sae_on_activations(acts, cfg)
    torch.testing.assert_close(result.sae.W_dec.detach().norm(dim=-1), torch.ones(16))
    assert result.loss_history[-1] < result.loss_history[0]
    assert float(max_cosine_similarity(result.sae.directions, truth).mean()) > 0.9
    assert result.metrics.fraction_variance_explained > 0.8
    assert 0 < result.metrics.l0 < 4


def test_train_sae_reads_any_hook_of_any_hooked_module_through_run_with_cache() -> None:
    model = TwoLayer()
    batches = [torch.randn(32, 4) for _ in range(3)]
    acts = collect_activations(model, "hook_pre", batches)
    assert acts.shape == (96, 6)
    torch.testing.assert_close(acts[:32], model.lin1(batches[0]).detach())
    result = train_sae(model, "hook_pre", batches, SAEConfig(d_in=6, expansion=2, steps=20, batch_size=16))
    assert result.hook_name == "hook_pre" and result.metrics.n_latents == 12


def test_sae_pointed_at_a_missing_hook_raises_the_hook_systems_error() -> None:
    with pytest.raises(HookNameError, match="no hook point named 'hook_post'.*did you mean hook_pre"):
        train_sae(TwoLayer(), "hook_post", [torch.randn(2, 4)], SAEConfig(d_in=6))


def test_resampling_revives_dead_latents_and_clears_their_adam_state() -> None:
    acts, _ = sparse_data(2048, n_true=6, d_in=4, p=0.2, seed=1)
    sae = SparseAutoencoder(SAEConfig(d_in=4, expansion=2))
    opt = torch.optim.Adam(sae.parameters(), lr=1e-3)
    sae.loss(acts[:64]).total.backward()
    opt.step()
    dead = torch.zeros(8, dtype=torch.bool)
    dead[[1, 5]] = True
    with torch.no_grad():
        sae.b_enc[dead] = -100.0
    assert evaluate_sae(sae, acts).dead_latents >= 2
    assert resample_dead(sae, opt, dead, acts, torch.Generator().manual_seed(0)) == 2
    torch.testing.assert_close(sae.W_dec.detach()[dead].norm(dim=-1), torch.ones(2))
    assert bool((sae.encode(acts)[:, dead] > 0).any(0).all())
    assert bool((opt.state[sae.W_dec]["exp_avg"][dead] == 0).all())
    assert bool((opt.state[sae.W_enc]["exp_avg_sq"][:, dead] == 0).all())


def test_metrics_match_direct_computation() -> None:
    sae = SparseAutoencoder(SAEConfig(d_in=3, expansion=2))
    x = torch.randn(50, 3)
    out = sae(x)
    m = evaluate_sae(sae, x, chunk=7)
    active = out.latents > 0
    assert m.l0 == pytest.approx(float(active.sum(-1).float().mean()))
    assert m.dead_latents == int((~active.any(0)).sum())
    assert m.mse == pytest.approx(float(((x - out.recon.detach()) ** 2).sum(-1).mean()), rel=1e-5)
    assert fraction_variance_explained(x, x) == pytest.approx(1.0)
    assert m.fraction_variance_explained == pytest.approx(fraction_variance_explained(x, out.recon.detach()))
    assert fraction_variance_explained(x, x.mean(0).expand_as(x)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"d_in": 0}, "SAEConfig.d_in=0: must be an integer >= 1"),
        ({"expansion": 0}, "expansion=0: must be an integer >= 1"),
        ({"steps": 2.5}, "steps=2.5: must be an integer >= 1"),
        ({"l1_coeff": -1.0}, "l1_coeff=-1.0: must be a number >= 0"),
        ({"lr": 0.0}, "lr=0.0: must be a number > 0"),
        ({"lr": float("inf")}, "lr=inf: must be a finite number > 0"),
        ({"resample_every": -5}, "resample_every=-5: must be an integer >= 0"),
        ({"architecture": "gated"}, "architecture='gated': choose one of relu, topk, jumprelu"),
    ],
    ids=[
        "no_input",
        "no_latents",
        "fractional_steps",
        "negative_l1",
        "zero_lr",
        "infinite_lr",
        "negative_resample",
        "unknown_architecture",
    ],
)
def test_bad_sae_config_raises_config_error(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SAEConfig(**{"d_in": 4, **kwargs})


def test_sae_refuses_activations_of_the_wrong_width() -> None:
    with pytest.raises(ShapeError, match="d_in=4"):
        train_sae_on_activations(torch.randn(10, 5), SAEConfig(d_in=4))


def test_sae_config_is_json_and_records_its_architecture() -> None:
    cfg = SAEConfig(d_in=4, expansion=3, l1_coeff=0.2)
    assert cfg.architecture == "relu" and cfg.to_dict()["architecture"] == "relu"
    assert SAEConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert SAEConfig.from_dict({"d_in": 4}) == SAEConfig(d_in=4)  # a config saved before the field
