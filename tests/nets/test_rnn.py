"""Our Elman RNN equals torch.nn.RNN (outputs and gradients) and shows its hidden states."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.nets import RNN
from circuitlab.nets.bptt import RNNRecurrence

SHAPES = [
    dict(batch=3, pos=6, d_in=5, d_hidden=7, num_layers=1, batch_first=True, nonlinearity="tanh"),
    dict(batch=2, pos=9, d_in=4, d_hidden=3, num_layers=2, batch_first=False, nonlinearity="tanh"),
    dict(batch=1, pos=1, d_in=2, d_hidden=8, num_layers=3, batch_first=True, nonlinearity="tanh"),
    dict(batch=4, pos=5, d_in=3, d_hidden=6, num_layers=2, batch_first=True, nonlinearity="relu"),
]
IDS = ["one-layer", "two-layers-time-major", "one-step-three-layers", "relu"]


def _pair(s: dict) -> tuple[torch.nn.RNN, RNN, torch.Tensor]:
    ref = torch.nn.RNN(
        s["d_in"],
        s["d_hidden"],
        s["num_layers"],
        nonlinearity=s["nonlinearity"],
        batch_first=s["batch_first"],
    )
    shape = (s["batch"], s["pos"], s["d_in"]) if s["batch_first"] else (s["pos"], s["batch"], s["d_in"])
    return ref, RNN.from_torch(ref), torch.randn(shape)


def _loss_and_grads(model, x, h0):
    x = x.clone().requires_grad_()
    h0 = h0.clone().requires_grad_()
    out, h_n = model(x, h0)
    (out.pow(2).sum() + h_n.sin().sum()).backward()
    return out, h_n, x.grad, h0.grad, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("s", SHAPES, ids=IDS)
@pytest.mark.parametrize("hooked", [False, True], ids=["fused", "hooked-loop"])
def test_rnn_matches_torch_rnn_outputs_and_gradients(s: dict, hooked: bool) -> None:
    ref, ours, x = _pair(s)
    h0 = torch.randn(s["num_layers"], s["batch"], s["d_hidden"])
    expected = _loss_and_grads(ref, x, h0)
    with ours.hooks([(lambda n: n.endswith("hook_pre"), lambda a, h: None)] if hooked else []):
        got = _loss_and_grads(ours, x, h0)
    for e, g in zip(expected[:4], got[:4], strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)
    for e, g in zip(expected[4], got[4], strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_fused_recurrence_passes_gradcheck() -> None:
    g = torch.Generator().manual_seed(0)
    args = [
        torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True)
        for s in [(4, 2, 3), (2, 3), (3, 3)]
    ]
    assert torch.autograd.gradcheck(lambda *a: RNNRecurrence.apply(*a, "tanh"), args)


def test_cache_shows_the_hidden_state_at_every_step() -> None:
    model = cl.nets.RNN(3, 4, num_layers=2)
    x = torch.randn(2, 5, 3)
    (out, _), cache = model.run_with_cache(x)
    assert cache["layers.1.hook_h"].shape == (2, 5, 4)
    torch.testing.assert_close(cache["layers.1.hook_h"], out)
    torch.testing.assert_close(cache["layers.0.hook_h"], torch.tanh(cache["layers.0.hook_pre"]))


def test_a_hook_on_h_edits_what_the_layer_passes_on() -> None:
    model = RNN(3, 4)
    out, h_n = model.run_with_hooks(torch.randn(2, 5, 3), fwd_hooks=[("layers.0.hook_h", lambda a, h: a * 0)])
    assert out.abs().sum() == 0 and h_n.abs().sum() == 0


@pytest.mark.parametrize(
    "x,h0,match",
    [
        (torch.randn(32, 3), None, r"expected shape \[batch, pos, 3\], got \(32, 3\)"),
        (torch.ones(2, 5, 3, dtype=torch.int64), None, "expected dtype torch.float32"),
        (torch.randn(2, 5, 4), None, r"got \(2, 5, 4\)"),
        (torch.randn(2, 5, 3), torch.zeros(1, 2, 5), r"\[1, 2, 4\].*got \(1, 2, 5\)"),
    ],
    ids=["no-time-axis", "integer", "wrong-d_in", "wrong-state-size"],
)
def test_bad_input_raises_shape_error_naming_shapes(x, h0, match) -> None:
    with pytest.raises(ShapeError, match=match):
        RNN(3, 4)(x, h0)


@pytest.mark.parametrize(
    "module", [torch.nn.RNN(3, 4, bidirectional=True), torch.nn.GRU(3, 4)], ids=["bidirectional", "gru"]
)
def test_from_torch_refuses_what_it_cannot_copy(module) -> None:
    with pytest.raises(ConfigError):
        RNN.from_torch(module)
