"""Llama-architecture models (``LlamaForCausalLM``, ``MistralForCausalLM``, ``Qwen2ForCausalLM``;
SmolLM is a Llama): RMSNorm, rotary positions, SwiGLU MLP, grouped-query attention.

Qwen2 adds a bias to q, k and v (not o); Llama's ``attention_bias``/``mlp_bias`` add biases to
all four projections / to the MLP. Mistral's sliding window equals causal attention up to the
window's length, so the model is built with n_ctx <= sliding_window.
"""

from __future__ import annotations

from typing import Any

from circuitlab.pretrained.adapter import (
    Spec,
    activation,
    check_common,
    context,
    get,
    heads_in,
    heads_out,
    rope,
    rotary_dim,
    same,
    transposed,
)
from circuitlab.transformer import TransformerConfig

ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM")


def config(hf: dict[str, Any], n_ctx: int | None) -> TransformerConfig:
    architecture = (hf.get("architectures") or ["LlamaForCausalLM"])[0]
    check_common(hf, architecture)
    d_model, n_heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    d_head = int(get(hf, "head_dim", default=d_model // n_heads))
    n_kv = int(get(hf, "num_key_value_heads", default=n_heads))
    theta, factor = rope(hf, architecture, default_factor=1.0)
    return TransformerConfig(
        n_layers=int(hf["num_hidden_layers"]),
        d_model=d_model,
        n_heads=n_heads,
        d_head=d_head,
        d_vocab=int(hf["vocab_size"]),
        n_ctx=context(hf, "max_position_embeddings", n_ctx, architecture),
        attn_only=False,
        d_mlp=int(hf["intermediate_size"]),
        mlp="gated",
        activation=activation(hf, "hidden_act", architecture, "silu"),
        n_key_value_heads=None if n_kv == n_heads else n_kv,
        positional="rotary",
        rotary_dim=rotary_dim(d_head, factor, architecture),
        rotary_base=theta,
        normalization="rmsnorm",
        ln_eps=float(get(hf, "rms_norm_eps", default=1e-6)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
    )


def specs(cfg: TransformerConfig, hf: dict[str, Any], names: set[str]) -> list[Spec]:
    h, kv = cfg.n_heads, cfg.n_kv_heads
    grouped = "_" if cfg.n_key_value_heads is not None else ""  # GQA stores _W_K, _W_V
    out = [same("model.embed_tokens.weight", "embed.W_E"), same("model.norm.weight", "ln_final.w")]
    if not cfg.tie_embeddings:
        out.append(transposed("lm_head.weight", "unembed.W_U"))
    qwen2 = (hf.get("architectures") or [""])[0] == "Qwen2ForCausalLM"
    attn_bias, mlp_bias = bool(hf.get("attention_bias")), bool(hf.get("mlp_bias"))
    for layer in range(cfg.n_layers):
        hf_l, l = f"model.layers.{layer}.", f"blocks.{layer}."
        attn, mlp = f"{hf_l}self_attn.", f"{hf_l}mlp."
        out += [
            same(f"{hf_l}input_layernorm.weight", f"{l}ln1.w"),
            same(f"{hf_l}post_attention_layernorm.weight", f"{l}ln2.w"),
            heads_in(f"{attn}q_proj.weight", f"{l}attn.W_Q", h),
            heads_in(f"{attn}k_proj.weight", f"{l}attn.{grouped}W_K", kv),
            heads_in(f"{attn}v_proj.weight", f"{l}attn.{grouped}W_V", kv),
            heads_out(f"{attn}o_proj.weight", f"{l}attn.W_O", h),
            transposed(f"{mlp}gate_proj.weight", f"{l}mlp.W_gate"),
            transposed(f"{mlp}up_proj.weight", f"{l}mlp.W_in"),
            transposed(f"{mlp}down_proj.weight", f"{l}mlp.W_out"),
        ]
        if attn_bias or qwen2:  # Qwen2: q, k, v biases; Llama's attention_bias: o too
            out += [
                heads_in(f"{attn}q_proj.bias", f"{l}attn.b_Q", h),
                heads_in(f"{attn}k_proj.bias", f"{l}attn.{grouped}b_K", kv),
                heads_in(f"{attn}v_proj.bias", f"{l}attn.{grouped}b_V", kv),
            ]
        if attn_bias:
            out.append(same(f"{attn}o_proj.bias", f"{l}attn.b_O"))
        if mlp_bias:
            out += [
                same(f"{mlp}{n}_proj.bias", f"{l}mlp.b_{m}")
                for n, m in (("gate", "gate"), ("up", "in"), ("down", "out"))
            ]
    return out


def ignored(name: str, cfg: TransformerConfig) -> bool:
    """Rotary frequencies some checkpoints saved, and a tied lm_head."""
    return name.endswith(".rotary_emb.inv_freq") or (cfg.tie_embeddings and name == "lm_head.weight")
