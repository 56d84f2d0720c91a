"""The perceptron reproduces the seed's cell and refuses inputs of the wrong length."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.nets import Perceptron, PerceptronConfig

X1 = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float16)
X2 = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float16)


def test_seed_cell_prints_0_8176_and_0_6225() -> None:
    p = cl.nets.Perceptron(torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float16), torch.tensor([0.5]))
    y1, y2 = p(X1), p(X2)
    assert y1.shape == (1,) and y1.dtype == torch.float32
    assert f"{y1.item():.4f}" == "0.8176" and f"{y2.item():.4f}" == "0.6225"


def test_seed_constructor_is_the_seed_cell() -> None:
    p = Perceptron.seed()
    assert p.w.dtype == torch.float16 and p.b.dtype == torch.float32
    torch.testing.assert_close(p(torch.stack([X1, X2])), torch.sigmoid(torch.tensor([1.5, 0.5])))


def test_output_is_sigmoid_of_the_weighted_sum_written_out() -> None:
    """y = 1 / (1 + exp(-(sum_i w_i x_i + b))), term by term in Python floats, for one input and a batch."""
    w, b = [0.5, -1.0, 2.0, 0.25], -0.75
    xs = [[1.0, 2.0, 0.5, -4.0], [0.0, -1.0, 3.0, 2.0], [0.1, 0.2, 0.3, 0.4]]
    expected = [1 / (1 + math.exp(-(sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b))) for x in xs]
    p = Perceptron(w, b)
    batch = torch.tensor(xs)
    assert p(batch).shape == (3,) and p(batch[0]).shape == (1,)
    torch.testing.assert_close(p(batch), torch.tensor(expected))
    torch.testing.assert_close(p(batch[1]), torch.tensor(expected[1:2]))
    _, cache = p.run_with_cache(batch[0])
    assert cache["hook_z"].item() == pytest.approx(0.5 - 2.0 + 1.0 - 1.0 - 0.75)


def test_forward_does_not_trigger_the_transpose_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Perceptron.seed()(X1)


def test_batch_matches_dense_sigmoid() -> None:
    g = torch.Generator().manual_seed(1)
    w, b, x = torch.randn(7, generator=g), 0.3, torch.randn(4, 7, generator=g)
    torch.testing.assert_close(Perceptron(w, b)(x), torch.sigmoid(x @ w + b))


def test_hook_z_holds_the_pre_activation() -> None:
    _, cache = Perceptron.seed().run_with_cache(X1)
    assert cache["hook_z"].item() == 1.5
    assert list(cache) == ["hook_z", "hook_y"]


@pytest.mark.parametrize(
    "x",
    [torch.ones(4), torch.ones(2, 6), torch.ones(2, 3, 5), torch.ones(5, dtype=torch.int64)],
    ids=["short", "batch-too-wide", "3d", "integer"],
)
def test_mismatched_input_raises_shape_error_naming_both_shapes(x: torch.Tensor) -> None:
    with pytest.raises(ShapeError) as err:
        Perceptron.seed()(x)
    assert "[5]" in str(err.value) and str(tuple(x.shape)) in str(err.value)


def test_two_dimensional_weights_are_refused() -> None:
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        Perceptron(torch.ones(2, 3), 0.0)


def test_given_weights_make_the_config_that_rebuilds_the_same_shapes_and_dtypes() -> None:
    seed = Perceptron.seed()
    assert seed.cfg == PerceptronConfig(d_in=5, bias=True, dtype="float16", bias_dtype="float32")
    fresh = Perceptron(seed.cfg)
    assert fresh.cfg is seed.cfg
    assert (fresh.w.shape, fresh.w.dtype, fresh.b.shape, fresh.b.dtype) == (
        (5,),
        torch.float16,
        (1,),
        torch.float32,
    )
    assert bool((fresh.w.abs() <= 5**-0.5).all()) and fresh(X1).dtype == torch.float32


def test_without_bias_the_output_is_sigmoid_of_w_dot_x() -> None:
    p = Perceptron([1.0, -2.0], None)
    assert p.b is None and not p.cfg.bias and set(p.state_dict()) == {"w"}
    torch.testing.assert_close(p(torch.tensor([3.0, 1.0])), torch.sigmoid(torch.tensor([1.0])))
    assert Perceptron(PerceptronConfig(3, bias=False)).b is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"d_in": 0}, "d_in=0"), ({"dtype": "int8"}, "dtype='int8': choose one of"), ({"bias": 1}, "bias=1")],
    ids=["no-inputs", "integer-dtype", "bias-not-bool"],
)
def test_bad_perceptron_config_is_refused_by_name(changes, message) -> None:
    with pytest.raises(ConfigError, match=message):
        PerceptronConfig(**{"d_in": 5, **changes})
