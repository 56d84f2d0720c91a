"""What every family adapter shares: reading config fields, refusing what is not implemented,
and the weight maps from Hugging Face tensors to circuitlab's parameters.

Hugging Face's ``nn.Linear`` stores W as [out, in] (y = x W^T + b); circuitlab's weights
right-multiply, per head, as TransformerLens's do:

    W_Q, W_K, W_V [n_heads, d_model, d_head] = rearrange(W_linear, "(h e) d -> h d e")
    W_O [n_heads, d_head, d_model]           = rearrange(W_linear, "d (h e) -> h e d")
    W_in, W_gate, W_out, W_U                 = W_linear^T

A :class:`Spec` names the Hugging Face tensors one conversion reads and the parameters it fills.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from einops import rearrange

from circuitlab.errors import ConfigError
from circuitlab.typing import Tensor

Convert = Callable[..., tuple[Tensor, ...]]

# Hugging Face activation names -> circuitlab's (gelu_new: GPT-2's tanh approximation).
ACTIVATIONS = {
    "gelu": "gelu",
    "gelu_new": "gelu_new",
    "gelu_pytorch_tanh": "gelu_new",
    "relu": "relu",
    "silu": "silu",
    "swish": "silu",
}
DEFAULT_N_CTX = 2048  # longest context built by default (TransformerLens's choice for Llama-3)


@dataclass(frozen=True)
class Spec:
    """Hugging Face tensors ``sources`` -> circuitlab parameters ``targets`` via ``convert``.

    ``convert=None`` copies one tensor as it is (read straight into the parameter). Parameters no
    spec fills are biases the family does not have: they are set to 0.
    """

    sources: tuple[str, ...]
    targets: tuple[str, ...]
    convert: Convert | None = None


def same(source: str, target: str) -> Spec:
    return Spec((source,), (target,), None)


def transposed(source: str, target: str) -> Spec:
    """An nn.Linear weight [out, in] as a right-multiplying [in, out] matrix."""
    return Spec((source,), (target,), lambda W: (W.T,))


def heads_in(source: str, target: str, n_heads: int) -> Spec:
    """q/k/v_proj [n * e, d] -> [n, d, e], or its bias [n * e] -> [n, e]."""

    def convert(W: Tensor) -> tuple[Tensor]:
        pattern = "(h e) d -> h d e" if W.ndim == 2 else "(h e) -> h e"
        return (rearrange(W, pattern, h=n_heads),)

    return Spec((source,), (target,), convert)


def heads_out(source: str, target: str, n_heads: int) -> Spec:
    """o_proj [d, n * e] -> W_O [n, e, d]."""
    return Spec((source,), (target,), lambda W: (rearrange(W, "d (h e) -> h e d", h=n_heads),))


def get(hf: dict[str, Any], *names: str, default: Any = None) -> Any:
    """The first of ``names`` present (and not None) in the config, else ``default``."""
    for name in names:
        if hf.get(name) is not None:
            return hf[name]
    return default


def refuse(architecture: str, field: str, value: Any, what: str) -> ConfigError:
    return ConfigError(
        f"{architecture} config {field}={value!r}: circuitlab does not implement {what}, and will not "
        "silently ignore it; use a checkpoint without it (or transformers itself)"
    )


def check_common(hf: dict[str, Any], architecture: str) -> None:
    """Refuse by name the config fields no supported family implements here."""
    for field, value in hf.items():
        if "softcap" in field and value not in (None, 0, 0.0, False):
            raise refuse(architecture, field, value, "logit soft-capping")
    if hf.get("quantization_config"):
        raise refuse(architecture, "quantization_config", "...", "quantized weights")
    if hf.get("use_sliding_window"):
        raise refuse(architecture, "use_sliding_window", True, "sliding-window attention")
    layer_types = hf.get("layer_types") or []
    odd = sorted({t for t in layer_types if t != "full_attention"})
    if odd:
        raise refuse(architecture, "layer_types", odd, "attention other than full causal attention")
    for field in ("num_experts", "num_local_experts"):
        if hf.get(field):
            raise refuse(architecture, field, hf[field], "mixture-of-experts MLPs")


def activation(hf: dict[str, Any], field: str, architecture: str, default: str) -> str:
    name = hf.get(field) or default
    if name not in ACTIVATIONS:
        raise refuse(architecture, field, name, f"this activation (supported: {', '.join(ACTIVATIONS)})")
    return ACTIVATIONS[name]


def rope(hf: dict[str, Any], architecture: str, default_factor: float) -> tuple[float, float]:
    """(theta, partial rotary factor) from ``rope_parameters`` (transformers 5) or the older
    ``rope_theta``/``rope_scaling``/``rotary_pct``/``rotary_emb_base`` fields; scaled RoPE is refused."""
    params = hf.get("rope_parameters") or {}
    scaling = hf.get("rope_scaling") or {}
    if not isinstance(params, dict) or not isinstance(scaling, dict):
        raise refuse(architecture, "rope_parameters", params or scaling, "per-layer rotary parameters")
    for fields in (params, scaling):
        kind = fields.get("rope_type") or fields.get("type")
        if kind not in (None, "default"):
            raise refuse(
                architecture, "rope_type", kind, "scaled rotary positions (only rope_type 'default')"
            )
    theta = params.get("rope_theta") or get(hf, "rope_theta", "rotary_emb_base", default=10000.0)
    factor = params.get("partial_rotary_factor") or get(hf, "partial_rotary_factor", "rotary_pct")
    return float(theta), float(default_factor if factor is None else factor)


def rotary_dim(d_head: int, factor: float, architecture: str) -> int | None:
    """Rotated dimensions per head (None: all of them), as Hugging Face's int(d_head * factor)."""
    dim = int(d_head * factor)
    if dim < 2 or dim % 2:
        raise refuse(
            architecture, "partial_rotary_factor", factor, f"an odd rotary width ({dim} of {d_head})"
        )
    return None if dim == d_head else dim


def context(hf: dict[str, Any], field: str, n_ctx: int | None, architecture: str) -> int:
    """The context to build: ``n_ctx``, else the config's ``field`` capped at DEFAULT_N_CTX."""
    longest = int(get(hf, field, default=DEFAULT_N_CTX))
    window = hf.get("sliding_window")
    if window and hf.get("use_sliding_window", True):  # Qwen2 names the window but may not use it
        longest = min(longest, int(window))  # up to the window, sliding-window attention is causal attention
        if n_ctx is not None and n_ctx > window:
            raise refuse(
                architecture, "sliding_window", window, f"sliding-window attention (n_ctx <= {window})"
            )
    if n_ctx is None:
        return min(longest, DEFAULT_N_CTX)
    if isinstance(n_ctx, bool) or not isinstance(n_ctx, int) or n_ctx < 1:
        raise ConfigError(f"n_ctx={n_ctx!r}: must be a positive integer")
    return n_ctx


__all__ = [
    "Spec",
    "activation",
    "check_common",
    "context",
    "get",
    "heads_in",
    "heads_out",
    "refuse",
    "rope",
    "rotary_dim",
    "same",
    "transposed",
]
