"""GPT-2 (``GPT2LMHeadModel``): learned positions, LayerNorm, gelu_new MLP, tied unembedding.

Hugging Face's GPT-2 keeps OpenAI's ``Conv1D`` layers, whose weights already right-multiply
(y = x W + b, W [in, out]): ``c_attn`` [d_model, 3 d_model] holds [W_Q | W_K | W_V] with heads
contiguous inside each, ``c_proj`` [d_model, d_model] is W_O over the concatenated heads.
"""

from __future__ import annotations

from typing import Any

from einops import rearrange

from circuitlab.errors import ConfigError
from circuitlab.pretrained.adapter import Spec, activation, check_common, get, refuse, same
from circuitlab.transformer import TransformerConfig
from circuitlab.typing import Tensor

ARCHITECTURE = "GPT2LMHeadModel"


def config(hf: dict[str, Any], n_ctx: int | None) -> TransformerConfig:
    check_common(hf, ARCHITECTURE)
    for field, plain, what in (
        ("scale_attn_by_inverse_layer_idx", False, "per-layer attention scaling"),
        ("scale_attn_weights", True, "unscaled attention scores"),
        ("add_cross_attention", False, "cross-attention"),
    ):
        if hf.get(field, plain) != plain:
            raise refuse(ARCHITECTURE, field, hf[field], what)
    d_model, n_heads = int(hf["n_embd"]), int(hf["n_head"])
    n_positions = int(get(hf, "n_positions", "n_ctx", default=1024))
    if n_ctx is not None and n_ctx > n_positions:
        raise ConfigError(f"n_ctx={n_ctx}: GPT-2 has learned positions for {n_positions} tokens at most")
    return TransformerConfig(
        n_layers=int(hf["n_layer"]),
        d_model=d_model,
        n_heads=n_heads,
        d_head=d_model // n_heads,
        d_vocab=int(hf["vocab_size"]),
        n_ctx=n_ctx or n_positions,
        attn_only=False,
        d_mlp=int(get(hf, "n_inner", default=4 * d_model)),
        positional="learned",
        normalization="layernorm",
        activation=activation(hf, "activation_function", ARCHITECTURE, "gelu_new"),
        ln_eps=float(get(hf, "layer_norm_epsilon", default=1e-5)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)),
    )


def split_qkv(W: Tensor, n_heads: int) -> tuple[Tensor, ...]:
    """c_attn [d, 3 (h e)] -> W_Q, W_K, W_V [h, d, e]; its bias [3 (h e)] -> b_Q, b_K, b_V [h, e]."""
    pattern = "d (three h e) -> three h d e" if W.ndim == 2 else "(three h e) -> three h e"
    return tuple(rearrange(W, pattern, three=3, h=n_heads).unbind(0))


def specs(cfg: TransformerConfig, hf: dict[str, Any], names: set[str]) -> list[Spec]:
    p = "transformer." if "transformer.wte.weight" in names else ""  # OpenAI's upload has no prefix
    h, n = cfg.n_heads, cfg.n_ctx
    out = [
        same(f"{p}wte.weight", "embed.W_E"),
        Spec((f"{p}wpe.weight",), ("pos_embed.W_pos",), lambda W: (W[:n],)),
        same(f"{p}ln_f.weight", "ln_final.w"),
        same(f"{p}ln_f.bias", "ln_final.b"),
    ]
    if not cfg.tie_embeddings:
        out.append(Spec(("lm_head.weight",), ("unembed.W_U",), lambda W: (W.T,)))
    for layer in range(cfg.n_layers):
        hf_l, l = f"{p}h.{layer}.", f"blocks.{layer}."
        qkv = tuple(f"{l}attn.W_{x}" for x in "QKV")
        out += [
            same(f"{hf_l}ln_1.weight", f"{l}ln1.w"),
            same(f"{hf_l}ln_1.bias", f"{l}ln1.b"),
            Spec((f"{hf_l}attn.c_attn.weight",), qkv, lambda W: split_qkv(W, h)),
            Spec(
                (f"{hf_l}attn.c_attn.bias",),
                tuple(f"{l}attn.b_{x}" for x in "QKV"),
                lambda b: split_qkv(b, h),
            ),
            Spec(
                (f"{hf_l}attn.c_proj.weight",),
                (f"{l}attn.W_O",),
                lambda W: (rearrange(W, "(h e) d -> h e d", h=h),),
            ),
            same(f"{hf_l}attn.c_proj.bias", f"{l}attn.b_O"),
            same(f"{hf_l}ln_2.weight", f"{l}ln2.w"),
            same(f"{hf_l}ln_2.bias", f"{l}ln2.b"),
            same(f"{hf_l}mlp.c_fc.weight", f"{l}mlp.W_in"),
            same(f"{hf_l}mlp.c_fc.bias", f"{l}mlp.b_in"),
            same(f"{hf_l}mlp.c_proj.weight", f"{l}mlp.W_out"),
            same(f"{hf_l}mlp.c_proj.bias", f"{l}mlp.b_out"),
        ]
    return out


def ignored(name: str, cfg: TransformerConfig) -> bool:
    """Tensors with no parameter behind them: the causal-mask buffers, a tied lm_head."""
    return name.endswith((".attn.bias", ".attn.masked_bias")) or (
        cfg.tie_embeddings and name == "lm_head.weight"
    )
