"""The VAE's loss is the closed-form negative ELBO and its sample is reparameterized."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Bernoulli, Normal, kl_divergence

import circuitlab as cl
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.nets import VAE, VAEConfig, VAEOutput


@pytest.fixture
def vae() -> VAE:
    return cl.nets.VAE(d_in=12, d_hidden=8, d_latent=2)


def _x(n: int = 6) -> torch.Tensor:
    return torch.rand(n, 12, generator=torch.Generator().manual_seed(3))


def test_forward_returns_typed_output_with_shapes(vae: VAE) -> None:
    out = vae(_x())
    assert isinstance(out, VAEOutput)
    assert out.recon.shape == (6, 12) and out.mu.shape == out.logvar.shape == out.z.shape == (6, 2)
    assert ((out.recon > 0) & (out.recon < 1)).all()


def test_loss_is_bernoulli_nll_plus_closed_form_kl(vae: VAE) -> None:
    x = _x()
    terms = vae.loss_terms(x, generator=torch.Generator().manual_seed(0))
    out = vae(x, generator=torch.Generator().manual_seed(0))
    q = Normal(out.mu, torch.exp(out.logvar / 2))
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum(1).mean()
    nll = -Bernoulli(logits=out.logits, validate_args=False).log_prob(x).sum(1).mean()
    torch.testing.assert_close(terms.kl, kl)
    torch.testing.assert_close(terms.reconstruction, nll)
    torch.testing.assert_close(terms.total, nll + kl)
    torch.testing.assert_close(vae.loss(x, generator=torch.Generator().manual_seed(0)), terms.total)


def test_gradients_reach_mu_and_logvar_through_the_reparameterized_sample() -> None:
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.zeros(4, 2, requires_grad=True)
    z = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(0))
    d_mu, d_logvar = torch.autograd.grad(z.pow(2).sum(), [mu, logvar])
    assert d_mu.abs().sum() > 0 and d_logvar.abs().sum() > 0


def test_gradients_do_not_pass_a_plain_normal_draw() -> None:
    """torch.normal(mu, std) records a backward node, but it sends zero gradient to mu and std."""
    mu = torch.zeros(4, 2, requires_grad=True)
    logvar = torch.zeros(4, 2, requires_grad=True)
    z = torch.normal(mu, torch.exp(logvar / 2), generator=torch.Generator().manual_seed(0))
    grads = torch.autograd.grad(z.pow(2).sum(), [mu, logvar], allow_unused=True)
    assert all(g is None or g.abs().sum() == 0 for g in grads)


def test_reparameterized_sample_has_mean_mu_and_variance_exp_logvar() -> None:
    mu = torch.tensor([1.0, -2.0]).expand(20000, 2)
    logvar = torch.tensor([0.0, 1.0]).expand(20000, 2)
    z = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(1))
    torch.testing.assert_close(z.mean(0), torch.tensor([1.0, -2.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(z.var(0), torch.exp(torch.tensor([0.0, 1.0])), atol=0.08, rtol=0)


def test_sample_is_deterministic_under_a_generator(vae: VAE) -> None:
    a = vae.sample(5, generator=torch.Generator().manual_seed(7))
    b = vae.sample(5, generator=torch.Generator().manual_seed(7))
    assert a.shape == (5, 12) and torch.equal(a, b)


def test_cache_shows_the_latent_path(vae: VAE) -> None:
    _, cache = vae.run_with_cache(_x())
    assert list(cache) == ["hook_h", "hook_mu", "hook_logvar", "hook_z", "hook_h_dec", "hook_recon"]
    assert cache["hook_z"].shape == (6, 2) and cache["hook_h_dec"].shape == (6, 8)


def test_parameters_are_the_equations_phi_and_theta() -> None:
    shapes = {name: tuple(p.shape) for name, p in VAE(12, 8, 2).named_parameters()}
    assert shapes == {
        "W_1": (8, 12),
        "b_1": (8,),
        "W_mu": (2, 8),
        "b_mu": (2,),
        "W_logvar": (2, 8),
        "b_logvar": (2,),
        "W_2": (8, 2),
        "b_2": (8,),
        "W_3": (12, 8),
        "b_3": (12,),
    }


def test_forward_is_the_docstrings_equations_written_out(vae: VAE) -> None:
    x, v = _x(), vae
    h = torch.relu(x @ v.W_1.T + v.b_1)
    mu, logvar = h @ v.W_mu.T + v.b_mu, h @ v.W_logvar.T + v.b_logvar
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(4))
    z = mu + torch.exp(logvar / 2) * eps
    recon = torch.sigmoid(torch.relu(z @ v.W_2.T + v.b_2) @ v.W_3.T + v.b_3)
    out = vae(x, generator=torch.Generator().manual_seed(4))
    for got, want in ((out.mu, mu), (out.logvar, logvar), (out.z, z), (out.recon, recon)):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize(
    "x,match",
    [
        (torch.rand(6, 11), r"\[batch, 12\].*\(6, 11\)"),
        (torch.ones(6, 12, dtype=torch.int64), "int64"),
        (torch.rand(12), r"\(12,\)"),
        (torch.rand(6, 12) * 16, r"\[0, 1\]"),
    ],
    ids=["wrong-width", "integer", "no-batch-axis", "out-of-range"],
)
def test_bad_input_raises_shape_error(vae: VAE, x, match) -> None:
    with pytest.raises(ShapeError, match=match):
        vae.loss(x)


def test_vae_of_a_config_equals_the_positional_shim() -> None:
    cfg = VAEConfig(d_in=12, d_hidden=8, d_latent=2)
    torch.manual_seed(0)
    from_cfg = VAE(cfg)
    torch.manual_seed(0)
    from_args = VAE(12, 8, 2)
    assert from_cfg.cfg is cfg and from_args.cfg == cfg
    x = _x()
    torch.testing.assert_close(
        from_cfg.loss(x, torch.Generator().manual_seed(0)),
        from_args.loss(x, torch.Generator().manual_seed(0)),
    )


@pytest.mark.parametrize(
    "args", [(12, 8, 0), (12, 2.5, 2), (12, True, 2)], ids=["zero-latent", "fractional-hidden", "bool-hidden"]
)
def test_bad_widths_are_refused_by_name(args) -> None:
    with pytest.raises(ConfigError, match=r"VAEConfig\.d_(hidden|latent)=.*: must be an integer >= 1"):
        VAE(*args)
