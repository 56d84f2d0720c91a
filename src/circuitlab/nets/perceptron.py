"""The perceptron: one neuron, y = sigmoid(w . x + b).

Source: the seed notebook's ``Perceptron`` cell (``../shared/seed``), after Rosenblatt (1958).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.errors import ShapeError
from circuitlab.hooks import HookedModule, HookPoint


def _as_tensor(value: Tensor | Sequence[float] | float, dtype: torch.dtype) -> Tensor:
    if isinstance(value, Tensor):
        return value.detach().clone()
    return torch.atleast_1d(torch.tensor(value, dtype=dtype))


def sigmoid(z: Tensor) -> Tensor:
    """sigma(z) = 1 / (1 + exp(-z)), written as the seed writes it."""
    return 1 / (1 + torch.exp(-z))


class Perceptron(HookedModule):
    """One neuron: ``y = sigmoid(w . x + b)``.

    ``w``: ``[n]`` weights (a tensor keeps its dtype; a list becomes ``dtype``), ``b``: the bias
    (a float becomes a ``[1]`` tensor in float32, as in the seed). ``forward(x)`` takes ``x: [n]``
    (one input, output ``[1]`` like the seed's ``tensor([0.8176])``) or ``[batch, n]`` (output
    ``[batch]``). Hook points: ``hook_z`` (w . x + b) and ``hook_y`` (the output).

    The seed's cell, reproduced exactly by ``Perceptron.seed()``: ``w = [1, 0, 0, 0, 0]`` in
    float16 and ``b = [0.5]`` in float32 give ``sigmoid(1.5) = 0.8176`` for ``x1 = e_1`` and
    ``sigmoid(0.5) = 0.6225`` for ``x2 = e_3``. The float16 dot product is promoted to float32
    when the float32 bias is added, so the output is float32 like the seed's.

    Why the seed's ``torch.dot(w.T, x)`` is the same as ``torch.dot(w, x)``: ``.T`` reverses the
    order of a tensor's dimensions, and a 1-D tensor has only one, so ``w.T`` is ``w`` again (a
    new view of the same 5 numbers). There are no row or column vectors in 1-D; ``torch.dot``
    already computes sum_i w_i x_i. PyTorch warns that ``.T`` on a tensor that is not 2-D is
    deprecated (it will become an error); this class writes ``x @ w`` and has no ``.T``.
    """

    def __init__(
        self,
        w: Tensor | Sequence[float],
        b: Tensor | float = 0.0,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        w_t, b_t = _as_tensor(w, dtype), _as_tensor(b, torch.float32)
        if w_t.ndim != 1 or not w_t.is_floating_point():
            raise ShapeError(
                f"Perceptron w: expected shape [n] (floating point), got {tuple(w_t.shape)} "
                f"(dtype {w_t.dtype}); pass a 1-D float tensor of weights"
            )
        if b_t.numel() != 1:
            raise ShapeError(f"Perceptron b: expected shape [1] or a float, got {tuple(b_t.shape)}")
        self.w = nn.Parameter(w_t)
        self.b = nn.Parameter(b_t.reshape(1).to(b_t.dtype if b_t.is_floating_point() else torch.float32))
        self.hook_z = HookPoint()
        self.hook_y = HookPoint()

    @classmethod
    def seed(cls) -> Perceptron:
        """The seed notebook's neuron: w = [1, 0, 0, 0, 0] (float16), b = [0.5] (float32)."""
        return cls(torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float16), torch.tensor([0.5]))

    @property
    def n_inputs(self) -> int:
        return self.w.shape[0]

    def forward(self, x: Float[Tensor, "*batch n"]) -> Float[Tensor, "..."]:
        """``y = sigmoid(w . x + b)`` for ``x: [n]`` -> ``[1]`` or ``x: [batch, n]`` -> ``[batch]``."""
        if x.ndim not in (1, 2) or x.shape[-1] != self.n_inputs or not x.is_floating_point():
            raise ShapeError(
                f"Perceptron input: expected shape [{self.n_inputs}] or [batch, {self.n_inputs}] "
                f"(floating point), got {tuple(x.shape)} (dtype {x.dtype}); "
                "w and x must have the same length"
            )
        z = self.hook_z(x.to(self.w.dtype) @ self.w + self.b)
        return self.hook_y(sigmoid(z))
