# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. The transformer from its parts
#
# This notebook follows the seed's transformer paragraphs, the ones between "Features of VAEs" and
# "## Mechanistic Interpretability Framework": *"Each word in the input sequence is converted into a vector of
# size N_dim and then placed on top of each other into an embedding matrix"*, *"Each position in the input
# sequence is represented using a combination of various sine and cosine functions"*, *"For an input vector x,
# the Layer Normalization is computed as x̂ᵢ = (xᵢ − μ) / √(σ² + ε)"*, *"This residual addition..."* and
# *"The output of the decoder block ... is passed through a linear layer, of dimension N_dim × N_v"*.
#
# You will see each part of `circuitlab.Transformer` computed from its equation and checked (with an assert)
# against the model's own activations and against PyTorch's building blocks: the embedding against
# `torch.nn.Embedding`, the sinusoidal positions against the formula, LayerNorm against `torch.nn.LayerNorm`,
# attention against `torch.nn.MultiheadAttention`, the MLP against `nn.Linear` + `nn.GELU`, the residual
# stream as a sum of everything written into it, and the unembedding against `nn.Linear`. At the end the same
# model is rebuilt from torch modules alone and gives the same logits. Nothing is trained, so there is no fast
# switch.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

import circuitlab as cl
from circuitlab.transformer.embed import sinusoidal_table

torch.manual_seed(0)
cfg = cl.TransformerConfig(
    n_layers=2,
    d_model=64,
    n_heads=4,
    d_head=16,
    d_vocab=100,
    n_ctx=32,
    attn_only=False,  # attention and an MLP in every block
    positional="sinusoidal",
    normalization="layernorm",
    init_range=0.1,
    seed=0,
)
model = cl.Transformer(cfg).eval()
# Random biases and LayerNorm gains, so every check below is made with them (they start at 0 and 1).
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.split(".")[-1].startswith("b") or name.endswith(".w"):
            p.add_(torch.randn(p.shape) * 0.1)
tokens = torch.randint(0, cfg.d_vocab, (2, 12))  # [batch, pos]
logits, cache = model.run_with_cache(tokens)
print("tokens", tuple(tokens.shape), "-> logits", tuple(logits.shape))
print("cached activations:", ", ".join(list(cache.keys())[:8]), "...")

# %% [markdown]
# ## The token embedding
#
# Each token id picks a row of `W_E [d_vocab, d_model]`: `x_0 = W_E[t]`. Stacking the rows for the `N_l`
# tokens of a sequence gives the seed's `N_l x N_dim` embedding matrix. Equivalently it is a one-hot vector
# times `W_E`, and it is what `torch.nn.Embedding` computes.

# %%
embedded = model.W_E[tokens]
torch_embedding = nn.Embedding.from_pretrained(model.W_E.detach())
one_hot = F.one_hot(tokens, cfg.d_vocab).float() @ model.W_E
print("embedding of sequence 0:", tuple(embedded[0].shape), "(N_l x N_dim)")
assert torch.equal(embedded, cache["hook_embed"])
assert torch.equal(torch_embedding(tokens), cache["hook_embed"])
assert torch.allclose(one_hot, embedded, atol=1e-6)

# %% [markdown]
# ## Sinusoidal positions
#
# Vaswani et al. (2017):
#
# `PE(p, 2i) = sin(p / 10000^(2i / d_model))`,  `PE(p, 2i + 1) = cos(p / 10000^(2i / d_model))`.
#
# Each sin/cos pair of dimensions oscillates at its own frequency. The table is fixed, not learned, and is
# added to the token embedding.

# %%
p = np.arange(cfg.n_ctx)[:, None]
two_i = np.arange(0, cfg.d_model, 2)[None, :]
formula = np.empty((cfg.n_ctx, cfg.d_model))
formula[:, 0::2] = np.sin(p / 10000 ** (two_i / cfg.d_model))
formula[:, 1::2] = np.cos(p / 10000 ** (two_i / cfg.d_model))
table = model.W_pos.detach()
print("max |W_pos - formula| =", np.abs(table.double().numpy() - formula).max())
assert np.abs(table.double().numpy() - formula).max() < 1e-6
assert torch.equal(table, sinusoidal_table(cfg.n_ctx, cfg.d_model))
assert torch.equal(cache["hook_pos_embed"][0], table[: tokens.shape[1]])
assert torch.allclose(cache["blocks.0.hook_resid_pre"], embedded + table[: tokens.shape[1]])

