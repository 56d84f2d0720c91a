"""Our Elman RNN equals torch.nn.RNN (outputs and gradients) on both paths and shows its hidden states."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.nets import RNN, RecurrentConfig, RNNLayer
from circuitlab.nets.kernels import TorchKernel

SHAPES = [
    dict(batch=3, pos=6, d_in=5, d_hidden=7, n_layers=1, batch_first=True, nonlinearity="tanh"),
    dict(batch=2, pos=9, d_in=4, d_hidden=3, n_layers=2, batch_first=False, nonlinearity="tanh"),
    dict(batch=1, pos=1, d_in=2, d_hidden=8, n_layers=3, batch_first=True, nonlinearity="tanh"),
    dict(batch=4, pos=5, d_in=3, d_hidden=6, n_layers=2, batch_first=True, nonlinearity="relu"),
]
IDS = ["one-layer", "two-layers-time-major", "one-step-three-layers", "relu"]
# which hook points get a (no-op) hook: none -> torch's kernel for the whole stack; every layer's
# -> every layer's loop; only layer 0's -> its loop, then the kernel for the layers above
HOOKS = {"kernel": None, "loop": lambda n: n.endswith("hook_pre"), "mixed": "layers.0.hook_h"}


def _pair(s: dict) -> tuple[torch.nn.RNN, RNN, torch.Tensor]:
    ref = torch.nn.RNN(
        s["d_in"], s["d_hidden"], s["n_layers"], nonlinearity=s["nonlinearity"], batch_first=s["batch_first"]
    )
    shape = (s["batch"], s["pos"], s["d_in"]) if s["batch_first"] else (s["pos"], s["batch"], s["d_in"])
    return ref, RNN.from_torch(ref), torch.randn(shape)


def _loss_and_grads(model, x, h0):
    x = x.clone().requires_grad_()
    h0 = h0.clone().requires_grad_()
    out, h_n = model(x, h0)
    (out.pow(2).sum() + h_n.sin().sum()).backward()
    return [out, h_n, x.grad, h0.grad, *[p.grad for p in model.parameters()]]


@pytest.mark.parametrize("s", SHAPES, ids=IDS)
@pytest.mark.parametrize("path", list(HOOKS))
def test_rnn_matches_torch_rnn_outputs_and_gradients(s: dict, path: str) -> None:
    ref, ours, x = _pair(s)
    h0 = torch.randn(s["n_layers"], s["batch"], s["d_hidden"])
    expected = _loss_and_grads(ref, x, h0)
    with ours.hooks([(HOOKS[path], lambda a, h: None)] if HOOKS[path] else []):
        got = _loss_and_grads(ours, x, h0)
    assert len(got) == len(expected)
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_a_hook_forces_the_loop_and_no_hook_takes_the_kernel(monkeypatch) -> None:
    model, x = RNN(3, 4, n_layers=2), torch.randn(2, 5, 3)
    expected = model(x)[0]
    monkeypatch.setattr(RNNLayer, "loop", lambda *a: pytest.fail("took the loop without a hook"))
    model(x)
    monkeypatch.undo()
    monkeypatch.setattr(TorchKernel, "__call__", lambda *a, **k: pytest.fail("took the kernel"))
    (out, _), cache = model.run_with_cache(x)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-5)
    assert sorted(cache) == sorted(model.hook_names)


def test_cache_shows_the_hidden_state_at_every_step() -> None:
    model = cl.nets.RNN(3, 4, n_layers=2)
    x = torch.randn(2, 5, 3)
    (out, _), cache = model.run_with_cache(x)
    assert cache["layers.1.hook_h"].shape == (2, 5, 4)
    torch.testing.assert_close(cache["layers.1.hook_h"], out)
    torch.testing.assert_close(cache["layers.0.hook_h"], torch.tanh(cache["layers.0.hook_pre"]))


def test_a_hook_on_h_edits_what_the_layer_passes_on() -> None:
    model = RNN(3, 4)
    out, h_n = model.run_with_hooks(torch.randn(2, 5, 3), fwd_hooks=[("layers.0.hook_h", lambda a, h: a * 0)])
    assert out.abs().sum() == 0 and h_n.abs().sum() == 0


def test_state_h0_and_positional_state_are_the_same_argument() -> None:
    model, x, h0 = RNN(3, 4, 2), torch.randn(2, 5, 3), torch.randn(2, 2, 4)
    by_position, by_state, by_h0 = model(x, h0), model(x, state=h0), model(x, h0=h0)
    torch.testing.assert_close(by_state[1], by_position[1])
    torch.testing.assert_close(by_h0[1], by_position[1])
    assert not torch.allclose(model(x)[1], by_position[1])
    with pytest.raises(ShapeError, match="once"):
        model(x, h0, h0=h0)


def test_config_builds_the_model_and_round_trips_through_json() -> None:
    cfg = RecurrentConfig(d_in=3, d_hidden=5, n_layers=2, batch_first=False, nonlinearity="relu")
    model = RNN(cfg)
    assert model.cfg is cfg
    again = RNN(RecurrentConfig.from_dict(cfg.to_dict()))
    assert again.cfg == cfg
    assert [p.shape for p in again.parameters()] == [p.shape for p in model.parameters()]
    assert RNN(3, 5, 2, True, False, "relu").cfg == cfg


def test_old_name_num_layers_still_works_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match="n_layers"):
        model = RNN(3, 4, num_layers=2)
    assert model.cfg.n_layers == 2 and len(model.layers) == 2
    old_json = {"d_in": 3, "d_hidden": 4, "num_layers": 2, "bias": True, "batch_first": True}
    assert RecurrentConfig.from_dict(old_json).n_layers == 2


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: RecurrentConfig(3, 4, n_layers=2.5), "n_layers=2.5"),
        (lambda: RecurrentConfig(3, 4, bias="yes"), "bias='yes'"),
        (lambda: RecurrentConfig(3, 4, nonlinearity="gelu"), "'gelu'.*tanh, relu"),
        (lambda: RNN(3, -2), "d_hidden=-2"),
        (lambda: RNN(RecurrentConfig(3, 4), 5), "together with"),
        (lambda: RecurrentConfig.from_dict({"d_in": 3, "d_hidden": 4, "n_layer": 2}), "n_layer"),
    ],
    ids=["fractional-layers", "bias-string", "unknown-nonlinearity", "negative", "config-and-sizes", "typo"],
)
def test_bad_config_raises_config_error_naming_the_field(make, match) -> None:
    with pytest.raises(ConfigError, match=match):
        make()


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
    "module",
    [torch.nn.RNN(3, 4, bidirectional=True), torch.nn.GRU(3, 4), torch.nn.RNN(3, 4, 2, dropout=0.1)],
    ids=["bidirectional", "gru", "dropout"],
)
def test_from_torch_refuses_what_it_cannot_copy(module) -> None:
    with pytest.raises(ConfigError):
        RNN.from_torch(module)
