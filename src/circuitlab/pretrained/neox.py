"""GPT-NeoX / Pythia (``GPTNeoXForCausalLM``): partial rotary, parallel attention + MLP, untied.

``query_key_value`` [3 d_model, d_model] is an nn.Linear whose output interleaves the heads:
for each head h its q, k and v (d_head each) lie side by side, i.e. the output axis is
(h, 3, e). Pythia rotates the first quarter of each head (``rotary_pct`` 0.25).
"""

from __future__ import annotations

from typing import Any

from einops import rearrange

from circuitlab.pretrained.adapter import (
    Spec,
    activation,
    check_common,
    context,
    heads_out,
    rope,
    rotary_dim,
    same,
    transposed,
)
from circuitlab.transformer import TransformerConfig
from circuitlab.typing import Tensor

ARCHITECTURE = "GPTNeoXForCausalLM"


def config(hf: dict[str, Any], n_ctx: int | None) -> TransformerConfig:
    check_common(hf, ARCHITECTURE)
    d_model, n_heads = int(hf["hidden_size"]), int(hf["num_attention_heads"])
    d_head = d_model // n_heads
    theta, factor = rope(hf, ARCHITECTURE, default_factor=0.25)
    return TransformerConfig(
        n_layers=int(hf["num_hidden_layers"]),
        d_model=d_model,
        n_heads=n_heads,
        d_head=d_head,
        d_vocab=int(hf["vocab_size"]),
        n_ctx=context(hf, "max_position_embeddings", n_ctx, ARCHITECTURE),
        attn_only=False,
        d_mlp=int(hf.get("intermediate_size") or 4 * d_model),
        positional="rotary",
        rotary_dim=rotary_dim(d_head, factor, ARCHITECTURE),
        rotary_base=theta,
        normalization="layernorm",
        activation=activation(hf, "hidden_act", ARCHITECTURE, "gelu"),
        ln_eps=float(hf.get("layer_norm_eps") or 1e-5),
        parallel_attn_mlp=bool(hf.get("use_parallel_residual", True)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
    )


def split_qkv(W: Tensor, n_heads: int) -> tuple[Tensor, ...]:
    """query_key_value [(h 3 e), d] -> W_Q, W_K, W_V [h, d, e]; its bias [(h 3 e)] -> [h, e] each."""
    pattern = "(h three e) d -> three h d e" if W.ndim == 2 else "(h three e) -> three h e"
    return tuple(rearrange(W, pattern, three=3, h=n_heads).unbind(0))


def specs(cfg: TransformerConfig, hf: dict[str, Any], names: set[str]) -> list[Spec]:
    h = cfg.n_heads
    out = [
        same("gpt_neox.embed_in.weight", "embed.W_E"),
        same("gpt_neox.final_layer_norm.weight", "ln_final.w"),
        same("gpt_neox.final_layer_norm.bias", "ln_final.b"),
    ]
    if not cfg.tie_embeddings:
        out.append(transposed("embed_out.weight", "unembed.W_U"))
    for layer in range(cfg.n_layers):
        hf_l, l = f"gpt_neox.layers.{layer}.", f"blocks.{layer}."
        attn = f"{hf_l}attention."
        out += [
            same(f"{hf_l}input_layernorm.weight", f"{l}ln1.w"),
            same(f"{hf_l}input_layernorm.bias", f"{l}ln1.b"),
            same(f"{hf_l}post_attention_layernorm.weight", f"{l}ln2.w"),
            same(f"{hf_l}post_attention_layernorm.bias", f"{l}ln2.b"),
            Spec(
                (f"{attn}query_key_value.weight",),
                tuple(f"{l}attn.W_{x}" for x in "QKV"),
                lambda W: split_qkv(W, h),
            ),
            heads_out(f"{attn}dense.weight", f"{l}attn.W_O", h),
            transposed(f"{hf_l}mlp.dense_h_to_4h.weight", f"{l}mlp.W_in"),
            same(f"{hf_l}mlp.dense_h_to_4h.bias", f"{l}mlp.b_in"),
            transposed(f"{hf_l}mlp.dense_4h_to_h.weight", f"{l}mlp.W_out"),
            same(f"{hf_l}mlp.dense_4h_to_h.bias", f"{l}mlp.b_out"),
        ]
        if hf.get("attention_bias", True):
            qkv_b = tuple(f"{l}attn.b_{x}" for x in "QKV")
            out += [
                Spec((f"{attn}query_key_value.bias",), qkv_b, lambda b: split_qkv(b, h)),
                same(f"{attn}dense.bias", f"{l}attn.b_O"),
            ]
    return out


def ignored(name: str, cfg: TransformerConfig) -> bool:
    """Buffers older checkpoints saved (causal mask, rotary frequencies), and a tied embed_out."""
    buffers = (".attention.bias", ".attention.masked_bias", ".rotary_emb.inv_freq")
    return name.endswith(buffers) or (cfg.tie_embeddings and name == "embed_out.weight")