fig, ax = plt.subplots(figsize=(7, 3))
im = ax.imshow(table.T, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
ax.set(xlabel="position p", ylabel="dimension", title="sinusoidal positional encoding")
fig.colorbar(im, ax=ax)
plt.show()

# %% [markdown]
# Why sines and cosines: moving `k` positions turns every (sin, cos) pair by a fixed angle, so the dot product
# of two encodings depends only on their distance, `PE(p) . PE(p + k) = sum_i cos(w_i k)`, whatever `p` is.
# A layer that compares positions with dot products (attention) can therefore read relative offsets.

# %%
for k in (1, 3, 7):
    dots = (table[:-k] * table[k:]).sum(-1)  # PE(p) . PE(p + k) for every p
    freqs = 1 / 10000 ** (torch.arange(0, cfg.d_model, 2) / cfg.d_model)
    print(f"k={k}: PE(p).PE(p+k) = {dots[0]:.4f} for all p (spread {dots.max() - dots.min():.1e})")
    assert torch.allclose(dots, torch.cos(freqs * k).sum().expand_as(dots), atol=1e-4)

# %% [markdown]
# ## LayerNorm
#
# The seed's formula `x̂ᵢ = (xᵢ − μ) / √(σ² + ε)` over the `d_model` entries of each vector (μ the mean, σ²
# the biased variance), then a learned gain and bias: `LN(x) = w * x̂ + b`. Every block reads the residual
# stream through one (`ln1` before attention, `ln2` before the MLP). Below, the formula step by step on the
# stream that block 0's attention reads, against the cached `x̂`, `torch.nn.LayerNorm` and the model's own
# `ln1`.

# %%
x = cache["blocks.0.hook_resid_pre"]
ln1 = model.blocks[0].ln1
mu = x.mean(-1, keepdim=True)
var = ((x - mu) ** 2).mean(-1, keepdim=True)
x_hat = (x - mu) / torch.sqrt(var + cfg.ln_eps)
torch_ln = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
torch_ln.load_state_dict({"weight": ln1.w, "bias": ln1.b})
print(
    "each x_hat: max |mean| =",
    x_hat.mean(-1).abs().max().item(),
    " max |var - 1| =",
    (x_hat.var(-1, unbiased=False) - 1).abs().max().item(),
)
assert torch.allclose(x_hat, cache["blocks.0.ln1.hook_normalized"], atol=1e-5)
assert torch.allclose(ln1.w * x_hat + ln1.b, torch_ln(x), atol=1e-5)
assert torch.allclose(torch_ln(x), ln1(x), atol=1e-5)
assert x_hat.mean(-1).abs().max() < 1e-5 and (x_hat.var(-1, unbiased=False) - 1).abs().max() < 1e-3

# %% [markdown]
# ## Attention
#
# For each head `h`: `q = x W_Q^h + b_Q^h` (likewise `k`, `v`),
# `A^h = softmax(q k^T / sqrt(d_head) + causal mask)`, `z^h = A^h v`, and the head writes `z^h W_O^h` into the
# stream; `attn_out = sum_h z^h W_O^h + b_O`.
# circuitlab stores `W_Q, W_K, W_V: [n_heads, d_model, d_head]` and `W_O: [n_heads, d_head, d_model]`
# (TransformerLens's layout). `torch.nn.MultiheadAttention` computes the same thing with the heads
# concatenated: `in_proj_weight` is `[W_Q | W_K | W_V]` transposed to `[3 d_model, d_model]`, `out_proj` is
# `W_O` flattened over `(head, d_head)`.

# %%
attn = model.blocks[0].attn
x_ln = ln1(x)
n = tokens.shape[1]
q = torch.einsum("bpd,hde->bphe", x_ln, attn.W_Q) + attn.b_Q
k = torch.einsum("bpd,hde->bphe", x_ln, attn.W_K) + attn.b_K
v = torch.einsum("bpd,hde->bphe", x_ln, attn.W_V) + attn.b_V
scores = torch.einsum("bqhe,bkhe->bhqk", q, k) / cfg.d_head**0.5
scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), float("-inf"))
pattern = scores.softmax(-1)
z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
attn_out = torch.einsum("bqhe,hed->bqd", z, attn.W_O) + attn.b_O


