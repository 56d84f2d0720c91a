"""The fused unembed + cross-entropy (circuitlab.transformer.loss) and return_type="loss"."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_models import tiny_model, tokens

import circuitlab.transformer.loss as loss_module
from circuitlab.data.datasets import Batch
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.training import next_token_loss
from circuitlab.transformer.loss import unembed_cross_entropy


def _inputs(n: int, d: int = 6, v: int = 11, dtype=torch.float64, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=gen, dtype=dtype, requires_grad=True)
    W = torch.randn(d, v, generator=gen, dtype=dtype, requires_grad=True)
    b = torch.randn(v, generator=gen, dtype=dtype, requires_grad=True)
    t = torch.randint(0, v, (n,), generator=gen)
    return x, W, b, t


@pytest.mark.parametrize("n", [1, 3, 4, 5, 9])
def test_equals_cross_entropy_of_the_logits_in_value_and_gradients(n: int, monkeypatch) -> None:
    monkeypatch.setattr(loss_module, "CHUNK", 4)  # several blocks, and a last one cut short
    x, W, b, t = _inputs(n)
    ours = unembed_cross_entropy(x, W, b, t)
    grads = torch.autograd.grad(ours * 1.7, (x, W, b))
    ref = F.cross_entropy(x @ W + b, t)
    ref_grads = torch.autograd.grad(ref * 1.7, (x, W, b))
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-12, rtol=0)


def test_passes_gradcheck(monkeypatch) -> None:
    monkeypatch.setattr(loss_module, "CHUNK", 3)
    x, W, b, t = _inputs(7)
    assert torch.autograd.gradcheck(lambda x, W, b: unembed_cross_entropy(x, W, b, t), (x, W, b))


def test_only_the_inputs_that_need_it_get_a_gradient() -> None:
    x, W, b, t = _inputs(5)
    W.requires_grad_(False)
    loss = unembed_cross_entropy(x, W, b, t)
    loss.backward()
    assert W.grad is None and x.grad is not None and b.grad is not None
    with torch.no_grad():
        torch.testing.assert_close(unembed_cross_entropy(x, W, b, t), F.cross_entropy(x @ W + b, t))


def test_float32_matches_at_the_headline_vocabulary_size() -> None:
    x, W, b, t = _inputs(600, d=32, v=4096, dtype=torch.float32)
    x.data.mul_(3.0)  # large logits: the log-sum-exp must be stable
    ours = unembed_cross_entropy(x, W, b, t)
    ref = F.cross_entropy(x @ W + b, t)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-6)
    torch.testing.assert_close(
        torch.autograd.grad(ours, W)[0], torch.autograd.grad(ref, W)[0], atol=1e-6, rtol=1e-5
    )


def test_mismatched_targets_and_empty_input_are_clear_errors() -> None:
    x, W, b, t = _inputs(5)
    with pytest.raises(ValueError, match=r"targets have shape \(4,\).*\(5,\)"):
        unembed_cross_entropy(x, W, b, t[:4])
    with pytest.raises(ValueError, match="no positions"):
        unembed_cross_entropy(x[:0], W, b, t[:0])


@pytest.mark.parametrize("positional", ["shortformer", "learned", "none"])
def test_model_loss_is_the_next_token_cross_entropy_of_its_logits(positional: str) -> None:
    model = tiny_model(positional=positional, attn_only=False)
    toks = tokens()
    logits = model(toks)
    ref = F.cross_entropy(logits[:, :-1].flatten(0, 1), toks[:, 1:].flatten())
    ref_grads = torch.autograd.grad(ref, list(model.parameters()))
    ours = model(toks, return_type="loss")
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    for g, r in zip(torch.autograd.grad(ours, list(model.parameters())), ref_grads, strict=True):
        torch.testing.assert_close(g, r, atol=1e-6, rtol=1e-5)
    both_logits, both_loss = model(toks, return_type="both")
    torch.testing.assert_close(both_logits, logits)
    torch.testing.assert_close(both_loss, ref)


def test_explicit_targets_score_every_position() -> None:
    model = tiny_model()
    toks, targets = tokens(seed=1), tokens(seed=2)
    ref = F.cross_entropy(model(toks).flatten(0, 1), targets.flatten())
    torch.testing.assert_close(model(toks, return_type="loss", targets=targets), ref, atol=1e-6, rtol=0)


def test_hooks_before_the_unembedding_still_act_on_the_loss() -> None:
    model = tiny_model()
    toks = tokens()

    def zero(act, hook):
        return torch.zeros_like(act)

    ablated = model.run_with_hooks(toks, return_type="loss", fwd_hooks=[("blocks.1.hook_attn_out", zero)])
    with model.hooks([("blocks.1.hook_attn_out", zero)]):
        logits = model(toks)
    ref = F.cross_entropy(logits[:, :-1].flatten(0, 1), toks[:, 1:].flatten())
    torch.testing.assert_close(ablated, ref, atol=1e-6, rtol=0)
    assert not torch.allclose(ablated, model(toks, return_type="loss"))


def test_bad_loss_requests_are_clear_errors() -> None:
    model = tiny_model()
    with pytest.raises(ConfigError, match="return_type='logprobs': choose one of logits, loss, both"):
        model(tokens(), return_type="logprobs")
    with pytest.raises(ShapeError, match=r"shape \(3, 1\).*at least 2 tokens"):
        model(tokens(pos=1), return_type="loss")
    with pytest.raises(ShapeError, match=r"targets have shape \(3, 9\), tokens \(3, 10\)"):
        model(tokens(), return_type="loss", targets=tokens(pos=9))
    with pytest.raises(ShapeError, match="token id 23 out of range"):
        model(tokens(), return_type="loss", targets=torch.full((3, 10), 23))


def test_training_loss_goes_through_the_models_own_loss() -> None:
    model = tiny_model()
    batch = Batch(tokens(seed=3), tokens(seed=4))
    ref = F.cross_entropy(model(batch.inputs).flatten(0, 1), batch.targets.flatten())
    seen = []
    model.unembed.register_forward_hook(lambda *a: seen.append(1))  # the logits path would run it
    torch.testing.assert_close(next_token_loss(model, batch), ref, atol=1e-6, rtol=0)
    assert not seen


def test_no_gradient_work_without_autograd() -> None:
    from torch.profiler import ProfilerActivity, profile

    x, W, b, t = _inputs(600, d=8, v=50, dtype=torch.float32)

    def matmuls(grad_mode: bool) -> int:
        with torch.set_grad_enabled(grad_mode), profile(activities=[ProfilerActivity.CPU]) as prof:
            unembed_cross_entropy(x, W, b, t)
        return sum(e.count for e in prof.key_averages() if e.key in ("aten::mm", "aten::addmm_"))

    assert matmuls(False) == 0  # the logits' addmm only: no dL/dx or dL/dW products
    assert matmuls(True) > 0
