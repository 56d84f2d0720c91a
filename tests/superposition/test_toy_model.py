"""The toy model: one einsum over instances equals a loop, data has the asked sparsity, bad input."""

from __future__ import annotations

import copy
import dataclasses
import json
import math

import pytest
import torch

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.superposition import (
    ToyModel,
    ToyModelConfig,
    feature_norms,
    geometric_importance,
    sparsity_sweep,
    train_toy_model,
)


def small(activation: str = "relu") -> ToyModel:
    return ToyModel(
        5,
        2,
        3,
        geometric_importance(5, 0.9),
        [1.0, 0.3, 0.05],
        activation=activation,
        generator=torch.Generator().manual_seed(1),
    )


@pytest.mark.parametrize("activation", ["relu", "linear"])
def test_batched_instances_equal_per_instance_loop_in_output_loss_and_gradient(activation: str) -> None:
    model = small(activation)
    with torch.no_grad():
        model.b_final.normal_()
    x = model.generate_batch(16, torch.Generator().manual_seed(2))
    loss = model.loss_per_instance(x, model(x))
    loss.sum().backward()
    for k in range(3):
        W = model.W.detach()[k].clone().requires_grad_(True)
        out = W.T @ (W @ x[:, k].T) + model.b_final.detach()[k][:, None]
        out = torch.relu(out) if activation == "relu" else out
        ref = (model.importance[k][:, None] * (x[:, k].T - out) ** 2).sum(0).mean()
        ref.backward()
        torch.testing.assert_close(model(x)[:, k], out.T.detach())
        torch.testing.assert_close(loss[k], ref.detach())
        torch.testing.assert_close(model.W.grad[k], W.grad)


def test_linear_variant_can_output_negative_values_and_relu_cannot() -> None:
    x = torch.rand(64, 3, 5)
    with torch.no_grad():
        lin, relu = small("linear"), small("relu")
        lin.b_final.fill_(-1.0)
        relu.b_final.fill_(-1.0)
    assert bool((lin(x) < 0).any())
    assert bool((relu(x) >= 0).all())
    assert ToyModel(5, 2, linear=True).cfg.activation == "linear"


def test_generated_data_is_uniform_on_zero_one_with_each_instance_probability() -> None:
    model = small()
    x = model.generate_batch(20000, torch.Generator().manual_seed(3))
    assert x.shape == (20000, 3, 5)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    nonzero = (x > 0).float().mean(dim=(0, 2))
    torch.testing.assert_close(nonzero, torch.tensor([1.0, 0.3, 0.05]), atol=0.01, rtol=0)
    assert float(x[x > 0].mean()) == pytest.approx(0.5, abs=0.01)


def test_hook_points_see_hidden_and_output() -> None:
    model = small()
    x = torch.rand(4, 3, 5)
    out, cache = model.run_with_cache(x)
    assert set(cache) == {"hook_hidden", "hook_out"}
    torch.testing.assert_close(cache["hook_hidden"], torch.einsum("ihf,bif->bih", model.W, x).detach())
    torch.testing.assert_close(cache["hook_out"], out.detach())


