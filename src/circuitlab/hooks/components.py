"""Heads and neurons as pieces of the residual stream, read from an ActivationCache.

Each function is an ``ActivationCache`` method with TransformerLens 3.9's arguments, results and
labels. Attention heads and MLP neurons write to the stream independently and additively
(Elhage et al. 2021):

    attn_out^l = sum_h z^{l,h} W_O^{l,h} + b_O^l          (head h's result r^{l,h}, "L{l}H{h}")
    mlp_out^l  = sum_n post^l_n W_out^l[n] + b_out^l      (neuron n's result, "L{l}N{n}")

so the stream entering a layer is the heads' and neurons' results plus "embed", "pos_embed" and
the accumulated biases ("bias"): ``get_full_resid_decomposition``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from einops import einsum, rearrange
from torch import Tensor

from circuitlab.hooks.resid import apply_ln_to_stack, cached_ln_scale, final_layer, has_mlp, norm_kind
from circuitlab.hooks.slice import Slice

log = logging.getLogger(__name__)


def _head_results_cached(cache: Any) -> bool:
    first = cache.cache_dict.get("blocks.0.attn.hook_result")
    return first is not None and first.ndim >= 4


def compute_head_results(cache: Any) -> None:
    """Put each layer's r^{l,h} = z^{l,h} W_O^{l,h} [*batch_and_pos, n_heads, d_model] in the
    cache as ``blocks.{l}.attn.hook_result`` (run_with_cache already keeps them; then nothing is
    done). Computed from the cached z and the model's W_O (detached, as every cached tensor)."""
    if _head_results_cached(cache):
        log.warning("compute_head_results: the head results are already in the cache")
        return
    _fill_head_results(cache)


def _fill_head_results(cache: Any) -> None:
    model = cache._model()
    for l in range(model.cfg.n_layers):
        W_O = model.blocks[l].attn.W_O.detach()
        z = cache["z", l, "attn"]
        cache.cache_dict[f"blocks.{l}.attn.hook_result"] = einsum(z, W_O, "... h e, h e d -> ... h d")


def stack_head_results(
    cache: Any,
    layer: int | None = -1,
    return_labels: bool = False,
    incl_remainder: bool = False,
    pos_slice: Any = None,
    apply_ln: bool = False,
) -> Tensor | tuple[Tensor, list[str]]:
    """Every head's result in the layers before ``layer`` (all for -1/None):
    [n_layers_covered * n_heads, *batch_and_pos, d_model], labels "L{l}H{h}"; ``incl_remainder``
    appends resid_post of layer - 1 minus their sum ("remainder")."""
    model = cache._model()
    pos_slice, layer = Slice.of(pos_slice), final_layer(model, layer)
    if not _head_results_cached(cache):
        _fill_head_results(cache)
    parts = [pos_slice.apply(cache["result", l, "attn"], dim=-3) for l in range(layer)]
    labels = [f"L{l}H{h}" for l in range(layer) for h in range(model.cfg.n_heads)]
    if parts:
        stack = rearrange(torch.cat(parts, dim=-2), "... c d -> c ... d")
    else:
        empty = pos_slice.apply(cache["hook_embed"], dim=-2)
        stack = empty.new_zeros(0, *empty.shape)
    if incl_remainder:
        remainder = pos_slice.apply(cache["resid_post", layer - 1], dim=-2) - stack.sum(0)
        stack = torch.cat([stack, remainder[None]])
        labels.append("remainder")
    if apply_ln:
        stack = apply_ln_to_stack(cache, stack, layer, pos_slice=pos_slice)
    return (stack, labels) if return_labels else stack


def stack_activation(
    cache: Any, activation_name: str, layer: int | None = -1, sublayer_type: str | None = None
) -> Tensor:
    """``cache[activation_name, l, sublayer_type]`` for every layer before ``layer``, stacked."""
    model = cache._model()
    return torch.stack([cache[activation_name, l, sublayer_type] for l in range(final_layer(model, layer))])


def get_neuron_results(
    cache: Any,
    layer: int,
    neuron_slice: Any = None,
    pos_slice: Any = None,
    project_output_onto: Tensor | None = None,
) -> Tensor:
    """post^l_n W_out^l[n] for the neurons ``neuron_slice`` selects: [*batch_and_pos, n, d_model];
    with ``project_output_onto`` p ([d_model] or [d_model, k]) post_n (W_out[n] p) instead
    ([..., n] or [..., n, k]), never holding the d_model-wide results."""
    neuron_slice, pos_slice = Slice.of(neuron_slice), Slice.of(pos_slice)
    W_out = neuron_slice.apply(cache._model().blocks[layer].mlp.W_out.detach(), dim=0)
    post = neuron_slice.apply(pos_slice.apply(cache["post", layer, "mlp"], dim=-2), dim=-1)
    if project_output_onto is None:
        return post[..., None] * W_out
    projected = W_out @ project_output_onto
    return post * projected if projected.ndim == 1 else post[..., None] * projected