def torch_attention(attn, d_model: int) -> nn.MultiheadAttention:
    """nn.MultiheadAttention holding circuitlab's W_Q, W_K, W_V, W_O and biases."""
    mha = nn.MultiheadAttention(d_model, attn.n_heads, batch_first=True)
    weights = [rearrange(W, "h d e -> (h e) d") for W in (attn.W_Q, attn.W_K, attn.W_V)]
    mha.load_state_dict(
        {
            "in_proj_weight": torch.cat(weights),
            "in_proj_bias": torch.cat([attn.b_Q.flatten(), attn.b_K.flatten(), attn.b_V.flatten()]),
            "out_proj.weight": rearrange(attn.W_O, "h e d -> d (h e)"),
            "out_proj.bias": attn.b_O,
        }
    )
    return mha


mha = torch_attention(attn, cfg.d_model)
causal = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)  # True: may not attend
torch_out, _ = mha(x_ln, x_ln, x_ln, attn_mask=causal, need_weights=False)
print("max |attn_out - nn.MultiheadAttention| =", (attn_out - torch_out).abs().max().item())
assert torch.allclose(pattern, cache["blocks.0.attn.hook_pattern"], atol=1e-6)
assert torch.allclose(attn_out, cache["blocks.0.hook_attn_out"], atol=1e-5)
assert torch.allclose(torch_out, cache["blocks.0.hook_attn_out"], atol=1e-5)

fig, axes = plt.subplots(1, cfg.n_heads, figsize=(10, 2.6))
for h, ax in enumerate(axes):
    ax.imshow(pattern[0, h].detach(), cmap="Blues", vmin=0)
    ax.set(title=f"head 0.{h}", xlabel="key", ylabel="query" if h == 0 else None)
fig.suptitle("attention patterns of layer 0 (causal: nothing above the diagonal)")
plt.show()

# %% [markdown]
# ## The MLP
#
# `MLP(x) = gelu(x W_in + b_in) W_out + b_out`, applied to each position separately: `nn.Linear`, `nn.GELU`,
# `nn.Linear`, with the weights transposed (torch's `nn.Linear` stores `[d_out, d_in]`).

# %%
block = model.blocks[0]
resid_mid = cache["blocks.0.hook_resid_mid"]
torch_mlp = nn.Sequential(
    nn.Linear(cfg.d_model, cfg.d_mlp_resolved), nn.GELU(), nn.Linear(cfg.d_mlp_resolved, cfg.d_model)
)
torch_mlp.load_state_dict(
    {
        "0.weight": block.mlp.W_in.T,
        "0.bias": block.mlp.b_in,
        "2.weight": block.mlp.W_out.T,
        "2.bias": block.mlp.b_out,
    }
)
mlp_out = F.gelu(block.ln2(resid_mid) @ block.mlp.W_in + block.mlp.b_in) @ block.mlp.W_out + block.mlp.b_out
assert torch.allclose(mlp_out, cache["blocks.0.hook_mlp_out"], atol=1e-5)
assert torch.allclose(torch_mlp(block.ln2(resid_mid)), cache["blocks.0.hook_mlp_out"], atol=1e-5)

# %% [markdown]
# ## The residual stream
#
# Each block reads the stream and *adds* its output back:
# `resid_mid = resid_pre + Attn(LN1(resid_pre))`, `resid_post = resid_mid + MLP(LN2(resid_mid))`.
# Nothing is ever overwritten, so the final stream is the sum of everything written into it: the token
# embedding, the positions, and every attention and MLP output. That sum is the picture the Mathematical
# Framework (next notebook) builds on.

