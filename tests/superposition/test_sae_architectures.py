"""ReLU, TopK and JumpReLU SAEs against plain-torch references of their equations: outputs,
losses, straight-through gradients, the fast TopK path, the decoder constraint, save and load."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ConfigError
from circuitlab.hooks import ReadsOnly
from circuitlab.superposition import (
    SAEConfig,
    SparseAutoencoder,
    max_cosine_similarity,
    train_sae_on_activations,
)
from circuitlab.superposition.sae.jumprelu import rectangle

ARCH = {
    "relu": {"l1_coeff": 0.2, "resample_every": 200},
    "topk": {"k": 1, "dead_tokens": 2000},
    "jumprelu": {"l0_coeff": 0.05, "threshold_init": 0.05, "bandwidth": 0.05, "resample_every": 200},
}


def random_sae(arch: str, d_in: int = 6, expansion: int = 3, **kw) -> SparseAutoencoder:
    sae = SparseAutoencoder(SAEConfig(d_in=d_in, expansion=expansion, architecture=arch, **kw))
    with torch.no_grad():
        for p in sae.parameters():
            p.normal_(generator=torch.Generator().manual_seed(p.numel()))
        if arch == "jumprelu":
            sae.log_threshold.copy_(torch.linspace(-3, 0.5, sae.cfg.n_latents))
    return sae


def reference_pre(sae: SparseAutoencoder, x: torch.Tensor) -> torch.Tensor:
    return (x - sae.b_dec) @ sae.W_enc + sae.b_enc


def test_topk_keeps_the_k_largest_pre_activations_through_a_relu() -> None:
    sae = random_sae("topk", k=4)
    x = torch.randn(9, 6)
    pre = reference_pre(sae, x)
    kth = pre.sort(-1, descending=True).values[:, 3:4]
    f = torch.where(pre >= kth, torch.relu(pre), torch.zeros_like(pre))
    out = sae(x)
    torch.testing.assert_close(out.latents, f)
    torch.testing.assert_close(out.recon, f @ sae.W_dec + sae.b_dec)
    assert bool(((out.latents > 0).sum(-1) <= 4).all())
    torch.testing.assert_close(sae.encode(x), f)


@pytest.mark.parametrize("hook", ["hook_sae_acts_pre", "hook_sae_acts_post"])
def test_topk_fast_path_equals_the_dense_reference_path_in_outputs_and_gradients(hook: str) -> None:
    x0 = torch.randn(2, 8, 6)
    runs = []
    for hooked in (False, True):
        sae, x = random_sae("topk", k=3), x0.clone().requires_grad_(True)
        with torch.no_grad():
            sae.b_enc.sub_(1.0)  # some of the k chosen pre-activations negative: the ReLU matters
        with sae.hooks([(hook, ReadsOnly(lambda a, h: None))] if hooked else []):
            out = sae(x)
            assert (out.top is not None) != hooked
            loss = ((out.recon - x0.flip(-1)) ** 2).sum() + sae.loss(x0.reshape(16, 6), torch.arange(9)).aux
            loss.backward()
        runs.append(
            [out.recon.detach(), out.latents.detach(), out.pre.detach(), x.grad]
            + [p.grad for p in sae.parameters()]
        )
    assert bool((runs[0][1] == 0).any(-1).all())
    for fast, reference in zip(*runs, strict=True):
        torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-4)  # summation order differs


def test_auxk_reconstructs_the_residual_from_the_top_dead_latents() -> None:
    sae = random_sae("topk", k=2, aux_k=3, aux_coeff=0.5)
    x = torch.randn(10, 6)
    dead = torch.tensor([0, 2, 5, 7, 11, 13])
    loss = sae.loss(x, dead)
    pre = reference_pre(sae, x)
    masked = torch.full_like(pre, float("-inf"))
    masked[:, dead] = pre[:, dead]
    top = masked.topk(3, dim=-1)
    z_aux = torch.zeros_like(pre).scatter(-1, top.indices, top.values)  # no ReLU, as SAELens
    e = (x - loss.out.recon).detach()
    aux = min(6 / 3, 1.0) * ((z_aux @ sae.W_dec - e) ** 2).sum(-1).mean()
    torch.testing.assert_close(loss.aux, aux)
    torch.testing.assert_close(loss.total, loss.mse + 0.5 * aux)
    assert float(sae.loss(x, torch.tensor([], dtype=torch.long)).aux) == 0.0


def test_jumprelu_forward_is_pre_times_step_at_the_threshold() -> None:
    sae = random_sae("jumprelu")
    x = torch.randn(8, 6)
    pre = reference_pre(sae, x)
    theta = sae.log_threshold.exp()
    out = sae(x)
    torch.testing.assert_close(out.latents, pre * (pre > theta))
    torch.testing.assert_close(sae.threshold, theta)
    loss = sae.loss(x)
    torch.testing.assert_close(loss.l0, (pre > theta).float().sum(-1).mean())
    torch.testing.assert_close(loss.total, loss.mse + sae.cfg.l0_coeff * loss.l0)


def test_jumprelu_threshold_gradients_are_the_papers_pseudo_derivatives() -> None:
    eps = 0.3
    sae = random_sae("jumprelu", bandwidth=eps, l0_coeff=0.0)
    x = torch.randn(32, 6)
    pre = reference_pre(sae, x).detach()
    theta = sae.threshold.detach()
    g = torch.randn(32, sae.cfg.n_latents)
    (sae(x).latents * g).sum().backward()
    kernel = rectangle((pre - theta) / eps)
    dtheta = (-(theta / eps) * kernel * g).sum(0)
    torch.testing.assert_close(sae.log_threshold.grad, dtheta * theta)  # chain rule through exp
    sae.zero_grad()
    from circuitlab.superposition.sae.jumprelu import l0_penalty

    pre_req = pre.clone().requires_grad_(True)
    theta_req = theta.clone().requires_grad_(True)
    l0_penalty(pre_req, theta_req, eps).backward()
    torch.testing.assert_close(theta_req.grad, (-(1 / eps) * kernel).sum(0) / 32)
    assert pre_req.grad is None or float(pre_req.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("arch", ["relu", "topk", "jumprelu"])
def test_each_architecture_recovers_sparse_directions_with_unit_decoder_rows(arch: str) -> None:
    g = torch.Generator().manual_seed(0)
    truth = torch.nn.functional.normalize(torch.randn(8, 4, generator=g), dim=-1)
    acts = (torch.rand(8192, 8, generator=g) * (torch.rand(8192, 8, generator=g) < 0.06)) @ truth
    cfg = SAEConfig(d_in=4, expansion=4, lr=3e-3, steps=800, batch_size=512, architecture=arch, **ARCH[arch])
    result = train_sae_on_activations(acts, cfg)
    torch.testing.assert_close(result.sae.W_dec.detach().norm(dim=-1), torch.ones(16))
    assert float(max_cosine_similarity(result.sae.directions, truth).mean()) > 0.9
    assert result.metrics.fraction_variance_explained > 0.9
    assert result.loss_history[-1] < result.loss_history[0]


@pytest.mark.parametrize("arch", ["relu", "topk", "jumprelu"])
def test_cl_save_and_load_keep_every_architecture(arch: str, tmp_path) -> None:
    sae = random_sae(arch, k=5, hook_name="blocks.0.hook_resid_post")
    cl.save(sae, tmp_path / arch)
    back = cl.load(tmp_path / arch)
    assert isinstance(back, SparseAutoencoder) and back.cfg == sae.cfg
    x = torch.randn(4, 6)
    torch.testing.assert_close(back(x).latents, sae(x).latents)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"architecture": "topk", "k": 25}, r"SAEConfig.k=25 > d_sae=24: .*lower k or raise expansion"),
        ({"architecture": "jumprelu", "bandwidth": 0.0}, "bandwidth=0.0: must be a number > 0"),
        ({"architecture": "jumprelu", "threshold_init": -1.0}, "threshold_init=-1.0: must be a number > 0"),
        ({"aux_coeff": -0.1}, "aux_coeff=-0.1: must be a number >= 0"),
        ({"d_sae": 0}, "d_sae=0: must be an integer >= 1"),
        ({"hook_name": ""}, "hook_name='': must be a hook name or None"),
    ],
    ids=["k_over_d_sae", "zero_bandwidth", "negative_threshold", "negative_aux", "zero_d_sae", "empty_hook"],
)
def test_bad_architecture_settings_raise_one_line_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        SAEConfig(d_in=6, expansion=4, **kwargs)


def test_d_sae_overrides_expansion_and_k_may_equal_d_sae() -> None:
    assert SAEConfig(d_in=6, d_sae=10).n_latents == 10
    assert SAEConfig(d_in=6, expansion=2, architecture="topk", k=12).k == 12
    assert SAEConfig(d_in=6).k_aux == 3 and SAEConfig(d_in=6, aux_k=5).k_aux == 5


def test_a_topk_training_step_runs_topk_once_and_no_dense_product_in_the_backward() -> None:
    from torch.profiler import ProfilerActivity, profile

    from circuitlab.superposition.sae import SAETrainer

    n, d_sae = 64, 48
    trainer = SAETrainer(
        SAEConfig(d_in=6, d_sae=d_sae, architecture="topk", k=4, batch_size=n, dead_tokens=10**9)
    )
    x = torch.randn(n, 6)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        trainer.train_step(x)
    events = [(e.name, e.input_shapes) for e in prof.events()]
    assert sum(name == "aten::topk" for name, _ in events) == 1
    dense = {name for name, shapes in events if [n, d_sae] in shapes and name.startswith("aten::")}
    # a dense [n, d_sae] tensor is only the forward's pre-activations (addmm's output, topk's input):
    # no mask product, no dense gradient of pre, no [n, d_sae] matrix product
    assert not dense & {"aten::mm", "aten::addmm", "aten::mul", "aten::scatter", "aten::zero_", "aten::fill_",
                        "aten::where", "aten::gather", "aten::index_put_"}, dense  # fmt: skip
    assert "aten::topk" in dense
