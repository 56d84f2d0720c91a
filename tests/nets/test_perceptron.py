"""The perceptron reproduces the seed's cell and refuses inputs of the wrong length."""

from __future__ import annotations

import warnings

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import ShapeError
from circuitlab.nets import Perceptron

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


def test_w_transpose_on_a_1d_tensor_is_a_no_op_that_warns() -> None:
    w = torch.tensor([1.0, 2.0, 3.0])
    with pytest.warns(UserWarning, match="deprecated"):
        wt = w.T
    assert wt.shape == w.shape and torch.equal(wt, w)


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