def stack_neuron_results(
    cache: Any,
    layer: int | None,
    pos_slice: Any = None,
    neuron_slice: Any = None,
    return_labels: bool = False,
    incl_remainder: bool = False,
    apply_ln: bool = False,
    project_output_onto: Tensor | None = None,
) -> Tensor | tuple[Tensor, list[str]]:
    """Every selected neuron's result in the layers before ``layer``: [n_layers_covered * n,
    *batch_and_pos, d_model] (or the projection's width), labels "L{l}N{n}"; ``incl_remainder``
    as in ``stack_head_results``. With ``apply_ln`` and a projection p, LN(a_n W_out[n]) p =
    (a_n / s) (W_out[n] p - mean(W_out[n]) sum(p)) (no mean term for RMSNorm)."""
    model = cache._model()
    layer = final_layer(model, layer)
    pos_slice, neuron_slice = Slice.of(pos_slice), Slice.unwrap(neuron_slice)  # one neuron keeps its axis
    project = project_output_onto
    squeeze = project is not None and project.ndim == 1
    if squeeze:
        project = project[:, None]
    neurons = neuron_slice.apply(torch.arange(model.cfg.d_mlp_resolved), dim=0).reshape(-1)
    labels = [f"L{l}N{int(n)}" for l in range(layer) for n in neurons]
    folded = apply_ln and project is not None
    per_layer = [
        _neuron_stack(cache, l, pos_slice, neuron_slice, project, folded, layer) for l in range(layer)
    ]
    if per_layer:
        stack = rearrange(torch.cat(per_layer, dim=-2), "... c d -> c ... d")
    else:
        empty = pos_slice.apply(cache["hook_embed"], dim=-2)
        empty = empty if project is None else empty @ project
        stack = empty.new_zeros(0, *empty.shape)
    if incl_remainder:
        total = pos_slice.apply(cache["resid_post", layer - 1], dim=-2)
        if folded:
            total = apply_ln_to_stack(cache, total[None], layer, pos_slice=pos_slice)[0]
        total = total if project is None else total @ project
        stack = torch.cat([stack, (total - stack.sum(0))[None]])
        labels.append("remainder")
    if apply_ln and not folded:
        stack = apply_ln_to_stack(cache, stack, layer, pos_slice=pos_slice)
    stack = stack.squeeze(-1) if squeeze else stack
    return (stack, labels) if return_labels else stack


def _neuron_stack(
    cache: Any,
    l: int,
    pos_slice: Slice,
    neuron_slice: Slice,
    project: Tensor | None,
    folded: bool,
    layer: int,
) -> Tensor:
    """Layer l's selected neuron results [*batch_and_pos, n, width] (LayerNorm folded in when asked)."""
    if not folded:
        return get_neuron_results(cache, l, neuron_slice, pos_slice, project)
    model = cache._model()
    W_out = neuron_slice.apply(model.blocks[l].mlp.W_out.detach(), dim=0)  # [n, d_model]
    linear = W_out @ project
    if norm_kind(model) == "LN":
        linear = linear - W_out.mean(-1)[:, None] * project.sum(0)[None]
    if norm_kind(model) is None:
        scale = 1.0
    else:  # stack_neuron_results reads the scale of the norm before ``layer``'s attention
        scale = cached_ln_scale(cache, layer, False, pos_slice)
    post = neuron_slice.apply(pos_slice.apply(cache["post", l, "mlp"], dim=-2), dim=-1)
    return (post / scale)[..., None] * linear


def accumulated_bias(
    model: Any, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True
) -> Tensor:
    """sum of b_O (and b_out) of the layers before ``layer`` (+ layer's b_O with ``mlp_input``): [d_model]."""
    total = model.W_U.detach().new_zeros(model.cfg.d_model)
    for l in range(layer):
        total += model.blocks[l].attn.b_O.detach()
        if include_mlp_biases and has_mlp(model):
            total += model.blocks[l].mlp.b_out.detach()
    if mlp_input:
        total += model.blocks[layer].attn.b_O.detach()
    return total


__all__ = [
    "accumulated_bias",
    "compute_head_results",
    "get_neuron_results",
    "stack_activation",
    "stack_head_results",
    "stack_neuron_results",
]