def test_training_is_deterministic_and_lowers_every_instance_loss() -> None:
    runs = []
    for _ in range(2):
        model = small()
        result = train_toy_model(model, steps=300, batch=256, lr=1e-2, seed=4, log_every=50)
        runs.append(model.W.detach())
    assert torch.equal(runs[0], runs[1])
    assert result.loss_history.shape == (len(result.logged_steps), 3)
    assert bool((result.final_loss < result.loss_history[0]).all())


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_one_adam_over_stacked_instances_equals_one_adam_per_instance(schedule: str) -> None:
    """Adam is elementwise and instance k's loss depends only on W[k], b[k]: one optimizer over the
    stacked tensors takes the same steps as n_instances separate torch.optim.Adam instances."""
    model = small()
    start = copy.deepcopy(model)
    steps, batch, lr = 40, 64, 1e-2
    train_toy_model(model, steps=steps, batch=batch, lr=lr, seed=5, schedule=schedule)
    gen = torch.Generator().manual_seed(5)
    xs = [start.generate_batch(batch, gen) for _ in range(steps)]  # the stream train_toy_model drew
    for k in range(start.cfg.n_instances):
        W = start.W.detach()[k].clone().requires_grad_(True)
        b = start.b_final.detach()[k].clone().requires_grad_(True)
        opt = torch.optim.Adam([W, b], lr=lr)
        for step, x in enumerate(xs):
            if schedule == "cosine":
                opt.param_groups[0]["lr"] = lr * 0.5 * (1 + math.cos(math.pi * step / steps))
            out = torch.relu(torch.einsum("hf,bh->bf", W, x[:, k] @ W.T) + b)
            loss = (start.importance[k] * (x[:, k] - out) ** 2).sum(-1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        torch.testing.assert_close(model.W.detach()[k], W.detach(), rtol=0, atol=1e-6)
        torch.testing.assert_close(model.b_final.detach()[k], b.detach(), rtol=0, atol=1e-6)
    assert not torch.equal(model.W, start.W)  # training moved the weights


def test_dense_data_keeps_the_two_most_important_features_and_drops_the_rest() -> None:
    model = ToyModel(5, 2, 1, geometric_importance(5, 0.9), 1.0, generator=torch.Generator().manual_seed(0))
    train_toy_model(model, steps=1500, batch=512, lr=1e-2, seed=0)
    norms = feature_norms(model.W)[0]
    assert bool((norms[:2] > 0.9).all()) and bool((norms[2:] < 0.2).all()), norms


def test_sparsity_sweep_runs_from_one_to_p_min_and_importance_is_geometric() -> None:
    ps = sparsity_sweep(10, 0.05)
    assert ps[0] == 1.0 and ps[-1] == pytest.approx(0.05) and ps == sorted(ps, reverse=True)
    assert geometric_importance(3, 0.7) == pytest.approx([1.0, 0.7, 0.49])


def test_config_broadcasts_scalars_and_is_frozen() -> None:
    cfg = ToyModelConfig.create(3, 2, 2, importance=None, feature_probability=[1.0, 0.1])
    assert cfg.importance == ((1.0, 1.0, 1.0), (1.0, 1.0, 1.0))
    assert cfg.feature_probability == ((1.0, 1.0, 1.0), (0.1, 0.1, 0.1))
    assert cfg.sparsity == pytest.approx([0.0, 0.9])
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_features = 4  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"importance": [1.0, 0.9]}, "importance has length 2; expected 5"),
        ({"importance": [1.0, 0.9, 0.8, 0.7, 1.5]}, r"importance\[0, 4\] = 1.5 is outside \[0, 1\]"),
        ({"importance": [1.0, 0.9, 0.8, 0.7, -0.1]}, r"outside \[0, 1\]"),
        ({"feature_probability": [1.0, 0.5]}, "feature_probability has length 2; expected 3"),
        ({"feature_probability": [1.0, 0.5, 2.0]}, r"feature_probability\[2, 0\] = 2 is outside \[0, 1\]"),
        ({"feature_probability": float("nan")}, r"outside \[0, 1\]"),
        ({"feature_probability": torch.ones(3, 4)}, r"shape \(3, 4\); expected \[n_instances, n_features\]"),
        ({"n_features": 0}, "n_features=0: must be an integer >= 1"),
        ({"d_hidden": 0}, "d_hidden=0: must be an integer >= 1"),
        ({"n_instances": -2}, "n_instances=-2: must be an integer >= 1"),
        ({"n_features": 2.5}, "n_features=2.5: must be an integer >= 1"),
        ({"activation": "gelu"}, "activation='gelu': choose one of relu, linear"),
    ],
    ids=[
        "importance_short",
        "importance_above_one",
        "importance_negative",
        "probability_short",
        "probability_above_one",
        "probability_nan",
        "probability_bad_table",
        "no_features",
        "no_hidden",
        "no_instances",
        "fractional_features",
        "unknown_activation",
    ],
)
def test_bad_config_raises_config_error_naming_value_and_limit(kwargs: dict, message: str) -> None:
    args = {"n_features": 5, "d_hidden": 2, "n_instances": 3, **kwargs}
    with pytest.raises(ConfigError, match=message):
        ToyModel(**args)


def test_input_of_wrong_shape_raises_shape_error() -> None:
    with pytest.raises(ShapeError, match="n_instances=3, n_features=5"):
        small()(torch.rand(4, 5))


def test_tensor_importance_and_probability_are_stored_in_the_config_as_json_floats() -> None:
    model = ToyModel(3, 2, 2, torch.tensor([1.0, 0.7, 0.49]), torch.tensor([1.0, 0.1]))
    data = json.loads(json.dumps(model.cfg.to_dict()))
    assert data["importance"] == [[1.0, 0.699999988079071, 0.49000000953674316]] * 2  # float32 values, exact
    assert ToyModelConfig.from_dict(data) == model.cfg
    assert torch.equal(model.importance, torch.tensor([[1.0, 0.7, 0.49]] * 2))


def test_importance_and_probability_buffers_come_from_the_config_not_the_state_dict() -> None:
    model = small()
    assert set(model.state_dict()) == {"W", "b_final"}
    again = ToyModel(model.cfg)
    assert torch.equal(again.importance, model.importance)
    assert torch.equal(again.feature_probability, model.feature_probability)


def test_a_config_built_directly_needs_full_tables() -> None:
    with pytest.raises(ConfigError, match="importance: must be a tuple of n_instances tuples.*create"):
        ToyModelConfig(3, 2, 1, importance=0.5, feature_probability=((1.0, 1.0, 1.0),))
    with pytest.raises(ConfigError, match=r"importance\[0, 1\] = 2 is outside \[0, 1\]"):
        ToyModelConfig(3, 2, 1, importance=((1.0, 2.0, 1.0),), feature_probability=((1.0, 1.0, 1.0),))