# %%
for layer in range(cfg.n_layers):
    pre, mid, post = (cache[f"blocks.{layer}.hook_{s}"] for s in ("resid_pre", "resid_mid", "resid_post"))
    assert torch.allclose(mid, pre + cache[f"blocks.{layer}.hook_attn_out"], atol=1e-6)
    assert torch.allclose(post, mid + cache[f"blocks.{layer}.hook_mlp_out"], atol=1e-6)
    if layer + 1 < cfg.n_layers:
        assert torch.equal(post, cache[f"blocks.{layer + 1}.hook_resid_pre"])

writes = {"embed": cache["hook_embed"], "pos_embed": cache["hook_pos_embed"]}
for layer in range(cfg.n_layers):
    writes[f"attn {layer}"] = cache[f"blocks.{layer}.hook_attn_out"]
    writes[f"mlp {layer}"] = cache[f"blocks.{layer}.hook_mlp_out"]
final = cache[f"blocks.{cfg.n_layers - 1}.hook_resid_post"]
print("max |resid_final - sum of all writes| =", (final - sum(writes.values())).abs().max().item())
assert torch.allclose(final, sum(writes.values()), atol=1e-5)

plt.figure(figsize=(6, 2.8))
plt.bar(list(writes), [w.norm(dim=-1).mean().item() for w in writes.values()])
plt.ylabel("mean ||write|| per position")
plt.title("what each component adds to the residual stream")
plt.show()

# %% [markdown]
# ## The unembedding
#
# The final stream goes through one last LayerNorm and the seed's `N_dim x N_v` linear layer,
# `logits = LN_final(resid) W_U + b_U`: one score per vocabulary item, at every position. Training minimises
# the cross-entropy of each position's logits against the *next* token.

# %%
unembed = nn.Linear(cfg.d_model, cfg.d_vocab)
unembed.load_state_dict({"weight": model.W_U.T, "bias": model.b_U})
by_hand = model.ln_final(final) @ model.W_U + model.b_U
assert torch.allclose(by_hand, logits, atol=1e-5)
assert torch.allclose(unembed(model.ln_final(final)), logits, atol=1e-5)
loss = F.cross_entropy(logits[:, :-1].reshape(-1, cfg.d_vocab), tokens[:, 1:].reshape(-1))
model_loss = model(tokens, return_type="loss")
print(f"next-token loss {loss:.4f}, the model's {model_loss:.4f}; a uniform guess: {np.log(cfg.d_vocab):.4f}")
assert torch.allclose(loss, model_loss, atol=1e-5)

# %% [markdown]
# ## The whole model from torch's building blocks
#
# Put the parts together: `nn.Embedding`, the sinusoidal table, and per block `nn.LayerNorm`,
# `nn.MultiheadAttention`, `nn.LayerNorm` and the `nn.Sequential` MLP on a residual stream, then
# `nn.LayerNorm` and `nn.Linear`. Loaded with circuitlab's weights it gives circuitlab's logits.


# %%
class TorchBlock(nn.Module):
    def __init__(self, block, cfg: cl.TransformerConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = (
            nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps),
            nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps),
        )
        self.ln1.load_state_dict({"weight": block.ln1.w, "bias": block.ln1.b})
        self.ln2.load_state_dict({"weight": block.ln2.w, "bias": block.ln2.b})
        self.attn = torch_attention(block.attn, cfg.d_model)
        d, m = cfg.d_model, cfg.d_mlp_resolved
        self.mlp = nn.Sequential(nn.Linear(d, m), nn.GELU(), nn.Linear(m, d))
        W = {"0.weight": block.mlp.W_in.T, "0.bias": block.mlp.b_in}
        self.mlp.load_state_dict(W | {"2.weight": block.mlp.W_out.T, "2.bias": block.mlp.b_out})

    def forward(self, resid: torch.Tensor) -> torch.Tensor:
        n = resid.shape[1]
        x = self.ln1(resid)
        mask = torch.triu(torch.ones(n, n, dtype=torch.bool), 1)
        resid = resid + self.attn(x, x, x, attn_mask=mask, need_weights=False)[0]
        return resid + self.mlp(self.ln2(resid))


