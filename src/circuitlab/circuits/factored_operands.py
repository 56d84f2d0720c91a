"""Operands and indices of ``FactoredMatrix``: what ``@``, ``*`` and ``[]`` accept, normalised.

Kept apart from the matrix algebra in ``factored_matrix.py``. Operands follow TransformerLens
3.9's FactoredMatrix, extended to numpy: a numpy array is a matrix operand (converted to the
factors' dtype and device), a number, numpy scalar or one-element array/tensor is a scalar that
never changes the factors' dtype or shape.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from circuitlab.errors import ShapeError
from circuitlab.typing import Tensor


def as_factor(name: str, value) -> Tensor:
    """A factor as a tensor with >= 2 dims (numpy arrays are converted, sharing memory)."""
    if isinstance(value, np.ndarray):
        value = torch.as_tensor(value)
    if not isinstance(value, Tensor) or value.ndim < 2:
        got = tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__
        raise ShapeError(f"FactoredMatrix factor {name}: expected a tensor with >= 2 dims, got {got}")
    return value


def as_matrix_operand(other, like: Tensor) -> Tensor | None:
    """The tensor to multiply by with ``@``; None for a type that ``@`` does not handle.

    A numpy array becomes a tensor of ``like``'s dtype and device; a number is refused (``*``).
    """
    if isinstance(other, np.ndarray):
        other = torch.as_tensor(other, dtype=like.dtype, device=like.device)
    elif isinstance(other, (numbers.Number, np.generic)):
        raise ShapeError(f"FactoredMatrix @ {other!r}: @ needs a vector or matrix; use * for a scalar")
    if not isinstance(other, Tensor):
        return None
    if other.ndim == 0:
        raise ShapeError("FactoredMatrix @ a 0-d tensor: @ needs a vector or matrix; use * for a scalar")
    return other


def as_scalar(scalar) -> Tensor | numbers.Number | None:
    """A scalar factor: a Python number, or a 0-d tensor (so it never adds dims to A)."""
    if isinstance(scalar, np.generic):
        return scalar.item()
    if isinstance(scalar, numbers.Number):
        return scalar
    if isinstance(scalar, (np.ndarray, Tensor)):
        count = scalar.size if isinstance(scalar, np.ndarray) else scalar.numel()
        if count != 1:
            raise ShapeError(
                f"FactoredMatrix * array of shape {tuple(scalar.shape)}: * takes a scalar; use @ for a matrix"
            )
        return scalar.item() if isinstance(scalar, np.ndarray) else scalar.reshape(())
    return None


def _is_advanced(i) -> bool:
    return isinstance(i, (list, Tensor, np.ndarray))


def _keep_dim(i):
    """An int index on a matrix dim becomes a length-1 slice, so the result stays a matrix."""
    if isinstance(i, (int, np.integer)) and not isinstance(i, bool):
        i = int(i)
        return slice(i, i + 1) if i != -1 else slice(-1, None)
    return i


def split_index(idx, shape: torch.Size) -> tuple[tuple, list]:
    """Split an index of a FactoredMatrix into (leading-dim index, [row index, column index]).

    As TransformerLens: the first ndim - 2 entries other than None index the leading dims (None
    adds a leading dim), a next one selects rows, a last one columns; an int on rows or columns
    keeps the dim. Ellipsis, None among rows/columns and list/tensor indices on both the leading
    dims and the rows/columns (whose meaning in factored form is ambiguous) are refused.
    """
    idx = idx if isinstance(idx, tuple) else (idx,)
    n_lead, ndim = len(shape) - 2, len(shape)
    seen, cut = 0, len(idx)
    for pos, i in enumerate(idx):
        if i is not None:
            if seen == n_lead:
                cut = pos
                break
            seen += 1
    lead, rest = idx[:cut], idx[cut:]
    bad = (
        any(i is Ellipsis for i in idx)
        or any(i is None for i in rest)
        or len(rest) > 2
        or (any(map(_is_advanced, lead)) and any(map(_is_advanced, rest)))
    )
    if bad:
        raise ShapeError(
            f"FactoredMatrix index {idx!r} on shape {tuple(shape)}: use at most {ndim} ints, slices or "
            f"index lists (None only among the {n_lead} leading dims, no ...); index the leading dims "
            "and the rows/columns in two steps when both take a list"
        )
    return lead, [_keep_dim(i) for i in rest]


__all__ = ["as_factor", "as_matrix_operand", "as_scalar", "split_index"]
