"""FactoredMatrix: a low-rank product M = A B kept as its two factors.

W_QK = W_Q W_K^T and W_OV = W_V W_O are d_model x d_model matrices of rank d_head; the full
circuits W_E W_OV W_U are d_vocab x d_vocab. Elhage et al. (2021) read them through their
singular values and eigenvalues, which the factors give cheaply: A [..., ldim, mdim] and
B [..., mdim, rdim] with a small inner dimension mdim. Semantics follow TransformerLens 3.9's
FactoredMatrix (``svd`` returns U, S, V with M = U diag(S) V^T); the differences (errors,
numpy operands, refused ambiguous indices, signs of singular vectors, repr) are listed in
docs/transformer-lens.md.

This module imports nothing from circuitlab but ``errors``, ``typing`` and its operand helpers:
the transformer imports it lazily for ``model.QK`` and ``model.OV``.
"""

from __future__ import annotations

import warnings

import torch

from circuitlab.circuits.factored_operands import as_factor, as_matrix_operand, as_scalar, split_index
from circuitlab.errors import ShapeError
from circuitlab.typing import Float, Tensor

Scalar = int | float | Tensor


class FactoredMatrix:
    """M = A @ B with A [..., ldim, mdim], B [..., mdim, rdim]; leading dims broadcast.

    ``AB`` materialises M, ``BA`` the small [..., mdim, mdim] reverse product (square M only),
    ``T`` is B^T A^T, ``@`` keeps the product factored and splits it where the inner dimension is
    smallest, ``svd()`` / ``norm()`` / ``eigenvalues`` never form M. Factors may be tensors or
    numpy arrays; ``@`` takes tensors, numpy arrays and FactoredMatrix, ``*`` numbers and
    one-element arrays.
    """

    __array_ufunc__ = None  # numpy hands ``array @ M`` and ``np.float64(2) * M`` to our methods

    def __init__(self, A: Float[Tensor, "... ldim mdim"], B: Float[Tensor, "... mdim rdim"]) -> None:
        A, B = as_factor("A", A), as_factor("B", B)
        if A.shape[-1] != B.shape[-2]:
            raise ShapeError(
                f"FactoredMatrix(A {tuple(A.shape)}, B {tuple(B.shape)}): inner dims differ "
                f"({A.shape[-1]} != {B.shape[-2]}); A's last dim must equal B's second-to-last"
            )
        try:
            lead = torch.broadcast_shapes(A.shape[:-2], B.shape[:-2])
        except RuntimeError as err:
            raise ShapeError(
                f"FactoredMatrix: leading dims of A {tuple(A.shape)} and B {tuple(B.shape)} do not broadcast"
            ) from err
        self.A = A.broadcast_to(*lead, *A.shape[-2:])
        self.B = B.broadcast_to(*lead, *B.shape[-2:])
        self.ldim, self.mdim, self.rdim = A.shape[-2], A.shape[-1], B.shape[-1]
        self.shape = torch.Size((*lead, self.ldim, self.rdim))

    # ---- the matrix and its reverse ------------------------------------------------------
    @property
    def AB(self) -> Float[Tensor, "... ldim rdim"]:
        """M itself (dense: ldim x rdim per leading index)."""
        return self.A @ self.B

    @property
    def BA(self) -> Float[Tensor, "... mdim mdim"]:
        """B A: shares M's nonzero eigenvalues; needs a square M (ldim == rdim)."""
        self._require_square("BA")
        return self.B @ self.A

    @property
    def T(self) -> FactoredMatrix:
        """M^T = B^T A^T."""
        return FactoredMatrix(self.B.transpose(-2, -1), self.A.transpose(-2, -1))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def has_leading_dims(self) -> bool:
        """Whether M is a batch of matrices (ndim > 2)."""
        return self.ndim > 2

    @property
    def pair(self) -> tuple[Tensor, Tensor]:
        return self.A, self.B

    def _require_square(self, what: str) -> None:
        if self.ldim != self.rdim:
            raise ShapeError(
                f"FactoredMatrix.{what} needs a square matrix; this one is {self.ldim} x {self.rdim} "
                f"(shape {tuple(self.shape)}); use svd() for singular values instead"
            )

    # ---- products --------------------------------------------------------------------------
    def __matmul__(self, other) -> FactoredMatrix | Tensor:
        """M @ X. A vector X gives a tensor; a matrix or FactoredMatrix gives a FactoredMatrix.

        A (B X) when that keeps the inner dim mdim smaller than rdim, else (A B) X.
        """
        if isinstance(other, FactoredMatrix):
            return self._matmul_factored(other)
        other = as_matrix_operand(other, self.A)
        if other is None:
            return NotImplemented
        if other.ndim == 1:
            self._check_inner(self.rdim, other.shape[0], other.shape)
            return (self.A @ (self.B @ other[:, None]))[..., 0]
        self._check_inner(self.rdim, other.shape[-2], other.shape)
        if self.rdim > self.mdim:
            return FactoredMatrix(self.A, self.B @ other)
        return FactoredMatrix(self.AB, other)

    def _matmul_factored(self, other: FactoredMatrix) -> FactoredMatrix:
        """A1 B1 A2 B2 split where the inner dim is smallest: after A1 (m1), after B1 (the shared
        dim r1 = l2) or after A2 (m2); ties as TransformerLens (m2, then r1, then m1)."""
        self._check_inner(self.rdim, other.ldim, other.shape)
        after_a1 = self.rdim > self.mdim  # the better split of M1 alone: m1 < r1
        if other.mdim <= min(self.mdim, self.rdim):
            left = self.A @ (self.B @ other.A) if after_a1 else self.AB @ other.A
            return FactoredMatrix(left, other.B)
        if after_a1:
            return FactoredMatrix(self.A, (self.B @ other.A) @ other.B)
        return FactoredMatrix(self.AB, other.AB)

    def __rmatmul__(self, other) -> FactoredMatrix | Tensor:
        """X @ M, the mirror image of ``__matmul__``."""
        other = as_matrix_operand(other, self.A)
        if other is None:
            return NotImplemented
        if other.ndim == 1:
            self._check_inner(other.shape[0], self.ldim, other.shape)
            return ((other[None, :] @ self.A) @ self.B)[..., 0, :]
        self._check_inner(other.shape[-1], self.ldim, other.shape)
        if self.ldim > self.mdim:
            return FactoredMatrix(other @ self.A, self.B)
        return FactoredMatrix(other, self.AB)

    def _check_inner(self, left: int, right: int, other_shape) -> None:
        if left != right:
            raise ShapeError(
                f"FactoredMatrix {tuple(self.shape)} @ {tuple(other_shape)}: inner dims {left} and {right} "
                "differ; transpose one side (.T) or check which space each matrix maps"
            )

    def __mul__(self, scalar: Scalar) -> FactoredMatrix:
        """c M = (c A) B for a number, numpy scalar or one-element tensor/array c."""
        scalar = as_scalar(scalar)
        if scalar is None:
            return NotImplemented
        return FactoredMatrix(self.A * scalar, self.B)

    __rmul__ = __mul__

    # ---- spectra from the factors ----------------------------------------------------------
    def svd(self) -> tuple[Float[Tensor, "... ldim k"], Float[Tensor, "... k"], Float[Tensor, "... rdim k"]]:
        """M = U diag(S) V^T with k = min(ldim, mdim, rdim), from QR of the factors.

        A = Q_a R_a and B^T = Q_b R_b give M = Q_a (R_a R_b^T) Q_b^T; the SVD of the small middle
        R_a R_b^T = U_m S V_m^T gives U = Q_a U_m, V = Q_b V_m. TransformerLens takes SVDs of the
        factors instead (more work): S agrees, each column pair (U_i, V_i) may differ in sign.
        Cached per instance.
        """
        if not hasattr(self, "_svd"):
            Qa, Ra = torch.linalg.qr(self.A)
            Qb, Rb = torch.linalg.qr(self.B.transpose(-2, -1))
            Um, S, Vhm = torch.linalg.svd(Ra @ Rb.transpose(-2, -1), full_matrices=False)
            self._svd = (Qa @ Um, S, Qb @ Vhm.transpose(-2, -1))
        return self._svd

    @property
    def U(self) -> Tensor:
        return self.svd()[0]

    @property
    def S(self) -> Tensor:
        return self.svd()[1]

    @property
    def V(self) -> Tensor:
        return self.svd()[2]

    @property
    def Vh(self) -> Tensor:
        """V, not V^T: TransformerLens's deprecated alias of ``V``, kept with its warning."""
        warnings.warn(
            "FactoredMatrix.Vh returns V (right singular vectors), as in TransformerLens; "
            "use .V, or .V.transpose(-2, -1) for V^T",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.V

    @property
    def eigenvalues(self) -> Tensor:
        """Eigenvalues of B A [..., mdim] (complex): M's nonzero eigenvalues, padded with zeros.

        If B A v = k v then A B (A v) = k (A v), so every nonzero eigenvalue of the small B A is
        one of M = A B. Needs a square M.
        """
        BA = self.BA
        if BA.dtype in (torch.float16, torch.bfloat16):
            BA = BA.float()
        return torch.linalg.eigvals(BA)

    def norm(self) -> Float[Tensor, "..."]:
        """Frobenius norm: ||A B||_F^2 = tr(A^T A B B^T), from two mdim x mdim Gram matrices."""
        gram_a = self.A.transpose(-2, -1) @ self.A
        gram_b = self.B @ self.B.transpose(-2, -1)
        return (gram_a * gram_b).sum((-2, -1)).clamp_min(0).sqrt()

    def collapse_l(self) -> Float[Tensor, "... k rdim"]:
        """diag(S) V^T: M with its left orthogonal factor removed (same Gram matrix M^T M)."""
        return self.S[..., :, None] * self.V.transpose(-2, -1)

    def collapse_r(self) -> Float[Tensor, "... ldim k"]:
        """U diag(S): M with its right orthogonal factor removed (same M M^T)."""
        return self.U * self.S[..., None, :]

    def make_even(self) -> FactoredMatrix:
        """The balanced factorisation U sqrt(S), sqrt(S) V^T of the same matrix."""
        root = self.S.sqrt()
        return FactoredMatrix(self.U * root[..., None, :], root[..., :, None] * self.V.transpose(-2, -1))

    def get_corner(self, k: int = 3) -> Tensor:
        """M[:k, :k, ..., :k]: the first k entries of every dim, from k rows of A and k columns of B."""
        lead = tuple(slice(k) for _ in range(self.ndim - 2))
        return self.A[lead][..., :k, :] @ self.B[lead][..., :, :k]

    # ---- indexing and shape ----------------------------------------------------------------
    def __getitem__(self, idx) -> FactoredMatrix:
        """Index leading dims (None adds one); a further index selects rows, then columns (an int
        keeps the dim, so the result is always a matrix)."""
        lead, rest = split_index(idx, self.shape)
        A, B = self.A[lead], self.B[lead]
        if rest:
            A = A[..., rest[0], :]
        if len(rest) == 2:
            B = B[..., :, rest[1]]
        return FactoredMatrix(A, B)

    def unsqueeze(self, dim: int) -> FactoredMatrix:
        """Add a leading dim at ``dim``: 0 <= dim <= ndim - 2, or -ndim - 1 <= dim <= -3 from the end."""
        n = self.ndim
        if not (0 <= dim <= n - 2 or -n - 1 <= dim <= -3):
            raise ShapeError(
                f"FactoredMatrix.unsqueeze({dim}) on shape {tuple(self.shape)}: a new dim must be a leading "
                f"one, dim in [0, {n - 2}] or [{-n - 1}, -3]"
            )
        return FactoredMatrix(self.A.unsqueeze(dim), self.B.unsqueeze(dim))

    def to(self, *args, **kwargs) -> FactoredMatrix:
        return FactoredMatrix(self.A.to(*args, **kwargs), self.B.to(*args, **kwargs))

    def detach(self) -> FactoredMatrix:
        return FactoredMatrix(self.A.detach(), self.B.detach())

    def __repr__(self) -> str:
        return f"FactoredMatrix(shape={tuple(self.shape)}, mdim={self.mdim}, dtype={self.A.dtype})"


__all__ = ["FactoredMatrix"]
