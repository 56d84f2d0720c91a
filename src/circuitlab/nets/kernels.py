"""The recurrent nets' fast path: torch.nn's fused RNN/LSTM kernels run on circuitlab's Parameters.

``torch.nn.RNN`` and ``torch.nn.LSTM`` compute the same equations as ``RNNLayer.loop`` and
``LSTMLayer.loop`` with the same parameter layout (``weight_ih_l{k}: [G*d_hidden, d_in]``, gates
i, f, g, o), in one native kernel per call. ``TorchKernel`` runs such a module (a parameter-less
"twin" on the ``meta`` device) through ``torch.func.functional_call`` with the layers' own
``W_ih, W_hh, b_ih, b_hh``, so the result and its gradients flow to circuitlab's Parameters. The tests check both paths against each other
and against ``torch.nn`` (outputs and gradients).

The twin has ``dropout=0``, ``bidirectional=False`` and (LSTM) ``proj_size=0``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from torch import Tensor, nn
from torch.func import functional_call


class TorchKernel:
    """``torch.nn.RNN``/``torch.nn.LSTM`` (for ``RNNLayer``s/``LSTMLayer``s) of a stack's sizes, run
    on the stack's own Parameters: ``kernel(layers, x, state, batch_first)`` returns ``(out, h_n)``
    or ``(out, (h_n, c_n))``, shapes as in torch.

    Each model keeps its own twins (one per thread, as ``functional_call`` swaps a twin's
    parameters while it runs), so a twin only ever refers to the Parameters of its model."""

    def __init__(self) -> None:
        self.twins: dict[tuple[int, bool], nn.RNNBase] = {}

    def __call__(
        self,
        layers: Sequence[nn.Module],
        x: Tensor,
        state: Tensor | tuple[Tensor, Tensor] | None,
        batch_first: bool,
    ):
        key = (threading.get_ident(), batch_first)
        twin = self.twins.get(key)
        if twin is None:
            twin = self.twins[key] = _twin(layers, batch_first)
        return functional_call(twin, torch_weights(layers), (x, state))


def _twin(layers: Sequence[nn.Module], batch_first: bool) -> nn.RNNBase:
    """A parameter-less (``meta``) ``torch.nn.RNN``/``LSTM`` with ``layers``' sizes."""
    first = layers[0]
    d_hidden, d_in, bias = first.W_hh.shape[1], first.W_ih.shape[1], first.b_ih is not None
    if first.n_gates == 1:
        return nn.RNN(d_in, d_hidden, len(layers), first.nonlinearity, bias, batch_first, device="meta")
    return nn.LSTM(d_in, d_hidden, len(layers), bias, batch_first, device="meta")


def torch_weights(layers: Sequence[nn.Module]) -> dict[str, Tensor]:
    """The layers' parameters under torch's names (``weight_ih_l0``, ``bias_hh_l1``, ...)."""
    weights = {}
    for k, layer in enumerate(layers):
        weights[f"weight_ih_l{k}"], weights[f"weight_hh_l{k}"] = layer.W_ih, layer.W_hh
        if layer.b_ih is not None:
            weights[f"bias_ih_l{k}"], weights[f"bias_hh_l{k}"] = layer.b_ih, layer.b_hh
    return weights
