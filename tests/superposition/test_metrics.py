"""Superposition measures against hand-computed geometries and a dense per-feature loop."""

from __future__ import annotations

import math

import pytest
import torch

from circuitlab.errors import ShapeError
from circuitlab.superposition import (
    dimensions_per_feature,
    feature_dimensionality,
    feature_norms,
    gram,
    interference,
    nearest_fraction,
    represented_features,
)


def polygon(n: int) -> torch.Tensor:
    """n unit vectors evenly spaced on the circle, as W: [2, n]."""
    angles = torch.arange(n, dtype=torch.float64) * 2 * math.pi / n
    return torch.stack([angles.cos(), angles.sin()])


def tetrahedron() -> torch.Tensor:
    v = torch.tensor([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=torch.float64)
    return (v / v.norm(dim=-1, keepdim=True)).T  # [3, 4]


@pytest.mark.parametrize(
    ("W", "expected"),
    [
        (torch.eye(3, dtype=torch.float64), 1.0),
        (torch.tensor([[1.0, -1.0]], dtype=torch.float64), 1 / 2),
        (polygon(3), 2 / 3),
        (tetrahedron(), 3 / 4),
        (polygon(5), 2 / 5),
    ],
    ids=["orthogonal", "antipodal_pair", "triangle", "tetrahedron", "pentagon"],
)
def test_feature_dimensionality_of_regular_geometries(W: torch.Tensor, expected: float) -> None:
    D = feature_dimensionality(W)
    torch.testing.assert_close(D, torch.full_like(D, expected))


def test_feature_dimensionality_ignores_length_of_the_whole_geometry() -> None:
    torch.testing.assert_close(
        feature_dimensionality(3.0 * polygon(5)), torch.full((5,), 2 / 5, dtype=torch.float64)
    )


def test_feature_dimensionality_matches_a_per_feature_loop() -> None:
    W = torch.randn(4, 3, 7, dtype=torch.float64)
    D = feature_dimensionality(W)
    for k in range(4):
        for i in range(7):
            w_i = W[k, :, i]
            denom = sum(float((w_i / w_i.norm()) @ W[k, :, j]) ** 2 for j in range(7))
            assert D[k, i].item() == pytest.approx(float(w_i @ w_i) / denom)


def test_dropped_feature_has_dimensionality_zero_not_nan() -> None:
    W = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    D = feature_dimensionality(W)
    assert torch.isfinite(D).all()
    torch.testing.assert_close(D, torch.tensor([1.0, 1.0, 0.0]))
    assert torch.isfinite(interference(W)).all()


def test_norms_count_and_gram_of_a_dense_two_feature_solution() -> None:
    W = torch.tensor([[[1.0, 0.0, 0.1], [0.0, 1.0, 0.0]]])  # [1, 2, 3]: two learned, one dropped
    torch.testing.assert_close(feature_norms(W), torch.tensor([[1.0, 1.0, 0.1]]))
    assert represented_features(W).tolist() == [2]
    torch.testing.assert_close(gram(W)[0], W[0].T @ W[0])


def test_interference_is_zero_when_orthogonal_and_counts_the_antipodal_partner() -> None:
    torch.testing.assert_close(interference(torch.eye(4)), torch.zeros(4))
    torch.testing.assert_close(interference(torch.tensor([[1.0, -1.0]])), torch.ones(2))
    # pentagon: sum_{j != i} cos^2(72 k deg) = 5/2 - 1
    torch.testing.assert_close(interference(polygon(5)), torch.full((5,), 1.5, dtype=torch.float64))


@pytest.mark.parametrize(
    ("W", "expected"),
    [(torch.eye(5, dtype=torch.float64), 1.0), (polygon(5), 2 / 5), (torch.tensor([[1.0, -1.0]]), 1 / 2)],
    ids=["orthogonal", "pentagon", "antipodal"],
)
def test_dimensions_per_feature_is_d_hidden_over_frobenius_norm(W: torch.Tensor, expected: float) -> None:
    assert float(dimensions_per_feature(W)) == pytest.approx(expected)


def test_nearest_fraction_names_sticky_values_within_tolerance() -> None:
    assert nearest_fraction(torch.tensor([0.99, 0.51, 0.41, 0.58, 0.0])) == ["1", "1/2", "2/5", None, None]


def test_metrics_refuse_a_vector() -> None:
    with pytest.raises(ShapeError, match="d_hidden, n_features"):
        feature_dimensionality(torch.ones(3))