class TorchTransformer(nn.Module):
    def __init__(self, model: cl.Transformer) -> None:
        super().__init__()
        cfg = model.cfg
        self.embed = nn.Embedding.from_pretrained(model.W_E.detach().clone())
        self.register_buffer("pos", sinusoidal_table(cfg.n_ctx, cfg.d_model))
        self.blocks = nn.ModuleList(TorchBlock(b, cfg) for b in model.blocks)
        self.ln_final = nn.LayerNorm(cfg.d_model, eps=cfg.ln_eps)
        self.ln_final.load_state_dict({"weight": model.ln_final.w, "bias": model.ln_final.b})
        self.unembed = nn.Linear(cfg.d_model, cfg.d_vocab)
        self.unembed.load_state_dict({"weight": model.W_U.T, "bias": model.b_U})

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        resid = self.embed(tokens) + self.pos[: tokens.shape[1]]
        for block in self.blocks:
            resid = block(resid)
        return self.unembed(self.ln_final(resid))


with torch.no_grad():
    torch_logits = TorchTransformer(model).eval()(tokens)
print("max |circuitlab logits - torch-built logits| =", (torch_logits - logits).abs().max().item())
assert torch.allclose(torch_logits, logits, atol=1e-4)

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** The model is *causal*: position `i` may only read positions `<= i`. Change the last token of
# each sequence and check that the logits at every earlier position stay exactly as they were, while the last
# position's change.

# %% tags=["solution"] jupyter={"source_hidden": true}
changed = tokens.clone()
changed[:, -1] = (changed[:, -1] + 1) % cfg.d_vocab
with torch.no_grad():
    before, after = model(tokens), model(changed)
print("max change at positions 0..n-2:", (after[:, :-1] - before[:, :-1]).abs().max().item())
print("max change at the last position:", (after[:, -1] - before[:, -1]).abs().max().item())
assert torch.allclose(after[:, :-1], before[:, :-1], atol=1e-6)
assert (after[:, -1] - before[:, -1]).abs().max() > 1e-3

# %% [markdown]
# **Exercise 2.** Llama-family models replace LayerNorm by RMSNorm, `w * x / sqrt(mean_i x_i^2 + eps)`: no
# centring, no bias. Write it from its formula and check it against `torch.nn.RMSNorm` and against the `ln1`
# of a circuitlab model built with `normalization="rmsnorm"` (its `eps` is `cfg.ln_eps`), on `resid_pre` from
# above and a random gain.

# %% tags=["solution"] jupyter={"source_hidden": true}
rms_model = cl.Transformer(cfg.replace(normalization="rmsnorm"))
rms = rms_model.blocks[0].ln1
with torch.no_grad():
    rms.w.copy_(torch.rand(cfg.d_model) + 0.5)
    mine = rms.w * x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + cfg.ln_eps)
    reference = nn.RMSNorm(cfg.d_model, eps=cfg.ln_eps)
    reference.weight.copy_(rms.w)
    assert torch.allclose(mine, reference(x), atol=1e-5)
    assert torch.allclose(mine, rms(x), atol=1e-5)
print("RMSNorm from its formula = torch.nn.RMSNorm = circuitlab's rmsnorm")

# %% [markdown]
# **Exercise 3.** Learned positions (`positional="learned"`, as GPT-2) make `W_pos` a parameter that training
# changes; the sinusoidal table is a fixed buffer. Build the same model with learned positions and check that
# it has exactly `n_ctx * d_model` more trainable parameters, and that the sinusoidal model's table is in its
# `state_dict` but not among its parameters.

# %% tags=["solution"] jupyter={"source_hidden": true}
learned = cl.Transformer(cfg.replace(positional="learned"))
count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
print(f"parameters: sinusoidal {count(model)}, learned {count(learned)}")
assert count(learned) - count(model) == cfg.n_ctx * cfg.d_model
assert "pos_embed.W_pos" in model.state_dict()
assert "pos_embed.W_pos" not in dict(model.named_parameters())
assert "pos_embed.W_pos" in dict(learned.named_parameters())
