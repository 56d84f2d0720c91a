"""The residual stream entering a layer as every head's, every neuron's and every bias's piece.

``ActivationCache.get_full_resid_decomposition`` with TransformerLens 3.9's arguments, order
and labels: heads "L{l}H{h}", then neurons "L{l}N{n}" (or MLP layers "{l}_mlp_out" without
``expand_neurons``), "embed", "pos_embed" (when cached) and "bias" (the b_O and b_out of the
layers before, ``components.accumulated_bias``). For an MLP model the pieces sum to the stream;
for an attention-only model there are no MLP biases to count (TransformerLens raises there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from circuitlab.hooks.components import accumulated_bias, stack_head_results, stack_neuron_results
from circuitlab.hooks.resid import apply_ln_to_stack, decompose_resid, final_layer, has_mlp
from circuitlab.hooks.slice import Slice


def get_full_resid_decomposition(
    cache: Any,
    layer: int | None = None,
    mlp_input: bool = False,
    expand_neurons: bool = True,
    apply_ln: bool = False,
    pos_slice: Any = None,
    return_labels: bool = False,
    project_output_onto: Tensor | None = None,
) -> Tensor | tuple[Tensor, list[str]]:
    """[n_pieces, *batch_and_pos, d_model] (or the projection's width; squeezed for a [d_model]
    projection). ``apply_ln`` treats each piece as input to ``layer``'s norm (ln2 with
    ``mlp_input``); with a projection it is applied before projecting."""
    model = cache._model()
    layer = final_layer(model, layer)
    pos_slice = Slice.of(pos_slice)
    project = project_output_onto
    squeeze = project is not None and project.ndim == 1
    if squeeze:
        project = project[:, None]
    folded = apply_ln and project is not None

    def finish(stack: Tensor) -> Tensor:
        """A piece as the caller asked: normalised then projected (folded), or projected."""
        if folded:
            stack = apply_ln_to_stack(cache, stack, layer, mlp_input, pos_slice)
        return stack if project is None else stack @ project

    heads, labels = stack_head_results(cache, layer + int(mlp_input), pos_slice=pos_slice, return_labels=True)
    pieces = [finish(heads)]
    if has_mlp(model) and layer > 0:
        pieces.append(
            _mlp_pieces(cache, layer, mlp_input, expand_neurons, pos_slice, project, folded, labels, finish)
        )
    for name in ("embed", "pos_embed"):
        if f"hook_{name}" in cache.cache_dict:
            pieces.append(finish(pos_slice.apply(cache[name], -2)[None]))
            labels.append(name)
    bias = accumulated_bias(model, layer, mlp_input, include_mlp_biases=expand_neurons)
    if folded:
        bias = finish(bias.expand(1, *heads.shape[1:-1], model.cfg.d_model))
    else:
        bias = bias if project is None else bias @ project
        bias = bias.expand(1, *pieces[0].shape[1:])
    pieces.append(bias)
    labels.append("bias")
    stack = torch.cat(pieces)
    if apply_ln and not folded:
        stack = apply_ln_to_stack(cache, stack, layer, mlp_input, pos_slice)
    stack = stack.squeeze(-1) if squeeze else stack
    return (stack, labels) if return_labels else stack


def _mlp_pieces(
    cache: Any,
    layer: int,
    mlp_input: bool,
    expand_neurons: bool,
    pos_slice: Slice,
    project: Tensor | None,
    folded: bool,
    labels: list[str],
    finish: Callable[[Tensor], Tensor],
) -> Tensor:
    """Every neuron's result (``expand_neurons``) or every MLP layer's output; extends ``labels``."""
    if expand_neurons:
        neurons, names = stack_neuron_results(
            cache,
            layer,
            pos_slice=pos_slice,
            return_labels=True,
            apply_ln=folded,
            project_output_onto=project,
        )
        labels.extend(names)
        return neurons
    mlps, names = decompose_resid(
        cache,
        layer,
        mlp_input=mlp_input,
        pos_slice=pos_slice,
        incl_embeds=False,
        mode="mlp",
        return_labels=True,
    )
    labels.extend(names)
    return finish(mlps)


__all__ = ["get_full_resid_decomposition"]
