"""Our LSTM equals torch.nn.LSTM (outputs and gradients) and shows its gates through hooks."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import ReadsOnly
from circuitlab.nets import LSTM
from circuitlab.nets.bptt import LSTMRecurrence, oifg_rows
from circuitlab.nets.lstm import LSTMLayer

SHAPES = [
    dict(batch=3, pos=6, d_in=5, d_hidden=7, num_layers=1, batch_first=True),
    dict(batch=2, pos=9, d_in=4, d_hidden=3, num_layers=2, batch_first=False),
    dict(batch=1, pos=1, d_in=2, d_hidden=8, num_layers=3, batch_first=True),
    dict(batch=5, pos=4, d_in=6, d_hidden=5, num_layers=2, batch_first=True),
]
IDS = ["one-layer", "two-layers-time-major", "one-step-three-layers", "two-layers"]


def _pair(s: dict, bias: bool = True) -> tuple[torch.nn.LSTM, LSTM, torch.Tensor]:
    ref = torch.nn.LSTM(s["d_in"], s["d_hidden"], s["num_layers"], bias=bias, batch_first=s["batch_first"])
    shape = (s["batch"], s["pos"], s["d_in"]) if s["batch_first"] else (s["pos"], s["batch"], s["d_in"])
    return ref, LSTM.from_torch(ref), torch.randn(shape)


def _loss_and_grads(model, x, state):
    x = x.clone().requires_grad_()
    h0, c0 = (s.clone().requires_grad_() for s in state)
    out, (h_n, c_n) = model(x, (h0, c0))
    (out.pow(2).sum() + h_n.sin().sum() + c_n.pow(2).sum()).backward()
    return [out, h_n, c_n, x.grad, h0.grad, c0.grad, *[p.grad for p in model.parameters()]]


@pytest.mark.parametrize("used", ["out", "c_n"])
def test_gradients_match_torch_when_only_one_output_is_used(used: str) -> None:
    ref, ours = _pair(SHAPES[0])[:2]
    x = torch.randn(3, 6, 5)
    grads = []
    for model in (ref, ours):
        xi = x.clone().requires_grad_()
        out, (_, c_n) = model(xi)
        (out if used == "out" else c_n).pow(2).sum().backward()
        grads.append([xi.grad, *[p.grad for p in model.parameters()]])
    for ours_g, ref_g in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(ours_g, ref_g, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("s", SHAPES, ids=IDS)
@pytest.mark.parametrize("hooked", ["none", "edit", "read"], ids=["fused", "hooked-loop", "fused-read-gates"])
def test_lstm_matches_torch_lstm_outputs_and_gradients(s: dict, hooked: str) -> None:
    ref, ours, x = _pair(s)
    state = [torch.randn(s["num_layers"], s["batch"], s["d_hidden"]) for _ in range(2)]
    expected = _loss_and_grads(ref, x, state)
    hook = {"none": None, "edit": lambda a, h: None, "read": ReadsOnly(lambda a, h: None)}[hooked]
    with ours.hooks([(lambda n: n.endswith("hook_f"), hook)] if hook else []):
        got = _loss_and_grads(ours, x, state)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_lstm_without_bias_matches_torch() -> None:
    ref, ours, x = _pair(SHAPES[0], bias=False)
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_fused_recurrence_passes_gradcheck(bias: bool) -> None:
    g = torch.Generator().manual_seed(0)
    shapes = [(4, 2, 5), (2, 3), (2, 3), (12, 5), (12, 3), (12,)]  # x [T, B, d_in], h0, c0, W_ih, W_hh, b
    args = [torch.randn(s, generator=g, dtype=torch.float64, requires_grad=True) for s in shapes]
    if not bias:
        args[-1] = None
    assert torch.autograd.gradcheck(LSTMRecurrence.apply, args)


def test_fused_recurrence_equals_the_step_by_step_loop_with_gates_reordered() -> None:
    torch.manual_seed(0)
    layer = LSTM(5, 6).layers[0]
    x, h, c = torch.randn(7, 3, 5), torch.randn(3, 6), torch.randn(3, 6)
    hs_loop, cs_loop = layer.loop(layer.input_projection(x), h, c)
    W_ih, W_hh, b = (oifg_rows(w) for w in (layer.W_ih, layer.W_hh, layer.b_ih + layer.b_hh))
    hs, cs = LSTMRecurrence.apply(x, h, c, W_ih, W_hh, b)
    torch.testing.assert_close(hs, hs_loop, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(cs, cs_loop, atol=1e-6, rtol=1e-5)
    assert hs.is_contiguous() and cs.is_contiguous()


def test_run_with_cache_shows_every_gate_and_the_cell_state() -> None:
    model = cl.nets.LSTM(3, 4, num_layers=2)
    out, (h_n, c_n) = model(torch.randn(2, 5, 3))
    _, cache = model.run_with_cache(torch.randn(2, 5, 3))
    names = [f"layers.{k}.hook_{g}" for k in range(2) for g in "ifgoch"]
    assert sorted(cache) == sorted(names)
    assert all(cache[n].shape == (2, 5, 4) for n in names)
    i, f, g, o, c, h = (cache[f"layers.0.hook_{n}"] for n in "ifgoch")
    c_prev = torch.cat([torch.zeros_like(c[:, :1]), c[:, :-1]], dim=1)
    torch.testing.assert_close(c, f * c_prev + i * g)
    torch.testing.assert_close(h, o * torch.tanh(c))
    assert ((f > 0) & (f < 1)).all() and ((g > -1) & (g < 1)).all()


def test_caching_only_h_and_c_keeps_the_fused_path_and_same_values() -> None:
    model = LSTM(3, 4)
    x = torch.randn(2, 5, 3)
    _, full = model.run_with_cache(x)
    _, hc = model.run_with_cache(x, names_filter=["layers.0.hook_c", "layers.0.hook_h"])
    torch.testing.assert_close(hc["layers.0.hook_c"], full["layers.0.hook_c"])
    torch.testing.assert_close(hc["layers.0.hook_h"], full["layers.0.hook_h"])


@pytest.mark.parametrize(
    "x,state,match",
    [
        (torch.randn(32, 3), None, r"expected shape \[batch, pos, 3\], got \(32, 3\)"),
        (torch.ones(2, 5, 3, dtype=torch.int64), None, "expected dtype torch.float32.*got torch.int64"),
        (torch.randn(2, 5, 3), (torch.zeros(1, 2, 4), torch.zeros(1, 2, 6)), r"c0.*\[1, 2, 4\].*\(1, 2, 6\)"),
        (torch.randn(2, 5, 3), (torch.zeros(2, 4), torch.zeros(2, 4)), r"h0.*\[1, 2, 4\].*\(2, 4\)"),
        (torch.randn(2, 5, 3), torch.zeros(1, 2, 4), "pair"),
    ],
    ids=["no-time-axis", "integer", "wrong-cell-size", "state-without-layer-axis", "state-not-a-pair"],
)
def test_bad_input_raises_shape_error_naming_shapes(x, state, match) -> None:
    with pytest.raises(ShapeError, match=match):
        LSTM(3, 4)(x, state)


def test_from_torch_refuses_projections() -> None:
    with pytest.raises(ConfigError, match="proj_size"):
        LSTM.from_torch(torch.nn.LSTM(3, 4, proj_size=2))


def test_frozen_weights_still_give_the_input_gradient_of_torch() -> None:
    ref, ours, x = _pair(SHAPES[3])
    for model in (ref, ours):
        model.requires_grad_(False)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref(x_ref)[0].pow(2).sum().backward()
    ours(x_ours)[0].pow(2).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    assert all(p.grad is None for p in ours.parameters())


def test_cached_gates_come_from_the_fused_recurrence_and_equal_the_loops(monkeypatch) -> None:
    torch.manual_seed(0)
    model = LSTM(3, 4, num_layers=2)
    x = torch.randn(2, 5, 3)
    editing = [(lambda n: n.endswith("hook_f"), lambda a, h: None)]  # may edit: the step-by-step loop
    with model.hooks(editing):
        _, loop = model.run_with_cache(x)
    monkeypatch.setattr(LSTMLayer, "loop", lambda *a: pytest.fail("run_with_cache took the slow loop"))
    out, fused = model.run_with_cache(x)
    assert sorted(fused) == sorted(loop)
    for name in fused:
        assert fused[name].shape == (2, 5, 4)
        torch.testing.assert_close(fused[name], loop[name], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(out[0], model(x)[0])
