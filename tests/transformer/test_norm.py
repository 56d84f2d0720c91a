"""LayerNorm from the seed's formula, against torch's fused kernel."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from circuitlab.hooks import ReadsOnly
from circuitlab.transformer.norm import LayerNorm, NoNorm


@pytest.fixture
def ln() -> LayerNorm:
    norm = LayerNorm(8, eps=1e-5)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        norm.w.copy_(1 + 0.3 * torch.randn(8, generator=gen))
        norm.b.copy_(0.3 * torch.randn(8, generator=gen))
    return norm


@pytest.fixture
def x() -> torch.Tensor:
    return 3 * torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(1)) + 1


def test_explicit_formula_matches_torch_layer_norm_outputs_and_gradients(ln: LayerNorm, x) -> None:
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours = ln.explicit(x1)
    ref = F.layer_norm(x2, (8,), ln.w, ln.b, ln.eps)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=1e-5)
    g = torch.randn(ours.shape, generator=torch.Generator().manual_seed(2))
    (gx1,) = torch.autograd.grad(ours, x1, g)
    (gx2,) = torch.autograd.grad(ref, x2, g)
    torch.testing.assert_close(gx1, gx2, atol=1e-5, rtol=1e-4)


def test_fast_path_equals_explicit_path(ln: LayerNorm, x) -> None:
    torch.testing.assert_close(ln(x), ln.explicit(x), atol=1e-6, rtol=1e-5)


def test_hook_scale_sees_sqrt_var_plus_eps_and_hook_normalized_sees_x_hat(ln: LayerNorm, x) -> None:
    seen = {}
    ln.hook_scale.fwd_fns.append(lambda a, h: seen.__setitem__("scale", a))
    ln.hook_normalized.fwd_fns.append(lambda a, h: seen.__setitem__("normalized", a))
    out = ln(x)
    var = x.var(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(seen["scale"], (var + ln.eps).sqrt())
    x_hat = (x - x.mean(-1, keepdim=True)) / (var + ln.eps).sqrt()
    torch.testing.assert_close(seen["normalized"], x_hat, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out, x_hat * ln.w + ln.b, atol=1e-6, rtol=1e-5)


def test_only_hook_normalized_uses_the_fused_x_hat_with_the_same_result(ln: LayerNorm, x) -> None:
    ln.hook_normalized.fwd_fns.append(lambda a, h: None)
    torch.testing.assert_close(ln(x), ln.explicit(x), atol=1e-6, rtol=1e-5)


def test_editing_the_scale_takes_effect(ln: LayerNorm, x) -> None:
    ln.hook_scale.fwd_fns.append(lambda a, h: torch.ones_like(a))
    centered = x - x.mean(-1, keepdim=True)
    torch.testing.assert_close(ln(x), centered * ln.w + ln.b)


def test_no_norm_is_the_identity(x) -> None:
    assert NoNorm()(x) is x


def test_a_read_only_scale_hook_sees_the_formulas_scale_beside_the_fused_kernel(ln: LayerNorm, x) -> None:
    seen = {}
    ln.hook_scale.fwd_fns.append(ReadsOnly(lambda a, h: seen.__setitem__("scale", a)))
    ln.hook_normalized.fwd_fns.append(ReadsOnly(lambda a, h: seen.__setitem__("normalized", a)))
    assert not ln.hook_scale.edits
    x_in = x.clone().requires_grad_()
    out = ln(x_in)
    assert not seen["scale"].requires_grad  # the read-only copy is outside the graph
    (grad,) = torch.autograd.grad(out.sum(), x_in)
    (ref_grad,) = torch.autograd.grad(ln.explicit(x_in).sum(), x_in)
    torch.testing.assert_close(grad, ref_grad, atol=1e-5, rtol=1e-4)
    out = out.detach()
    var = x.var(-1, unbiased=False, keepdim=True)
    torch.testing.assert_close(seen["scale"], (var + ln.eps).sqrt(), atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(seen["normalized"], (x - x.mean(-1, keepdim=True)) / (var + ln.eps).sqrt())
    torch.testing.assert_close(out, ln.explicit(x), atol=1e-6, rtol=1e-5)


def test_a_backward_hook_on_the_scale_gets_the_explicit_path_and_its_gradient(ln: LayerNorm, x) -> None:
    grads = []
    ln.hook_scale.bwd_fns.append(lambda g, h: grads.append(g))
    assert ln.hook_scale.edits
    ln(x.clone().requires_grad_()).sum().backward()
    assert len(grads) == 1 and grads[0].shape == (2, 5, 1)
