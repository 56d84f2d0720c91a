"""circuitlab's FactoredMatrix against TransformerLens 3.9's: every operation, the same result.

Each scenario runs on both classes built from the same float64 factors; results are compared
factor by factor (a FactoredMatrix result must have the same A, B and inner dim, not only the
same product), so the grouping of products agrees too. Singular vectors agree up to the sign
of each (U_i, V_i) pair, which the SVD leaves free.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuitlab.circuits import FactoredMatrix
from circuitlab.errors import ShapeError

tl = pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop]


def randn(*shape: int, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def both(lead: tuple[int, ...] = (2, 3), ldim: int = 5, mdim: int = 3, rdim: int = 5, seed: int = 0):
    A, B = randn(*lead, ldim, mdim, seed=seed), randn(*lead, mdim, rdim, seed=seed + 1)
    return FactoredMatrix(A, B), tl.FactoredMatrix(A, B)


def assert_same(ours, theirs) -> None:
    if isinstance(theirs, tl.FactoredMatrix):
        assert isinstance(ours, FactoredMatrix)
        assert (ours.shape, ours.ldim, ours.mdim, ours.rdim) == (
            theirs.shape,
            theirs.ldim,
            theirs.mdim,
            theirs.rdim,
        )
        torch.testing.assert_close(ours.A, theirs.A)
        torch.testing.assert_close(ours.B, theirs.B)
    elif isinstance(theirs, (tuple, list)):
        assert len(ours) == len(theirs)
        for o, t in zip(ours, theirs, strict=True):
            assert_same(o, t)
    elif isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor) and ours.shape == theirs.shape and ours.dtype == theirs.dtype
        torch.testing.assert_close(ours, theirs)
    else:
        assert ours == theirs


X_RIGHT, X_LEFT = randn(5, 4, seed=10), randn(4, 5, seed=11)
VEC = randn(5, seed=12)
OTHER = (randn(2, 3, 5, 2, seed=13), randn(2, 3, 2, 6, seed=14))  # inner dim 2 < 3: split after A2
WIDE = (randn(2, 3, 5, 4, seed=15), randn(2, 3, 4, 6, seed=16))  # inner dim 4 > 3: split after A1

SCENARIOS = {
    "shape": lambda M: M.shape,
    "ndim": lambda M: M.ndim,
    "dims": lambda M: (M.ldim, M.mdim, M.rdim),
    "has_leading_dims": lambda M: M.has_leading_dims,
    "has_leading_dims-2d": lambda M: M[0, 0].has_leading_dims,
    "A-B": lambda M: (M.A, M.B),
    "pair": lambda M: M.pair,
    "AB": lambda M: M.AB,
    "BA": lambda M: M.BA,
    "T": lambda M: M.T,
    "eigenvalues": lambda M: M.eigenvalues,
    "norm": lambda M: M.norm(),
    "matmul-matrix": lambda M: M @ X_RIGHT,
    "matmul-matrix-wide-inner": lambda M: M[0, 0, :, :2] @ X_RIGHT[:2],
    "rmatmul-matrix": lambda M: X_LEFT @ M,
    "rmatmul-matrix-wide-inner": lambda M: X_LEFT[:, :2] @ M[0, 0, :2],
    "matmul-vector": lambda M: M @ VEC,
    "rmatmul-vector": lambda M: VEC @ M,
    "matmul-factored": lambda M: M @ type(M)(*OTHER),
    "matmul-factored-wide-other": lambda M: M @ type(M)(*WIDE),
    "matmul-factored-narrow-middle": lambda M: M[:, :, :, :2] @ type(M)(WIDE[0][..., :2, :], WIDE[1]),
    "matmul-factored-narrow-other": lambda M: M @ type(M)(OTHER[0][..., :1], OTHER[1][..., :1, :]),
    "matmul-self": lambda M: M @ M,
    "mul-int": lambda M: M * 3,
    "rmul-float": lambda M: 0.5 * M,
    "mul-tensor": lambda M: M * torch.tensor(2.0, dtype=torch.float64),
    "rmul-tensor": lambda M: torch.tensor(2.0, dtype=torch.float64) * M,
    "mul-numpy-scalar": lambda M: M * np.float64(1.5),
    "rmul-numpy-scalar": lambda M: np.float64(1.5) * M,
    "get_corner": lambda M: M.get_corner(),
    "get_corner-2": lambda M: M.get_corner(2),
    "unsqueeze-0": lambda M: M.unsqueeze(0),
    "unsqueeze-1": lambda M: M.unsqueeze(1),
    "unsqueeze-minus-3": lambda M: M.unsqueeze(-3),
    "index-int": lambda M: M[1],
    "index-slice": lambda M: M[:, 1:],
    "index-row": lambda M: M[1, 2, 3],
    "index-last-row": lambda M: M[1, 2, -1],
    "index-column": lambda M: M[0, 1, :, 2],
    "index-last-row-and-column": lambda M: M[:, :, -1, -1],
    "index-row-slice-and-column": lambda M: M[0, 1, 1:3, -1],
    "index-row-list": lambda M: M[0, 1, [0, 2]],
    "index-lead-list": lambda M: M[[0, 1], 1:],
    "index-none": lambda M: M[None],
    "index-int-then-none": lambda M: M[0, None],
}


@pytest.mark.parametrize("scenario", SCENARIOS.values(), ids=SCENARIOS.keys())
def test_factored_matrix_operation_equals_transformer_lens(scenario) -> None:
    ours, theirs = both()
    assert_same(scenario(ours), scenario(theirs))


def pair_signs(ours: FactoredMatrix, theirs) -> torch.Tensor:
    """+-1 per singular pair: circuitlab's SVD (from QR) and TransformerLens's (from SVDs of the
    factors) agree on S and on each pair (U_i, V_i) up to one sign flipping both."""
    return torch.sign((ours.U * theirs.U).sum(-2))  # [..., k]


@pytest.mark.parametrize(
    "dims", [(5, 3, 5), (4, 6, 7), (7, 2, 3), (3, 3, 3)], ids=["square", "wide-inner", "tall", "full-rank"]
)
def test_svd_and_what_builds_on_it_equal_transformer_lens_up_to_pair_signs(
    dims: tuple[int, int, int],
) -> None:
    ours, theirs = both((2, 3), *dims, seed=sum(dims))
    sign = pair_signs(ours, theirs)
    assert_same(ours.S, theirs.S)
    assert_same(ours.U * sign[..., None, :], theirs.U)
    assert_same(ours.V * sign[..., None, :], theirs.V)
    assert_same(ours.collapse_l() * sign[..., :, None], theirs.collapse_l())
    assert_same(ours.collapse_r() * sign[..., None, :], theirs.collapse_r())
    even = ours.make_even()
    assert_same(FactoredMatrix(even.A * sign[..., None, :], sign[..., :, None] * even.B), theirs.make_even())
    assert_same(ours.norm(), theirs.norm())
    if dims[0] == dims[2]:
        assert_same(ours.eigenvalues, theirs.eigenvalues)


def test_vh_is_v_with_a_deprecation_warning_in_both() -> None:
    ours, theirs = both()
    with pytest.warns(DeprecationWarning):
        theirs_vh = theirs.Vh
    with pytest.warns(DeprecationWarning):
        ours_vh = ours.Vh
    assert_same(ours_vh, ours.V)
    assert_same(ours_vh * pair_signs(ours, theirs)[..., None, :], theirs_vh)


def test_numpy_operands_give_what_transformer_lens_gives_for_the_same_tensors() -> None:
    # TransformerLens raises TypeError/ValueError for numpy matrices; circuitlab converts them to
    # the factors' dtype, so the result is TransformerLens's result for the converted tensor.
    ours, theirs = both()
    X, Y = X_RIGHT.numpy(), X_LEFT.numpy()
    assert_same(ours @ X, theirs @ X_RIGHT)
    assert_same(Y @ ours, X_LEFT @ theirs)
    assert_same(ours @ VEC.numpy(), theirs @ VEC)
    assert_same(ours * np.array(2.0), theirs * 2.0)


def test_bfloat16_eigenvalues_are_computed_in_float32_in_both() -> None:
    A, B = randn(4, 2, seed=1).bfloat16(), randn(2, 4, seed=2).bfloat16()
    assert_same(FactoredMatrix(A, B).eigenvalues, tl.FactoredMatrix(A, B).eigenvalues)


REFUSED = {
    "inner-dims-differ": lambda F: F(randn(4, 2, seed=0), randn(3, 5, seed=1)),
    "leading-dims-clash": lambda F: F(randn(2, 4, 2, seed=0), randn(3, 2, 4, seed=1)),
    "BA-non-square": lambda F: F(randn(4, 2, seed=0), randn(2, 5, seed=1)).BA,
    "matmul-inner-mismatch": lambda F: F(randn(4, 2, seed=0), randn(2, 5, seed=1)) @ randn(4, 3, seed=2),
    "rmatmul-inner-mismatch": lambda F: randn(3, 5, seed=2) @ F(randn(4, 2, seed=0), randn(2, 5, seed=1)),
    "mul-by-vector": lambda F: F(randn(4, 2, seed=0), randn(2, 5, seed=1)) * torch.ones(2),
    "index-too-long": lambda F: F(randn(4, 2, seed=0), randn(2, 5, seed=1))[0, 0, 0],
}


@pytest.mark.parametrize("make", REFUSED.values(), ids=REFUSED.keys())
def test_what_transformer_lens_refuses_circuitlab_refuses_with_a_value_error(make) -> None:
    with pytest.raises((AssertionError, RuntimeError, ValueError)):
        make(tl.FactoredMatrix)
    with pytest.raises(ShapeError, match=r"\d"):  # a ValueError whose message names the shapes
        make(FactoredMatrix)
