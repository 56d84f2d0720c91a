"""The MLP is the seed's layer g(W^T x + b), stacked, and equals nn.Sequential of nn.Linear."""

from __future__ import annotations

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.nets import MLP, MLPConfig


def test_one_layer_is_the_seeds_column_form() -> None:
    mlp = cl.nets.MLP(sizes=[5, 3], activation="sigmoid")
    layer = mlp.layers[0]
    X = torch.tensor([[1.0, 0, 0, 0, 0], [0, 0, 1.0, 0, 0]])
    seed_form = 1 / (1 + torch.exp(-(torch.mm(layer.W.T, X.T) + layer.b[:, None])))
    torch.testing.assert_close(mlp.forward_columns(X.T), seed_form)
    torch.testing.assert_close(mlp(X), seed_form.T)


@pytest.mark.parametrize(
    "sizes,activation,activate_output",
    [
        ([5, 3], "sigmoid", True),
        ([4, 8, 8, 2], "relu", False),
        ([3, 6, 1], "tanh", True),
        ([6, 5, 4], "gelu", False),
    ],
    ids=["seed-layer", "relu-3-layers-logits", "tanh", "gelu"],
)
def test_equals_sequential_of_linear_with_same_weights(sizes, activation, activate_output) -> None:
    mlp = MLP(sizes, activation, activate_output)
    seq = mlp.to_torch()
    x = torch.randn(9, sizes[0])
    torch.testing.assert_close(mlp(x), seq(x))
    n_linear = sum(isinstance(m, torch.nn.Linear) for m in seq)
    assert n_linear == len(sizes) - 1


def test_gradients_equal_sequentials() -> None:
    mlp = MLP([4, 6, 3], "tanh")
    seq = mlp.to_torch()
    x = torch.randn(5, 4)
    mlp(x).pow(2).sum().backward()
    seq(x).pow(2).sum().backward()
    torch.testing.assert_close(mlp.layers[1].W.grad, seq[2].weight.grad.T)
    torch.testing.assert_close(mlp.layers[0].b.grad, seq[0].bias.grad)


def test_cache_has_pre_and_post_of_every_layer() -> None:
    mlp = MLP([4, 6, 3], "sigmoid")
    out, cache = mlp.run_with_cache(torch.randn(2, 4))
    assert list(cache) == [
        "layers.0.hook_pre",
        "layers.0.hook_post",
        "layers.1.hook_pre",
        "layers.1.hook_post",
    ]
    torch.testing.assert_close(cache["layers.0.hook_post"], torch.sigmoid(cache["layers.0.hook_pre"]))
    torch.testing.assert_close(cache["layers.1.hook_post"], out)


@pytest.mark.parametrize(
    "x",
    [torch.ones(2, 4), torch.ones(2, 5, dtype=torch.int64), torch.ones(1, 2, 5)],
    ids=["too-narrow", "integer", "3d"],
)
def test_bad_input_raises_shape_error_naming_shapes(x) -> None:
    with pytest.raises(ShapeError) as err:
        MLP([5, 3])(x)
    assert "[batch, 5]" in str(err.value) and str(tuple(x.shape)) in str(err.value)


@pytest.mark.parametrize(
    "sizes,activation",
    [([5], "sigmoid"), ([5, 0], "sigmoid"), ([5, 3], "swish")],
    ids=["one-size", "zero-width", "unknown-activation"],
)
def test_bad_config_raises_config_error(sizes, activation) -> None:
    with pytest.raises(ConfigError):
        MLP(sizes, activation)


def test_mlp_of_a_config_equals_the_keyword_shim() -> None:
    cfg = MLPConfig(sizes=(4, 6, 3), activation="tanh", activate_output=False)
    torch.manual_seed(0)
    from_cfg = MLP(cfg)
    torch.manual_seed(0)
    from_kwargs = MLP(sizes=[4, 6, 3], activation="tanh", activate_output=False)
    assert from_cfg.cfg is cfg and from_kwargs.cfg == cfg
    x = torch.randn(2, 4)
    torch.testing.assert_close(from_cfg(x), from_kwargs(x))
    assert from_cfg.layers[1].activation == "identity"


def test_a_config_and_fields_together_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"MLPConfig given together with \['activation'\]"):
        MLP(MLPConfig(sizes=(4, 3)), activation="relu")


@pytest.mark.parametrize(
    "sizes", [[5, 2.5], [5, True], (5,)], ids=["fractional-width", "bool-width", "one-size"]
)
def test_sizes_must_be_integers(sizes) -> None:
    with pytest.raises(ConfigError, match="MLPConfig.sizes=.*must be a tuple of at least 2 integers"):
        MLP(sizes)
