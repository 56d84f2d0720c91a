"""FactoredMatrix agrees with the dense product it stands for, on every operation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlab.circuits import FactoredMatrix
from circuitlab.errors import ShapeError

SETTINGS = settings(max_examples=40, deadline=None)
dims = st.integers(1, 6)
leads = st.lists(st.integers(1, 3), min_size=0, max_size=2).map(tuple)
seeds = st.integers(0, 2**16)


def factors(lead, l, m, r, seed):
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(*lead, l, m, generator=gen, dtype=torch.float64)
    B = torch.randn(*lead, m, r, generator=gen, dtype=torch.float64)
    return A, B


def close(x, y):
    torch.testing.assert_close(x, y, rtol=1e-8, atol=1e-8)


@SETTINGS
@given(leads, dims, dims, dims, seeds)
def test_ab_transpose_and_shape_match_the_dense_product(lead, l, m, r, seed):
    A, B = factors(lead, l, m, r, seed)
    M = FactoredMatrix(A, B)
    close(M.AB, A @ B)
    close(M.T.AB, (A @ B).transpose(-2, -1))
    assert M.shape == (A @ B).shape and M.ndim == len(lead) + 2


@SETTINGS
@given(leads, dims, dims, dims, dims, seeds)
def test_matmul_with_tensors_and_factored_matrices_matches_dense(lead, l, m, r, n, seed):
    A, B = factors(lead, l, m, r, seed)
    M, dense = FactoredMatrix(A, B), A @ B
    X = torch.randn(r, n, dtype=torch.float64)
    Y = torch.randn(n, l, dtype=torch.float64)
    close((M @ X).AB, dense @ X)
    close((Y @ M).AB, Y @ dense)
    close(M @ X[:, 0], dense @ X[:, 0])
    close(Y[0] @ M, Y[0] @ dense)
    C, D = factors(lead, r, n, l, seed + 1)
    product = M @ FactoredMatrix(C, D)
    close(product.AB, dense @ (C @ D))
    assert product.mdim == min(m, r, n)  # split where the inner dim is smallest
    close((2.5 * M).AB, 2.5 * dense)


@SETTINGS
@given(leads, dims, dims, dims, seeds)
def test_svd_from_the_factors_reconstructs_and_matches_dense_singular_values(lead, l, m, r, seed):
    A, B = factors(lead, l, m, r, seed)
    U, S, V = FactoredMatrix(A, B).svd()
    k = min(l, m, r)
    assert U.shape[-2:] == (l, k) and S.shape[-1] == k and V.shape[-2:] == (r, k)
    close(U @ torch.diag_embed(S) @ V.transpose(-2, -1), A @ B)
    close(S, torch.linalg.svdvals(A @ B)[..., :k])
    close(U.transpose(-2, -1) @ U, torch.eye(k, dtype=torch.float64).expand(*lead, k, k))
    close(V.transpose(-2, -1) @ V, torch.eye(k, dtype=torch.float64).expand(*lead, k, k))


@SETTINGS
@given(leads, dims, dims, seeds)
def test_eigenvalues_via_ba_are_the_dense_eigenvalues_up_to_zeros(lead, l, m, seed):
    A, B = factors(lead, l, m, l, seed)
    M = FactoredMatrix(A, B)
    eig = M.eigenvalues
    assert eig.shape[-1] == m
    dense = torch.linalg.eigvals(A @ B)
    for power in (1, 2, 3):  # power sums tr(M^p) are blind to the zero padding
        torch.testing.assert_close(eig.pow(power).sum(-1), dense.pow(power).sum(-1), rtol=1e-6, atol=1e-6)
    close(M.BA, B @ A)


@SETTINGS
@given(leads, dims, dims, dims, seeds)
def test_norm_is_the_frobenius_norm_of_the_dense_product(lead, l, m, r, seed):
    A, B = factors(lead, l, m, r, seed)
    M = FactoredMatrix(A, B)
    close(M.norm(), torch.linalg.matrix_norm(A @ B))
    close(M.collapse_l().norm(dim=(-2, -1)), M.norm())
    close(M.collapse_r().norm(dim=(-2, -1)), M.norm())
    close(M.make_even().AB, A @ B)


@SETTINGS
@given(st.integers(2, 4), st.integers(2, 5), dims, st.integers(2, 5), seeds, st.data())
def test_indexing_matches_indexing_the_dense_product(n, l, m, r, seed, data):
    A, B = factors((n,), l, m, r, seed)
    M, dense = FactoredMatrix(A, B), A @ B
    i = data.draw(st.integers(-n, n - 1))
    row, col = data.draw(st.integers(0, l - 1)), data.draw(st.integers(0, r - 1))
    close(M[i].AB, dense[i])
    close(M[1:].AB, dense[1:])
    close(M[i, 1:].AB, dense[i, 1:])
    close(M[i, row].AB, dense[i, row : row + 1])
    close(M[i, :, col].AB, dense[i, :, col : col + 1])
    close(M[:, -1, -1].AB, dense[:, -1:, -1:])


def test_leading_dims_broadcast_between_factors():
    A, B = torch.randn(3, 1, 5, 2), torch.randn(4, 2, 6)
    M = FactoredMatrix(A, B)
    assert M.shape == (3, 4, 5, 6)
    torch.testing.assert_close(M.AB, A @ B)
    assert M.unsqueeze(0).shape == (1, 3, 4, 5, 6)


def test_repr_names_shape_and_inner_dim():
    assert repr(FactoredMatrix(torch.randn(2, 5, 3), torch.randn(2, 3, 7))) == (
        "FactoredMatrix(shape=(2, 5, 7), mdim=3, dtype=torch.float32)"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: FactoredMatrix(torch.randn(4, 2), torch.randn(2, 5)).eigenvalues,
        lambda: FactoredMatrix(torch.randn(4, 2), torch.randn(2, 5)).BA,
        lambda: FactoredMatrix(torch.randn(4, 2), torch.randn(3, 5)),
        lambda: FactoredMatrix(torch.randn(4), torch.randn(4, 5)),
        lambda: FactoredMatrix(torch.randn(2, 4, 2), torch.randn(3, 2, 4)),
        lambda: FactoredMatrix(torch.randn(4, 2), torch.randn(2, 5)) @ torch.randn(4, 3),
        lambda: torch.randn(3, 5) @ FactoredMatrix(torch.randn(4, 2), torch.randn(2, 5)),
        lambda: FactoredMatrix(torch.randn(4, 2), torch.randn(2, 5))[0, 0, 0],
        lambda: FactoredMatrix(torch.randn(4, 2), torch.randn(2, 5)) * torch.ones(2),
    ],
    ids=[
        "eigenvalues-non-square",
        "BA-non-square",
        "inner-dims-differ",
        "1d-factor",
        "leading-dims-clash",
        "matmul-inner-mismatch",
        "rmatmul-inner-mismatch",
        "index-too-long",
        "mul-by-non-scalar",
    ],
)
def test_bad_input_raises_a_shape_error_that_names_the_shapes(make):
    with pytest.raises(ShapeError, match=r"\d"):
        make()


def test_numpy_arrays_and_numbers_are_operands_in_the_factors_dtype():
    A, B = factors((2,), 5, 3, 4, seed=7)
    A, B = A.float(), B.float()
    M, dense = FactoredMatrix(A, B), A @ B
    X, Y = np.random.default_rng(0).normal(size=(4, 6)), np.random.default_rng(1).normal(size=(2, 5))
    right, left = M @ X, Y @ M
    assert isinstance(right, FactoredMatrix) and isinstance(left, FactoredMatrix)
    assert right.A.dtype == right.B.dtype == left.A.dtype == torch.float32
    torch.testing.assert_close(right.AB, dense @ torch.as_tensor(X, dtype=torch.float32))
    torch.testing.assert_close(left.AB, torch.as_tensor(Y, dtype=torch.float32) @ dense)
    torch.testing.assert_close(M @ X[:, 0], dense @ torch.as_tensor(X[:, 0], dtype=torch.float32))
    scalars = [2, 2.5, True, np.float64(2.5), np.array(2.5), np.array([[2.5]]), torch.tensor([2.5]).double()]
    for c in scalars:
        value = float(np.asarray(c).reshape(()))
        for scaled in (M * c, c * M):  # c never promotes the factors or adds dims
            assert scaled.A.dtype == torch.float32 and scaled.shape == M.shape
            torch.testing.assert_close(scaled.AB, dense * value)
    torch.testing.assert_close(FactoredMatrix(A.numpy(), B.numpy()).AB, dense)


def test_product_of_factored_matrices_takes_the_smallest_inner_dim_without_forming_m():
    for m1, r1, m2 in [(2, 6, 5), (6, 2, 5), (5, 6, 2), (3, 3, 3), (4, 2, 2)]:
        A1, B1 = factors((), 7, m1, r1, seed=m1)
        A2, B2 = factors((), r1, m2, 8, seed=m2)
        product = FactoredMatrix(A1, B1) @ FactoredMatrix(A2, B2)
        assert product.mdim == min(m1, r1, m2) and product.shape == (7, 8)
        close(product.AB, A1 @ B1 @ A2 @ B2)


def test_has_leading_dims_get_corner_and_vh_alias():
    A, B = factors((3, 4), 5, 2, 6, seed=3)
    M, dense = FactoredMatrix(A, B), A @ B
    assert M.has_leading_dims and not M[0, 0].has_leading_dims
    close(M.get_corner(2), dense[:2, :2, :2, :2])
    close(M.get_corner(), dense[:3, :3, :3, :3])
    with pytest.warns(DeprecationWarning, match="use .V"):
        Vh = M.Vh
    close(Vh, M.V)


def test_none_adds_leading_dims_and_negative_unsqueeze_counts_from_the_end():
    A, B = factors((3,), 4, 2, 5, seed=11)
    M, dense = FactoredMatrix(A, B), A @ B
    assert M[None].shape == (1, 3, 4, 5) and M[0, None].shape == (1, 4, 5)
    close(M[None, 1, 2].AB, dense[None, 1, 2:3])
    close(M[[0, 2], 1:3].AB, dense[[0, 2], 1:3])
    close(M[1, [0, 3], -1].AB, dense[1, [0, 3], -1:])
    assert M.unsqueeze(-3).shape == (3, 1, 4, 5) and M.unsqueeze(-4).shape == (1, 3, 4, 5)
    assert M.unsqueeze(1).shape == (3, 1, 4, 5)


@pytest.mark.parametrize(
    "make",
    [
        lambda M: M[..., 0],
        lambda M: M[0, 1, None],
        lambda M: M[[0, 1], [0, 2]],
        lambda M: M.unsqueeze(-1),
        lambda M: M.unsqueeze(3),
        lambda M: M @ 2.0,
        lambda M: M @ torch.tensor(2.0),
        lambda M: M * np.ones(3),
    ],
    ids=[
        "ellipsis",
        "none-among-rows",
        "lists-on-lead-and-rows",
        "unsqueeze-matrix-dim",
        "unsqueeze-past-end",
        "matmul-number",
        "matmul-0d",
        "mul-numpy-vector",
    ],
)
def test_ambiguous_indices_and_operands_raise_a_shape_error(make):
    with pytest.raises(ShapeError, match=r"FactoredMatrix"):
        make(FactoredMatrix(torch.randn(3, 4, 2), torch.randn(3, 2, 5)))
