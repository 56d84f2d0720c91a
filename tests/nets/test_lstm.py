"""Our LSTM equals torch.nn.LSTM (outputs and gradients) on both paths and shows its gates through hooks."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import ReadsOnly
from circuitlab.nets import LSTM, RecurrentConfig
from circuitlab.nets.kernels import TorchKernel
from circuitlab.nets.lstm import LSTMLayer

SHAPES = [
    dict(batch=3, pos=6, d_in=5, d_hidden=7, n_layers=1, batch_first=True),
    dict(batch=2, pos=9, d_in=4, d_hidden=3, n_layers=2, batch_first=False),
    dict(batch=1, pos=1, d_in=2, d_hidden=8, n_layers=3, batch_first=True),
    dict(batch=5, pos=4, d_in=6, d_hidden=5, n_layers=2, batch_first=True),
]
IDS = ["one-layer", "two-layers-time-major", "one-step-three-layers", "two-layers"]
# none -> torch's kernel for the whole stack; an editing or a read-only hook on every layer's
# forget gate -> every layer's loop; a hook on layer 0 only -> its loop, then the kernel above it
HOOKS = {
    "kernel": None,
    "loop-edit": (lambda n: n.endswith("hook_f"), lambda a, h: None),
    "loop-read": (lambda n: n.endswith("hook_f"), ReadsOnly(lambda a, h: None)),
    "mixed": ("layers.0.hook_c", lambda a, h: None),
}


def _pair(s: dict, bias: bool = True) -> tuple[torch.nn.LSTM, LSTM, torch.Tensor]:
    ref = torch.nn.LSTM(s["d_in"], s["d_hidden"], s["n_layers"], bias=bias, batch_first=s["batch_first"])
    shape = (s["batch"], s["pos"], s["d_in"]) if s["batch_first"] else (s["pos"], s["batch"], s["d_in"])
    return ref, LSTM.from_torch(ref), torch.randn(shape)


def _loss_and_grads(model, x, state):
    x = x.clone().requires_grad_()
    h0, c0 = (s.clone().requires_grad_() for s in state)
    out, (h_n, c_n) = model(x, (h0, c0))
    (out.pow(2).sum() + h_n.sin().sum() + c_n.pow(2).sum()).backward()
    return [out, h_n, c_n, x.grad, h0.grad, c0.grad, *[p.grad for p in model.parameters()]]


@pytest.mark.parametrize("s", SHAPES, ids=IDS)
@pytest.mark.parametrize("path", list(HOOKS))
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_lstm_matches_torch_lstm_outputs_and_gradients(s: dict, path: str, bias: bool) -> None:
    ref, ours, x = _pair(s, bias)
    state = [torch.randn(s["n_layers"], s["batch"], s["d_hidden"]) for _ in range(2)]
    expected = _loss_and_grads(ref, x, state)
    with ours.hooks([HOOKS[path]] if HOOKS[path] else []):
        got = _loss_and_grads(ours, x, state)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("path", ["kernel", "loop-edit"])
@pytest.mark.parametrize("used", ["out", "c_n"])
def test_gradients_match_torch_when_only_one_output_is_used(used: str, path: str) -> None:
    ref, ours = _pair(SHAPES[3])[:2]
    x = torch.randn(5, 4, 6)
    grads = []
    for model in (ref, ours):
        xi = x.clone().requires_grad_()
        with ours.hooks([HOOKS[path]] if HOOKS[path] and model is ours else []):
            out, (_, c_n) = model(xi)
        (out if used == "out" else c_n).pow(2).sum().backward()
        grads.append([xi.grad, *[p.grad for p in model.parameters()]])
    for ours_g, ref_g in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(ours_g, ref_g, atol=1e-5, rtol=1e-4)


def test_a_hook_forces_the_loop_and_no_hook_takes_the_kernel(monkeypatch) -> None:
    model, x = LSTM(3, 4, n_layers=2), torch.randn(2, 5, 3)
    expected = model(x)[0]
    monkeypatch.setattr(LSTMLayer, "loop", lambda *a: pytest.fail("took the loop without a hook"))
    model(x)
    monkeypatch.undo()
    kernel_layers = []
    kernel = TorchKernel.__call__

    def spy(self, layers, *args, **kwargs):
        kernel_layers.append(len(layers))
        return kernel(self, layers, *args, **kwargs)

    monkeypatch.setattr(TorchKernel, "__call__", spy)
    out, _ = model.run_with_hooks(x, fwd_hooks=[("layers.1.hook_h", ReadsOnly(lambda a, h: None))])
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert kernel_layers == [1]  # layer 0 (no hook) on the kernel, layer 1 (hooked) on its loop
    kernel_layers.clear()
    model(x)
    assert kernel_layers == [2]  # nothing hooked: one kernel call for the stack


def test_run_with_cache_shows_every_gate_and_the_cell_state() -> None:
    model = cl.nets.LSTM(3, 4, n_layers=2)
    x = torch.randn(2, 5, 3)
    out, (h_n, c_n) = model(x)
    (cached_out, _), cache = model.run_with_cache(x)
    names = [f"layers.{k}.hook_{g}" for k in range(2) for g in "ifgoch"]
    assert sorted(cache) == sorted(names)
    assert all(cache[n].shape == (2, 5, 4) for n in names)
    i, f, g, o, c, h = (cache[f"layers.0.hook_{n}"] for n in "ifgoch")
    c_prev = torch.cat([torch.zeros_like(c[:, :1]), c[:, :-1]], dim=1)
    torch.testing.assert_close(c, f * c_prev + i * g)
    torch.testing.assert_close(h, o * torch.tanh(c))
    assert ((f > 0) & (f < 1)).all() and ((g > -1) & (g < 1)).all()
    torch.testing.assert_close(cached_out, out, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(cache["layers.1.hook_c"][:, -1], c_n[1], atol=1e-6, rtol=1e-5)


def test_cached_gates_are_the_activations_of_the_pre_activation_on_the_weights() -> None:
    model, x = LSTM(3, 4), torch.randn(2, 5, 3)
    _, cache = model.run_with_cache(x)
    layer, h = model.layers[0], cache["layers.0.hook_h"]
    h_prev = torch.cat([torch.zeros_like(h[:, :1]), h[:, :-1]], dim=1)
    pre = x @ layer.W_ih.T + layer.b_ih + h_prev @ layer.W_hh.T + layer.b_hh
    i, f, g, o = pre.chunk(4, dim=-1)  # torch's gate order
    for name, gate in zip("ifgo", (i.sigmoid(), f.sigmoid(), g.tanh(), o.sigmoid()), strict=True):
        torch.testing.assert_close(cache[f"layers.0.hook_{name}"], gate)


def test_caching_only_h_and_c_gives_the_values_of_the_full_cache() -> None:
    model = LSTM(3, 4)
    x = torch.randn(2, 5, 3)
    _, full = model.run_with_cache(x)
    _, hc = model.run_with_cache(x, names_filter=["layers.0.hook_c", "layers.0.hook_h"])
    assert sorted(hc) == ["layers.0.hook_c", "layers.0.hook_h"]
    torch.testing.assert_close(hc["layers.0.hook_c"], full["layers.0.hook_c"])
    torch.testing.assert_close(hc["layers.0.hook_h"], full["layers.0.hook_h"])


def test_config_builds_the_model_and_round_trips_through_json() -> None:
    cfg = RecurrentConfig(d_in=3, d_hidden=5, n_layers=2, bias=False)
    model = LSTM(cfg)
    assert model.cfg is cfg and LSTM(3, 5, 2, False).cfg == cfg
    again = LSTM(RecurrentConfig.from_dict(cfg.to_dict()))
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]
    with pytest.warns(DeprecationWarning, match="n_layers"):
        assert LSTM(3, 5, num_layers=2, bias=False).cfg == cfg
    with pytest.raises(ConfigError, match="tanh"):
        LSTM(cfg.replace(nonlinearity="relu"))


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


@pytest.mark.parametrize(
    "module,match",
    [(torch.nn.LSTM(3, 4, proj_size=2), "proj_size"), (torch.nn.LSTM(3, 4, 2, dropout=0.5), "dropout")],
    ids=["projection", "dropout"],
)
def test_from_torch_refuses_what_it_cannot_copy(module, match) -> None:
    with pytest.raises(ConfigError, match=match):
        LSTM.from_torch(module)


@pytest.mark.parametrize("path", ["kernel", "loop-edit"])
def test_frozen_weights_still_give_the_input_gradient_of_torch(path: str) -> None:
    ref, ours, x = _pair(SHAPES[3])
    for model in (ref, ours):
        model.requires_grad_(False)
    x_ref, x_ours = x.clone().requires_grad_(), x.clone().requires_grad_()
    ref(x_ref)[0].pow(2).sum().backward()
    with ours.hooks([HOOKS[path]] if HOOKS[path] else []):
        ours(x_ours)[0].pow(2).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_ref.grad, atol=1e-5, rtol=1e-5)
    assert all(p.grad is None for p in ours.parameters())


def test_float64_matches_torch_on_both_paths() -> None:
    ref = torch.nn.LSTM(3, 4, 2, batch_first=True).double()
    ours, x = LSTM.from_torch(ref), torch.randn(2, 5, 3, dtype=torch.float64)
    assert ours.layers[0].W_ih.dtype == torch.float64
    with ours.hooks([HOOKS["loop-edit"]]):
        loop = ours(x)[0]
    torch.testing.assert_close(ours(x)[0], ref(x)[0], atol=1e-12, rtol=1e-10)
    torch.testing.assert_close(loop, ref(x)[0], atol=1e-12, rtol=1e-10)
