"""The pretrained families' components, each against transformers' own module of the same weights.

RMSNorm, rotary positions (full and partial, GPT-NeoX's rotate-half layout), gated MLPs (SwiGLU,
GeGLU), grouped-query attention with Qwen2's q/k/v bias, GPT-NeoX's parallel block and LayerNorm
without bias: each agrees with the reference to 1e-5 in float32.
"""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from circuitlab.transformer import Transformer, TransformerConfig
from circuitlab.transformer.block import TransformerBlock
from circuitlab.transformer.gqa import GroupedQueryAttention, make_attention
from circuitlab.transformer.mlp import GatedMLP, make_mlp
from circuitlab.transformer.norm import LayerNorm, RMSNorm
from circuitlab.transformer.rotary import Rotary

transformers = pytest.importorskip("transformers")
from transformers.models.gpt_neox import modeling_gpt_neox as neox  # noqa: E402
from transformers.models.llama import modeling_llama as llama  # noqa: E402
from transformers.models.qwen2 import modeling_qwen2 as qwen2  # noqa: E402

TOL = dict(atol=1e-5, rtol=1e-5)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def randomize_(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter drawn N(0, 0.3^2) (gains around 1), so no term hides behind a zero."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=gen) + (1.0 if name.endswith("w") else 0.0))
    return module


def heads_in(linear: torch.nn.Linear, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """nn.Linear [n * e, d] (and bias) as right-multiplying head stacks [n, d, e], [n, e]."""
    W = rearrange(linear.weight.detach(), "(h e) d -> h d e", h=n)
    b = torch.zeros(W.shape[0], W.shape[2]) if linear.bias is None else linear.bias.detach().view(n, -1)
    return W, b


def causal(n: int) -> torch.Tensor:
    return torch.full((n, n), float("-inf")).triu(1)[None, None]


def llama_config(**changes):
    base = dict(
        hidden_size=24,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=6,
        intermediate_size=20,
        rms_norm_eps=1e-6,
        vocab_size=30,
        max_position_embeddings=16,
    )
    cfg = llama.LlamaConfig(**(base | changes))
    cfg._attn_implementation = "eager"
    return cfg


def test_rmsnorm_matches_llama_rmsnorm_and_its_hooks_see_the_scale() -> None:
    ref = randomize_(llama.LlamaRMSNorm(24, eps=1e-6), seed=1)
    ours = RMSNorm(24, eps=1e-6)
    with torch.no_grad():
        ours.w.copy_(ref.weight)
    x = 3 * randn(2, 5, 24) + 1
    torch.testing.assert_close(ours(x), ref(x), **TOL)
    seen = {}
    ours.hook_scale.fwd_fns.append(lambda a, h: seen.__setitem__("scale", a))
    torch.testing.assert_close(ours(x), ref(x), **TOL)  # the hooked (explicit) path
    torch.testing.assert_close(seen["scale"], (x.pow(2).mean(-1, keepdim=True) + 1e-6).sqrt(), **TOL)


def test_layernorm_without_bias_has_no_b_and_matches_torch() -> None:
    ref = torch.nn.LayerNorm(24, eps=1e-5, bias=False)
    randomize_(ref, seed=2)
    ours = LayerNorm(24, eps=1e-5, bias=False)
    with torch.no_grad():
        ours.w.copy_(ref.weight)
    x = 2 * randn(2, 5, 24) - 1
    assert "b" not in dict(ours.named_parameters())
    torch.testing.assert_close(ours(x), ref(x), **TOL)
    torch.testing.assert_close(ours.explicit(x), ref(x), **TOL)


@pytest.mark.parametrize("factor", [1.0, 0.5, 0.25], ids=["full", "half", "quarter"])
@pytest.mark.parametrize("theta", [10000.0, 500.0], ids=["theta1e4", "theta500"])
def test_rotary_matches_gpt_neox_rotate_half(factor: float, theta: float) -> None:
    d_head, n = 16, 12
    cfg = neox.GPTNeoXConfig(
        hidden_size=32,
        num_attention_heads=2,
        rope_parameters={"rope_type": "default", "rope_theta": theta, "partial_rotary_factor": factor},
    )
    q, k = randn(2, n, 3, d_head, seed=3), randn(2, n, 3, d_head, seed=4)
    cos, sin = neox.GPTNeoXRotaryEmbedding(cfg)(q, torch.arange(n)[None])
    q_ref, k_ref = neox.apply_rotary_pos_emb(q, k, cos, sin, unsqueeze_dim=2)
    rot = Rotary(int(d_head * factor), base=theta)
    torch.testing.assert_close(rot(q), q_ref, **TOL)
    torch.testing.assert_close(rot(k), k_ref, **TOL)
    if factor < 1:  # the unrotated dimensions pass through
        assert torch.equal(rot(q)[..., int(d_head * factor) :], q[..., int(d_head * factor) :])


def test_rotary_scores_depend_only_on_relative_position() -> None:
    rot = Rotary(8)
    q, k = randn(1, 1, 1, 8, seed=5).expand(1, 10, 1, 8), randn(1, 1, 1, 8, seed=6).expand(1, 10, 1, 8)
    scores = torch.einsum("bqhe,bkhe->qk", rot(q), rot(k))
    torch.testing.assert_close(scores[5, 2], scores[8, 5], **TOL)


@pytest.mark.parametrize(
    "hidden_act, activation", [("silu", "silu"), ("gelu_pytorch_tanh", "gelu_new"), ("gelu", "gelu")]
)
def test_gated_mlp_matches_llama_mlp(hidden_act: str, activation: str) -> None:
    ref = randomize_(llama.LlamaMLP(llama_config(hidden_act=hidden_act, mlp_bias=True)), seed=7)
    cfg = TransformerConfig(d_model=24, n_heads=4, d_head=6, attn_only=False, d_mlp=20, mlp="gated")
    ours = make_mlp(cfg.replace(activation=activation))
    assert isinstance(ours, GatedMLP)
    with torch.no_grad():
        for mine, theirs in (("gate", ref.gate_proj), ("in", ref.up_proj), ("out", ref.down_proj)):
            getattr(ours, f"W_{mine}").copy_(theirs.weight.T)
            getattr(ours, f"b_{mine}").copy_(theirs.bias)
    x = randn(2, 5, 24, seed=8)
    torch.testing.assert_close(ours(x), ref(x), **TOL)


def load_attention(ours, ref, n_heads: int, n_kv: int) -> None:
    with torch.no_grad():
        ours.W_Q.copy_(heads_in(ref.q_proj, n_heads)[0])
        ours.b_Q.copy_(heads_in(ref.q_proj, n_heads)[1])
        grouped = isinstance(ours, GroupedQueryAttention)
        for name, lin in (("K", ref.k_proj), ("V", ref.v_proj)):
            W, b = heads_in(lin, n_kv)
            getattr(ours, f"_W_{name}" if grouped else f"W_{name}").copy_(W)
            getattr(ours, f"_b_{name}" if grouped else f"b_{name}").copy_(b)
        ours.W_O.copy_(rearrange(ref.o_proj.weight, "d (h e) -> h e d", h=n_heads))
        if ref.o_proj.bias is not None:
            ours.b_O.copy_(ref.o_proj.bias)


@pytest.mark.parametrize("family", ["llama-gqa2", "llama-mha", "qwen2-bias"])
@pytest.mark.parametrize("path", ["sdpa", "explicit"])
def test_grouped_query_attention_with_rotary_matches_transformers(family: str, path: str) -> None:
    n_kv = 4 if family == "llama-mha" else 2
    hf_cfg = llama_config(
        num_key_value_heads=n_kv, rope_parameters={"rope_type": "default", "rope_theta": 300.0}
    )
    if family == "qwen2-bias":
        hf_cfg = qwen2.Qwen2Config(**hf_cfg.to_dict())
        hf_cfg._attn_implementation = "eager"
        ref = randomize_(qwen2.Qwen2Attention(hf_cfg, layer_idx=0), seed=9)
        assert ref.q_proj.bias is not None and ref.o_proj.bias is None
    else:
        ref = randomize_(llama.LlamaAttention(hf_cfg, layer_idx=0), seed=9)
    cfg = TransformerConfig(
        d_model=24,
        n_heads=4,
        d_head=6,
        n_ctx=16,
        positional="rotary",
        rotary_base=300.0,
        n_key_value_heads=n_kv,
    )
    ours = make_attention(cfg)
    assert isinstance(ours, GroupedQueryAttention) == (n_kv == 2)
    load_attention(ours, ref, 4, n_kv)
    x = randn(2, 7, 24, seed=10)
    cos, sin = llama.LlamaRotaryEmbedding(hf_cfg)(x, torch.arange(7)[None])
    want = ref(x, (cos, sin), causal(7))[0]
    if path == "explicit":
        ours.hook_pattern.fwd_fns.append(lambda a, h: None)
    torch.testing.assert_close(ours(x), want, **TOL)


def test_grouped_heads_read_repeated_per_query_head_and_hooks_see_groups() -> None:
    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=4, d_head=4, d_vocab=20, n_ctx=8, n_key_value_heads=2
    )
    model = Transformer(cfg)
    attn = model.blocks[0].attn
    assert attn._W_K.shape == (2, 16, 4) and model.W_K.shape == (2, 4, 16, 4)
    torch.testing.assert_close(model.W_K[0, 1], attn._W_K[0])  # query heads 0, 1 share key head 0
    torch.testing.assert_close(model.W_V[1, 2], model.blocks[1].attn._W_V[1])
    assert model.QK.AB.shape == (2, 4, 16, 16) and model.OV.AB.shape == (2, 4, 16, 16)
    _, cache = model.run_with_cache(torch.arange(8)[None] % 20, names_filter=lambda n: ".attn.hook_" in n)
    assert cache["blocks.0.attn.hook_k"].shape == (1, 8, 2, 4)
    assert cache["blocks.0.attn.hook_q"].shape == (1, 8, 4, 4)
    assert cache["blocks.0.attn.hook_pattern"].shape == (1, 4, 8, 8)


@pytest.mark.parametrize("changes", [{}, {"n_key_value_heads": 2}], ids=["mha", "gqa"])
def test_rotary_model_fast_path_equals_explicit_path_outputs_and_gradients(changes) -> None:
    cfg = TransformerConfig(
        n_layers=2,
        d_model=16,
        n_heads=4,
        d_head=4,
        d_vocab=20,
        n_ctx=8,
        positional="rotary",
        rotary_dim=2,
        attn_only=False,
        mlp="gated",
        activation="silu",
        normalization="rmsnorm",
        **changes,
    )
    model = Transformer(cfg)
    toks = torch.arange(16).view(2, 8) % 20
    fast = model(toks)
    (g_fast,) = torch.autograd.grad(fast.pow(2).sum(), model.blocks[0].attn.W_Q)
    with model.hooks([(lambda name: name.endswith("hook_pattern"), lambda a, h: None)]):
        slow = model(toks)
        (g_slow,) = torch.autograd.grad(slow.pow(2).sum(), model.blocks[0].attn.W_Q)
    torch.testing.assert_close(fast, slow, **TOL)
    torch.testing.assert_close(g_fast, g_slow, **TOL)
    assert "pos_embed.W_pos" not in model.state_dict()


def test_parallel_block_matches_gpt_neox_layer() -> None:
    hf_cfg = neox.GPTNeoXConfig(
        hidden_size=24,
        num_attention_heads=3,
        intermediate_size=40,
        use_parallel_residual=True,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25},
        hidden_act="gelu",
        max_position_embeddings=16,
    )
    hf_cfg._attn_implementation = "eager"
    ref = randomize_(neox.GPTNeoXLayer(hf_cfg, layer_idx=0), seed=11)
    cfg = TransformerConfig(
        d_model=24,
        n_heads=3,
        d_head=8,
        n_ctx=16,
        attn_only=False,
        d_mlp=40,
        positional="rotary",
        rotary_dim=2,
        parallel_attn_mlp=True,
    )
    ours = TransformerBlock(cfg)
    with torch.no_grad():
        for mine, theirs in ((ours.ln1, ref.input_layernorm), (ours.ln2, ref.post_attention_layernorm)):
            mine.w.copy_(theirs.weight), mine.b.copy_(theirs.bias)
        qkv = rearrange(ref.attention.query_key_value.weight, "(h three e) d -> three h d e", h=3, three=3)
        qkv_b = rearrange(ref.attention.query_key_value.bias, "(h three e) -> three h e", h=3, three=3)
        for i, name in enumerate("QKV"):
            getattr(ours.attn, f"W_{name}").copy_(qkv[i]), getattr(ours.attn, f"b_{name}").copy_(qkv_b[i])
        ours.attn.W_O.copy_(rearrange(ref.attention.dense.weight, "d (h e) -> h e d", h=3))
        ours.attn.b_O.copy_(ref.attention.dense.bias)
        ours.mlp.W_in.copy_(ref.mlp.dense_h_to_4h.weight.T), ours.mlp.b_in.copy_(ref.mlp.dense_h_to_4h.bias)
        ours.mlp.W_out.copy_(ref.mlp.dense_4h_to_h.weight.T), ours.mlp.b_out.copy_(ref.mlp.dense_4h_to_h.bias)
    x = randn(2, 6, 24, seed=12)
    rope = neox.GPTNeoXRotaryEmbedding(hf_cfg)(x, torch.arange(6)[None])
    torch.testing.assert_close(ours(x), ref(x, causal(6), position_embeddings=rope), **TOL)
