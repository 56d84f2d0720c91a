"""The residual stream as a sum of components, and direct logit attribution.

Elhage et al. (2021): every layer adds its output to the residual stream, so the final stream is

    x_L = W_E[t] (+ W_pos) + sum_l ( sum_h r^{l,h} + b_O^l  +  mlp_out^l )

with r^{l,h} = z^{l,h} W_O^{l,h} the write of head h (hooks ``attn.hook_result``). The logits are
x_L's image under LN_final and W_U; with the cached LayerNorm scale s (``ln_final.hook_scale``)
LN_final(x) = w * (x - mean(x)) / s + b is linear in x at each position, so the logit of token
t splits exactly into one term per component plus the constant b W_U[:, t] + b_U[t]:

    logit_t = sum_c  (w * (c - mean(c)) / s) . W_U[:, t]   +  (b . W_U[:, t] + b_U[t])

(for normalization="none": sum_c c . W_U[:, t] + b_U[t]). This is direct logit attribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import einsum

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import ActivationCache
from circuitlab.transformer.norm import RMSNorm
from circuitlab.typing import Float, Int, Tensor


@dataclass(frozen=True)
class ComponentStack:
    """Additive pieces of one residual-stream quantity: ``components.sum(0)`` is that quantity.

    components: [n_components, batch, pos, d_model]; labels name them ("embed", "L0H3", "L0 b_O",
    "L1 mlp", ...).
    """

    components: Float[Tensor, "n_components batch pos d_model"]
    labels: list[str]

    def total(self) -> Float[Tensor, "batch pos d_model"]:
        return self.components.sum(0)

    def __getitem__(self, label: str) -> Float[Tensor, "batch pos d_model"]:
        if label not in self.labels:
            raise KeyError(f"no component {label!r}; components are {self.labels}")
        return self.components[self.labels.index(label)]


@dataclass(frozen=True)
class ResidStack:
    """The residual stream at successive points (each entry the running total, not a piece).

    resid: [n_points, batch, pos, d_model]; labels "0_pre", "0_mid", ..., "final".
    """

    resid: Float[Tensor, "n_points batch pos d_model"]
    labels: list[str]


@dataclass(frozen=True)
class LogitAttribution:
    """Direct logit attribution: ``attrs.sum(0) == logits`` (exactly, up to float rounding).

    attrs: [n_components, batch, pos] contribution of each component to the logit of the answer
    token (minus the ``against`` token's, when given); labels as in ``ComponentStack`` plus
    "bias" for b_U (and LN_final's b).
    """

    attrs: Float[Tensor, "n_components batch pos"]
    labels: list[str]
    logits: Float[Tensor, "batch pos"]

    def __getitem__(self, label: str) -> Float[Tensor, "batch pos"]:
        if label not in self.labels:
            raise KeyError(f"no component {label!r}; components are {self.labels}")
        return self.attrs[self.labels.index(label)]


def _model(cache: ActivationCache):
    if getattr(cache, "model", None) is None:
        raise ConfigError("this ActivationCache has no model; make it with model.run_with_cache(tokens)")
    return cache.model


def _layer_range(model, layer: int | None, allow_final: bool) -> int:
    L = model.cfg.n_layers
    top = L if allow_final else L - 1
    if layer is None:
        return L
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= top:
        raise ConfigError(f"layer {layer!r} out of range [0, {top}] for a {L}-layer model")
    return layer


def head_results(cache: ActivationCache, layer: int) -> Float[Tensor, "batch pos n_heads d_model"]:
    """r^{l,h} = z^{l,h} W_O^{l,h}: the cached ``hook_result``, or computed from ``hook_z``."""
    name = f"blocks.{layer}.attn.hook_result"
    if name in cache:
        return cache[name]
    W_O = _model(cache).blocks[layer].attn.W_O.detach()
    return einsum(cache["z", layer], W_O, "b p h e, h e d -> b p h d")


def stack_head_results(
    cache: ActivationCache, layer: int | None = None, include_bias: bool = True
) -> ComponentStack:
    """Per-head writes of one layer (or every layer, ``layer=None``), plus b_O as its own component.

    Labels "L{l}H{h}" and, with ``include_bias``, "L{l} b_O" after each layer's heads: the
    components of layer l then sum exactly to ``blocks.{l}.hook_attn_out`` (heads are independent
    and additive; b_O belongs to no head).
    """
    model = _model(cache)
    layers = range(model.cfg.n_layers) if layer is None else [_layer_range(model, layer, False)]
    parts, labels = [], []
    for l in layers:
        r = head_results(cache, l)
        parts.extend(r.unbind(-2))
        labels.extend(f"L{l}H{h}" for h in range(r.shape[-2]))
        if include_bias:
            parts.append(model.blocks[l].attn.b_O.detach().expand_as(r[..., 0, :]))
            labels.append(f"L{l} b_O")
    return ComponentStack(torch.stack(parts), labels)


def _positions_in_stream(model) -> bool:
    return model.cfg.positional in ("sinusoidal", "learned")


def decompose_resid(
    cache: ActivationCache, layer: int | None = None, split_heads: bool = False
) -> ComponentStack:
    """The components whose sum is the residual stream entering ``layer`` (None: the final stream).

    "embed", "pos_embed" (sinusoidal / learned positions only: shortformer positions never enter
    the stream), then per earlier layer "L{l} attn" (or its heads and "L{l} b_O" with
    ``split_heads``) and "L{l} mlp".
    """
    model = _model(cache)
    upto = _layer_range(model, layer, True)
    parts, labels = [cache["hook_embed"]], ["embed"]
    if _positions_in_stream(model):
        parts.append(cache["hook_pos_embed"])
        labels.append("pos_embed")
    for l in range(upto):
        if split_heads:
            heads = stack_head_results(cache, l)
            parts.extend(heads.components.unbind(0))
            labels.extend(heads.labels)
        else:
            parts.append(cache["attn_out", l])
            labels.append(f"L{l} attn")
        if model.cfg.has_mlp:
            parts.append(cache["mlp_out", l])
            labels.append(f"L{l} mlp")
    return ComponentStack(torch.stack(parts), labels)


def accumulated_resid(cache: ActivationCache, layer: int | None = None, incl_mid: bool = False) -> ResidStack:
    """resid_pre of layers 0..layer (layer = n_layers or None: through the final stream).

    With ``incl_mid`` the stream between attention and MLP (``hook_resid_mid``) of each layer
    before ``layer`` is included too. A 0-layer model's stream is embed (+ pos_embed).
    """
    model = _model(cache)
    upto = _layer_range(model, layer, True)
    L = model.cfg.n_layers
    points, labels = [], []
    for l in range(upto + 1):
        if l < L:
            points.append(cache["resid_pre", l])
        elif L > 0:
            points.append(cache["resid_post", L - 1])
        else:
            points.append(decompose_resid(cache).total())
        labels.append(f"{l}_pre" if l < L else "final")
        if incl_mid and model.cfg.has_mlp and l < upto:
            points.append(cache["resid_mid", l])
            labels.append(f"{l}_mid")
    return ResidStack(torch.stack(points), labels)


def logit_attrs(
    cache: ActivationCache,
    tokens: Int[Tensor, "batch pos"],
    against: Int[Tensor, "batch pos"] | None = None,
    components: ComponentStack | None = None,
) -> LogitAttribution:
    """Direct logit attribution of the final residual stream to the logit of ``tokens``.

    ``tokens[b, p]`` is the answer at each position (e.g. the next token); with ``against`` the
    logit difference answer - against is attributed. ``components`` defaults to
    ``decompose_resid(cache, split_heads=True)``; pass your own stack of the final stream to
    group differently (they must sum to the final stream for ``attrs`` to sum to the logits).
    For a LayerNorm model the cache must hold ``ln_final.hook_scale``.
    """
    model = _model(cache)
    comps = components if components is not None else decompose_resid(cache, split_heads=True)
    x = comps.components
    if not isinstance(tokens, Tensor) or tokens.shape != x.shape[1:3] or tokens.is_floating_point():
        got = tuple(tokens.shape) if isinstance(tokens, Tensor) else type(tokens).__name__
        raise ShapeError(
            f"logit_attrs tokens: expected int ids of shape {tuple(x.shape[1:3])} [batch, pos], got {got}"
        )
    W_U, b_U = model.W_U.detach(), model.b_U.detach()
    direction = W_U.T[tokens]  # [b, p, d_model]
    bias = b_U[tokens]
    if against is not None:
        if not isinstance(against, Tensor) or against.shape != tokens.shape:
            raise ShapeError(f"logit_attrs against: expected shape {tuple(tokens.shape)} like tokens")
        direction = direction - W_U.T[against]
        bias = bias - b_U[against]
    ln = model.ln_final
    if hasattr(ln, "w"):
        scale = cache["ln_final.hook_scale"]  # [b, p, 1]
        centred = x if isinstance(ln, RMSNorm) else x - x.mean(-1, keepdim=True)  # RMSNorm does not centre
        x = centred / scale * ln.w.detach()
        if getattr(ln, "b", None) is not None:
            bias = bias + einsum(ln.b.detach(), direction, "d, b p d -> b p")
    attrs = einsum(x, direction, "c b p d, b p d -> c b p")
    attrs = torch.cat([attrs, bias[None]])
    return LogitAttribution(attrs, [*comps.labels, "bias"], attrs.sum(0))


__all__ = [
    "ComponentStack",
    "LogitAttribution",
    "ResidStack",
    "accumulated_resid",
    "decompose_resid",
    "head_results",
    "logit_attrs",
    "stack_head_results",
]
