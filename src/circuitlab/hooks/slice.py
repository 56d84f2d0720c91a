"""Slice: one index along one axis, as TransformerLens's ``utils.Slice`` takes it.

    Slice(None)        identity: the axis is left as it is
    Slice(3)           index 3: the axis is dropped
    Slice((1, 5))      1:5 (a tuple is ``slice(*tuple)``: (k,) means :k, (a, b, s) a:b:s)
    Slice(slice(...))  that slice
    Slice([1, 4, 5])   those indices (a list, 1-D tensor or numpy array), in that order

The ActivationCache methods that take ``pos_slice``/``batch_slice``/``neuron_slice`` accept a
Slice or anything ``Slice()`` takes (a TransformerLens Slice too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from circuitlab.errors import ConfigError

SliceInput = int | tuple | slice | list | torch.Tensor | np.ndarray | None


class Slice:
    """``mode`` is "identity", "int", "slice" or "array"; ``slice`` what indexes the axis."""

    def __init__(self, input_slice: SliceInput = None) -> None:
        if input_slice is None:
            self.slice: Any = slice(None)
            self.mode = "identity"
        elif isinstance(input_slice, bool):
            raise ConfigError(f"cannot slice with {input_slice!r}: give an int, tuple, slice or index list")
        elif isinstance(input_slice, int):
            self.slice, self.mode = input_slice, "int"
        elif isinstance(input_slice, tuple | slice):
            self.slice = slice(*input_slice) if isinstance(input_slice, tuple) else input_slice
            self.mode = "slice"
        elif isinstance(input_slice, list | torch.Tensor | np.ndarray):
            as_array = (
                input_slice.detach().cpu().numpy() if isinstance(input_slice, torch.Tensor) else input_slice
            )
            self.slice, self.mode = np.asarray(as_array), "array"
        else:
            raise ConfigError(
                f"cannot slice with a {type(input_slice).__name__}: give None, an int, a tuple, a slice "
                "or a list/tensor/array of indices"
            )

    @classmethod
    def of(cls, value: Any) -> Slice:
        """``value`` as a Slice (a Slice, or any object with TransformerLens's ``slice``/``mode``)."""
        if isinstance(value, Slice):
            return value
        if hasattr(value, "slice") and hasattr(value, "mode") and hasattr(value, "apply"):
            made = cls()
            made.slice, made.mode = value.slice, value.mode
            return made
        return cls(value)

    @classmethod
    def unwrap(cls, value: Any) -> Slice:
        """As ``of``, but an int keeps its axis (``[k]``), as TransformerLens's ``Slice.unwrap``."""
        return cls.of([value] if isinstance(value, int) and not isinstance(value, bool) else value)

    def apply(self, tensor: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """``tensor`` indexed by this slice along ``dim`` (negative dims count from the end)."""
        index: list[Any] = [slice(None)] * tensor.ndim
        index[dim] = self.slice
        return tensor[tuple(index)]

    def indices(self, max_ctx: int | None = None) -> np.ndarray:
        """The indices this slice takes from an axis of length ``max_ctx``."""
        if self.mode == "int":
            return np.array([self.slice], dtype=np.int64)
        if max_ctx is None:
            raise ConfigError(f"Slice.indices of a {self.mode} slice needs the axis length max_ctx")
        return np.arange(max_ctx, dtype=np.int64)[self.slice]

    def __repr__(self) -> str:
        return f"Slice({self.slice!r}, mode={self.mode})"


__all__ = ["Slice", "SliceInput"]
