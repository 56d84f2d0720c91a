"""The residual stream read back from an ActivationCache, as TransformerLens 3.9's cache does.

Each function is an ``ActivationCache`` method (its first argument is the cache) with
TransformerLens's arguments, results and labels. The stream entering layer l is

    resid_pre^l = embed (+ pos_embed) + sum_{l' < l} (attn_out^{l'} + mlp_out^{l'})

``accumulated_resid`` stacks the stream itself at successive points ("0_pre", "0_mid", ...,
"final_post"); ``decompose_resid`` stacks the pieces of the sum ("embed", "pos_embed",
"0_attn_out", "0_mlp_out", ...). With shortformer positions ``pos_embed`` is cached but never
enters the stream; it is listed all the same, as TransformerLens lists it. ``apply_ln_to_stack``
divides each piece by the cached LayerNorm scale of the layer it enters (after centring it, for
LayerNorm), so the pieces of LN(x) stay additive; ``logit_attrs`` dots those with W_U's columns.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks.slice import Slice

MODES = ("all", "mlp", "attn")


def final_layer(model: Any, layer: int | None) -> int:
    """TransformerLens's layer convention: None or -1 mean n_layers (the unembed's input)."""
    return model.cfg.n_layers if layer is None or layer == -1 else layer


def norm_kind(model: Any) -> str | None:
    """ "LN" (centre, then scale), "RMS" (scale only) or None (no normalization)."""
    return {"layernorm": "LN", "rmsnorm": "RMS"}.get(getattr(model.cfg, "normalization", None))


def has_mlp(model: Any) -> bool:
    return not model.cfg.attn_only


def accumulated_resid(
    cache: Any,
    layer: int | None = None,
    incl_mid: bool = False,
    apply_ln: bool = False,
    pos_slice: Any = None,
    mlp_input: bool = False,
    return_labels: bool = False,
) -> Tensor | tuple[Tensor, list[str]]:
    """resid_pre of layers 0..layer-1 and the stream entering ``layer`` (the final resid_post for
    layer None/-1/n_layers): [n_points, *batch_and_pos, d_model], labels "{l}_pre", "{l}_mid"
    (``incl_mid``; ``mlp_input`` adds layer's own resid_mid), "final_post". ``apply_ln`` applies
    ln_final to each point with its own statistics for the final layer (logit lens), else the
    cached scale of the layer."""
    model = cache._model()
    pos_slice, L = Slice.of(pos_slice), model.cfg.n_layers
    layer = final_layer(model, layer)
    points, labels = [], []
    for l in range(layer + 1):
        if l == L:
            points.append(cache["resid_post", L - 1])
            labels.append("final_post")
            continue
        points.append(cache["resid_pre", l])
        labels.append(f"{l}_pre")
        if (incl_mid and l < layer) or (mlp_input and l == layer):
            points.append(cache["resid_mid", l])
            labels.append(f"{l}_mid")
    stack = torch.stack([pos_slice.apply(p, dim=-2) for p in points])
    if apply_ln:
        stack = apply_ln_to_stack(
            cache,
            stack,
            layer,
            mlp_input,
            pos_slice,
            has_batch_dim=cache.has_batch_dim,
            recompute_ln=layer == L,
        )
    return (stack, labels) if return_labels else stack


def decompose_resid(
    cache: Any,
    layer: int | None = None,
    mlp_input: bool = False,
    mode: str = "all",
    apply_ln: bool = False,
    pos_slice: Any = None,
    incl_embeds: bool = True,
    return_labels: bool = False,
) -> Tensor | tuple[Tensor, list[str]]:
    """The pieces of the stream entering ``layer``: "embed", "pos_embed" (when cached), then
    "{l}_attn_out" and "{l}_mlp_out" of each earlier layer (``mode`` "attn"/"mlp" keeps one kind;
    ``mlp_input`` adds layer's own attn_out): [n_pieces, *batch_and_pos, d_model]."""
    if mode not in MODES:
        raise ConfigError(f"decompose_resid mode={mode!r}: choose one of {', '.join(MODES)}")
    model = cache._model()
    pos_slice, layer = Slice.of(pos_slice), final_layer(model, layer)
    want_attn, want_mlp = mode != "mlp", mode != "attn" and has_mlp(model)
    pieces, labels = [], []
    if incl_embeds:
        for name in ("embed", "pos_embed"):
            if f"hook_{name}" in cache.cache_dict:
                pieces.append(cache[f"hook_{name}"])
                labels.append(name)
    for l in range(layer):
        for kind, wanted in (("attn_out", want_attn), ("mlp_out", want_mlp)):
            if wanted:
                pieces.append(cache[kind, l])
                labels.append(f"{l}_{kind}")
    if mlp_input and want_attn:
        pieces.append(cache["attn_out", layer])
        labels.append(f"{layer}_attn_out")
    stack = torch.stack([pos_slice.apply(p, dim=-2) for p in pieces])
    if apply_ln:
        stack = apply_ln_to_stack(cache, stack, layer, mlp_input, pos_slice)
    return (stack, labels) if return_labels else stack


def cached_ln_scale(
    cache: Any, layer: int | None, mlp_input: bool, pos_slice: Slice, batch_slice: Slice | None = None
) -> Tensor:
    """The cached LayerNorm scale of the norm before ``layer``'s attention (ln1), its MLP (ln2,
    ``mlp_input``) or the unembed (ln_final, layer None or n_layers)."""
    model = cache._model()
    if layer is None or layer == model.cfg.n_layers:
        name = "ln_final.hook_scale"
    else:
        name = f"blocks.{layer}.ln{2 if mlp_input else 1}.hook_scale"
    scale = pos_slice.apply(cache[name], dim=-2)
    if batch_slice is not None and cache.has_batch_dim:
        scale = batch_slice.apply(scale)
    return scale


def apply_ln_to_stack(
    cache: Any,
    residual_stack: Tensor,
    layer: int | None = None,
    mlp_input: bool = False,
    pos_slice: Any = None,
    batch_slice: Any = None,
    has_batch_dim: bool = True,
    recompute_ln: bool = False,
) -> Tensor:
    """Each piece of ``residual_stack`` [n, *batch_and_pos, d_model] as it enters ``layer``'s norm:
    (x - mean(x)) / s for LayerNorm, x / s for RMSNorm (s the cached scale; ``pos_slice`` is
    applied to s, ``batch_slice`` to the stack and s), unchanged without normalization. With
    ``recompute_ln`` and the final layer, ln_final itself (w and b too) with each piece's own
    statistics."""
    model = cache._model()
    kind = norm_kind(model)
    if kind is None:
        return residual_stack
    pos_slice, batch_slice = Slice.of(pos_slice), Slice.of(batch_slice)
    layer = final_layer(model, layer)
    if has_batch_dim:
        residual_stack = batch_slice.apply(residual_stack, dim=1)
    if recompute_ln and layer == model.cfg.n_layers:
        return torch.stack([_ln_final(model, piece, has_batch_dim) for piece in residual_stack])
    if kind == "LN":
        residual_stack = residual_stack - residual_stack.mean(-1, keepdim=True)
    return residual_stack / cached_ln_scale(cache, layer, mlp_input, pos_slice, batch_slice)


def _ln_final(model: Any, x: Tensor, has_batch_dim: bool) -> Tensor:
    """ln_final of one piece, given as [batch, pos, d_model] whatever axes it lost."""
    shape = x.shape
    if not has_batch_dim:
        x = x[None]
    if x.ndim == 2:
        x = x[:, None]
    return model.ln_final(x).reshape(shape)


def residual_directions(model: Any, tokens: Any) -> Tensor:
    """W_U's column of each token: [d_model] for one token, [..., d_model] for a tensor of them."""
    if isinstance(tokens, str):
        raise ConfigError(
            f"logit_attrs got the string {tokens!r}: circuitlab models take token ids; tokenize it "
            "first and pass the id"
        )
    if isinstance(tokens, Tensor) and tokens.numel() > 1:
        return model.W_U[:, tokens].movedim(0, -1)
    if isinstance(tokens, Tensor) and tokens.numel() == 1:
        tokens = int(tokens.item())
    if isinstance(tokens, bool) or not isinstance(tokens, int):
        raise ShapeError(f"tokens must be an int, or a tensor of token ids, got {type(tokens).__name__}")
    return model.W_U[:, tokens]


def logit_attrs(
    cache: Any,
    residual_stack: Tensor,
    tokens: Any,
    incorrect_tokens: Any = None,
    pos_slice: Any = None,
    batch_slice: Any = None,
    has_batch_dim: bool = True,
) -> Tensor:
    """Each piece's direct contribution to the logit of ``tokens`` (minus ``incorrect_tokens``'s):
    apply_ln_to_stack(pieces, final layer) . W_U[:, token], summed over d_model."""
    model = cache._model()
    directions = residual_directions(model, tokens)
    if incorrect_tokens is not None:
        shape = torch.as_tensor(tokens).shape
        if torch.as_tensor(incorrect_tokens).shape != shape:
            raise ShapeError(
                f"incorrect_tokens has shape {tuple(torch.as_tensor(incorrect_tokens).shape)}, tokens "
                f"{tuple(shape)}: give one incorrect token per token"
            )
        directions = directions - residual_directions(model, incorrect_tokens)
    scaled = apply_ln_to_stack(
        cache, residual_stack, -1, pos_slice=pos_slice, batch_slice=batch_slice, has_batch_dim=has_batch_dim
    )
    return (scaled * directions).sum(-1)


__all__ = ["accumulated_resid", "apply_ln_to_stack", "decompose_resid", "logit_attrs"]
