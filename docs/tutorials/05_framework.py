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
# # 5. A Mathematical Framework for Transformer Circuits, checked line by line
#
# This notebook follows the seed's section **"## Mechanistic Interpretability Framework"** and its "Important
# Concepts": "#### Residual Stream", "#### Virtual Weights" and "#### Attention Circuits" (Elhage et al. 2021,
# "A Mathematical Framework for Transformer Circuits"). You will see, each with an assert:
#
# 1. **no privileged basis**: rotate the residual stream (every weight that writes to it and every weight that
#    reads it) and the outputs do not change, although every coordinate of the stream does, unless LayerNorm
#    is there;
# 2. **virtual weights**: `W_O^{0,h} W_V^{1,h'}`, the weight by which a later head reads an earlier head's
#    write, rebuilds layer 1's values exactly;
# 3. **QK and OV circuits**: `W_QK = W_Q W_K^T` gives the attention scores and `W_OV = W_V W_O` what a head
#    writes, both low-rank `FactoredMatrix` objects, and only the products matter (`W_V M, M^-1 W_O` changes
#    nothing);
# 4. **additive heads**: the heads' writes sum to the attention output;
# 5. **composition scores against the random baseline**: random heads score about the baseline, a head wired
#    to read another's output stands out.
#
# Everything runs on the small random transformers that `circuitlab reproduce` checks these claims on
# (`circuitlab.experiments.structure.models.small_model`: 2 layers, d_model 32, 4 heads of 8, float64,
# non-zero biases). Nothing is trained, so there is no fast switch; notebook 6 finds composition in a trained
# model.

# %%
import matplotlib.pyplot as plt
import torch

import circuitlab as cl
from circuitlab.experiments.structure.models import TOL, max_diff, random_tokens, small_model

SEED = 0
torch.manual_seed(SEED)
model = small_model(SEED, normalization="none", n_layers=2)  # LayerNorm-free: the stream is purely linear
tokens = random_tokens(model, SEED)  # [4, 24]
cfg = model.cfg
print(
    f"{cfg.n_layers} layers, d_model {cfg.d_model}, {cfg.n_heads} heads of {cfg.d_head}, {cfg.d_vocab} tokens"
)
print("tolerance for 'unchanged' in float64:", TOL)

# %% [markdown]
# ## The residual stream has no privileged basis
#
# Every component reads the stream through a linear map and writes to it by addition. So if the stream is
# expressed in another orthonormal basis, `x -> x R`, and every writer is changed to `W R` (`W_E`, `W_pos`,
# `W_O`, `b_O`) and every reader to `R^T W` (`W_Q`, `W_K`, `W_V`, `W_U`), then `(x R)(R^T W) = x W`: each
# reader sees exactly what it saw before. `circuitlab.circuits.rotate_residual` does that surgery in place.

# %%
logits, cache = model.run_with_cache(tokens)
R = cl.circuits.rotate_residual(
    model, torch.Generator().manual_seed(SEED + 2)
)  # a random orthogonal [32, 32]
rotated_logits, rotated_cache = model.run_with_cache(tokens)
resid, rotated_resid = cache["blocks.1.hook_resid_pre"], rotated_cache["blocks.1.hook_resid_pre"]
print("max change of a residual-stream coordinate:", max_diff(resid, rotated_resid))
print("max |resid R - rotated resid|:             ", max_diff(resid @ R, rotated_resid))
print("max change of a logit:                     ", max_diff(logits, rotated_logits))
assert max_diff(resid, rotated_resid) > 0.1  # every coordinate changed ...
assert max_diff(resid @ R, rotated_resid) < TOL  # ... because the stream is rotated ...
assert max_diff(logits, rotated_logits) < TOL  # ... and nothing the model computes changed

# %% [markdown]
# LayerNorm breaks the symmetry: it subtracts the mean of the coordinates and multiplies each coordinate by
# its own gain `w_i`, both of which depend on the basis. The claim `no_privileged_basis` measures the same two
# models:

# %%
ln_model = small_model(SEED, normalization="layernorm", n_layers=2)
for ln in (ln_model.blocks[0].ln1, ln_model.blocks[1].ln1, ln_model.ln_final):
    torch.nn.init.normal_(ln.w, 1.0, 0.3, generator=torch.Generator().manual_seed(3))  # a non-uniform gain
before = ln_model(tokens)
cl.circuits.rotate_residual(ln_model, torch.Generator().manual_seed(SEED + 2))
change = max_diff(before, ln_model(tokens))
print(f"with LayerNorm, max logit change after the rotation: {change:.3f}")
assert change > 1e-2

# %% [markdown]
# ## Virtual weights
#
# Because the stream is linear, whatever head `(0, h)` writes, `r^{0,h} = z^{0,h} W_O^{0,h}`, reaches head
# `(1, h')`'s value through the product `W_O^{0,h} W_V^{1,h'}` `[d_head, d_head]`: a *virtual weight* between
# two components that never touch directly. `circuitlab.circuits.virtual_weights(model, writer, reader)`
# returns it as a `FactoredMatrix`. Layer 1's values are then the embedding path plus one virtual-weight term
# per layer-0 head:
#
# `v^{1,h'} = (resid_pre^0 + b_O^0) W_V^{1,h'} + b_V^{1,h'} + sum_h z^{0,h} (W_O^{0,h} W_V^{1,h'})`

# %%
model = small_model(SEED, normalization="none", n_layers=2)  # a fresh, unrotated copy
_, cache = model.run_with_cache(tokens)
attn0, attn1 = model.blocks[0].attn, model.blocks[1].attn
H = cfg.n_heads
virtual = torch.stack(
    [
        torch.stack([cl.circuits.virtual_weights(model, f"L0H{h}", f"L1H{g}.v").AB for g in range(H)])
        for h in range(H)
    ]
)  # [h0, h1, d_head, d_head]
assert torch.allclose(virtual[1, 2], attn0.W_O[1] @ attn1.W_V[2])
z0 = cache["blocks.0.attn.hook_z"]  # [batch, pos, head, d_head]
embedding_path = (
    torch.einsum("bpd,gdf->bpgf", cache["blocks.0.hook_resid_pre"] + attn0.b_O, attn1.W_V) + attn1.b_V
)
values = embedding_path + torch.einsum("bphe,hgef->bpgf", z0, virtual)
print("max |v^1 rebuilt from virtual weights - v^1|:", max_diff(values, cache["blocks.1.attn.hook_v"]))
assert max_diff(values, cache["blocks.1.attn.hook_v"]) < TOL

plt.figure(figsize=(4, 3.4))
plt.imshow(virtual.flatten(2).norm(dim=-1).detach(), cmap="viridis")
plt.colorbar(label="||W_O^{0,h} W_V^{1,h'}||_F")
plt.xlabel("layer-1 head h' (value)")
plt.ylabel("layer-0 head h")
plt.xticks(range(H))
plt.yticks(range(H))
plt.title("virtual weights, layer 0 -> layer 1")
plt.show()

# %% [markdown]
# The same idea connects any writer to any reader. The direct path from the embedding to the unembedding,
# `W_E W_U`, is a `[d_vocab, d_vocab]` table: it is the whole of a zero-layer transformer, a bigram model (the
# seed's "Zero layer Transformers: They emulate bigram statistics"; notebook 6 trains one).

# %%
direct = cl.circuits.virtual_weights(model, "embed", "unembed")
print("embed -> unembed:", direct)
assert direct.shape == (cfg.d_vocab, cfg.d_vocab)
assert torch.allclose(direct.AB, model.W_E @ model.W_U)

# %% [markdown]
# ## QK and OV circuits
#
# A head does two separate things (the seed's "Attention Circuits", point 1): **where to look**, set by
# `W_QK = W_Q W_K^T` through the scores `x_q W_QK x_k^T / sqrt(d_head)`, and **what to move**, set by
# `W_OV = W_V W_O`: the head writes `A (x W_OV)`. `model.QK` and `model.OV` hold them for every head as
# `FactoredMatrix [n_layers, n_heads, d_model, d_model]`, kept as their two factors: each is `32 x 32` but has
# rank `d_head = 8`.
#
# The score formula has no bias terms, so we check it on a copy of the model with its biases set to zero.

# %%
plain = small_model(SEED, normalization="none", n_layers=2)
with torch.no_grad():
    for name, p in plain.named_parameters():
        if name.split(".")[-1].startswith("b_"):
            p.zero_()
plain.set_use_attn_result(True)  # cache each head's write r^h = z^h W_O^h
_, pc = plain.run_with_cache(tokens)
x = pc["blocks.0.hook_resid_pre"]  # what layer 0 reads (no LayerNorm)
n = tokens.shape[1]
causal = torch.tril(torch.ones(n, n, dtype=torch.bool))
print("model.QK:", plain.QK)
for h in range(H):
    # x W_QK x^T stays factored (x W_Q)(W_K^T x^T) until .AB asks for the [batch, pos, pos] scores
    scores = (x @ plain.QK[0, h] @ x.transpose(-1, -2)).AB / cfg.d_head**0.5
    assert max_diff(scores[:, causal], pc["blocks.0.attn.hook_attn_scores"][:, h][:, causal]) < TOL
    write = pc["blocks.0.attn.hook_pattern"][:, h] @ (x @ plain.OV[0, h]).AB
    assert max_diff(write, pc["blocks.0.attn.hook_result"][:, :, h]) < TOL
S = plain.OV[0, 0].S
print(
    "singular values of W_OV^{0,0}:",
    [round(s, 3) for s in S.tolist()],
    f"({len(S)} = d_head, the rest are 0)",
)
assert len(S) == cfg.d_head and torch.linalg.matrix_rank(plain.OV[0, 0].AB) == cfg.d_head
print("scores from W_QK and writes from W_OV match the model's attention, for every head of layer 0")

# %% [markdown]
# Only the products matter. Replacing `W_V, W_O` by `W_V M, M^-1 W_O` and `W_Q, W_K` by `W_Q N, W_K N^-T`, for
# any invertible `M, N`, changes every weight and no output: "the W_OV can be factorized in any way" (the
# seed, point 3). `circuitlab.circuits.refactor_heads` does it to every head.

# %%
before_logits, before_OV, before_QK, before_W_V = plain(tokens), plain.OV.AB, plain.QK.AB, plain.W_V.clone()
cl.circuits.refactor_heads(plain, torch.Generator().manual_seed(SEED + 1))
print("max change of W_V:", max_diff(plain.W_V, before_W_V))
print(
    "max change of W_OV, W_QK, logits:",
    max_diff(plain.OV.AB, before_OV),
    max_diff(plain.QK.AB, before_QK),
    max_diff(plain(tokens), before_logits),
)
assert max_diff(plain.W_V, before_W_V) > 0.1
assert max(max_diff(plain.OV.AB, before_OV), max_diff(plain.QK.AB, before_QK)) < TOL
assert max_diff(plain(tokens), before_logits) < TOL

# %% [markdown]
# ## Heads are independent and additive
#
# `attn_out = sum_h r^h + b_O`: each head computes its write on its own and the writes are summed into the
# stream (the seed's "The attention heads are independent and additive"). Summing the per-head writes that
# `set_use_attn_result(True)` caches gives the attention output of the fused fast path.

# %%
model.set_use_attn_result(True)
_, cache = model.run_with_cache(tokens)
for layer in range(cfg.n_layers):
    heads = cache[f"blocks.{layer}.attn.hook_result"]  # [batch, pos, head, d_model]
    summed = heads.sum(-2) + model.blocks[layer].attn.b_O
    error = max_diff(summed, cache[f"blocks.{layer}.hook_attn_out"])
    print(f"layer {layer}: max |sum_h r^h + b_O - attn_out| = {error:.1e}")
    assert error < TOL
model.set_use_attn_result(False)

share = cache["blocks.1.attn.hook_result"].norm(dim=-1).mean((0, 1)).detach()
plt.figure(figsize=(4, 2.6))
plt.bar([f"1.{h}" for h in range(H)], share)
plt.ylabel("mean ||r^h||")
plt.title("what each layer-1 head writes")
plt.show()

# %% [markdown]
# ## Composition scores against the random baseline
#
# A layer-1 head *composes* with a layer-0 head when it reads what that head wrote, through its query
# (Q-composition), key (K-composition) or value (V-composition). Elhage et al. measure it with
#
# `score = ||W_A W_B||_F / (||W_A||_F ||W_B||_F)`, `W_A = W_OV^{0,h}`, `W_B = W_QK^{1,h'}` (Q),
# `(W_QK^{1,h'})^T` (K) or `W_OV^{1,h'}` (V).
#
# Even unrelated random matrices score above zero, so a score means something only against the score of random
# matrices of the same shapes: `circuitlab.circuits.composition_baseline`. In this random model every pair
# sits near the baseline.

# %%
model = small_model(SEED, normalization="none", n_layers=2)
comp = {mode: cl.circuits.composition_scores(model, mode)[0, :, 1, :] for mode in "QKV"}  # [h0, h1]
baseline = {mode: cl.circuits.composition_baseline(model, mode) for mode in "QKV"}
W_A, W_B = model.OV[0, 1].AB, model.QK[1, 2].AB
by_hand = (W_A @ W_B.T).norm() / (W_A.norm() * W_B.norm())
print(f"K-composition 0.1 -> 1.2: library {comp['K'][1, 2]:.4f}, dense by hand {by_hand:.4f}")
assert abs(comp["K"][1, 2] - by_hand) < 1e-10
for mode in "QKV":
    print(
        f"{mode}: scores {comp[mode].min():.3f}..{comp[mode].max():.3f}, random baseline {baseline[mode]:.3f}"
    )
    assert (comp[mode] - baseline[mode]).abs().max() < 0.1

# %% [markdown]
# Now wire a K-composition by hand: set head 1.2's key weight to read exactly the subspace head 0.1 writes,
# `W_K^{1,2} = (W_O^{0,1})^T`. Its key now reads what 0.1 wrote, and the K-composition score of that one pair
# leaps above the baseline while its Q- and V-composition, and every other pair, stay where they were. This is
# the signature of the induction circuit that notebook 6 finds in a trained model (a previous-token head in
# layer 0, an induction head in layer 1 that K-composes with it).

# %%
with torch.no_grad():
    model.blocks[1].attn.W_K[2].copy_(model.blocks[0].attn.W_O[1].T)
wired = {mode: cl.circuits.composition_scores(model, mode)[0, :, 1, :] for mode in "QKV"}
k_before, k_after = comp["K"][1, 2], wired["K"][1, 2]
print(f"K-composition 0.1 -> 1.2: {k_before:.3f}, wired {k_after:.3f}; random baseline {baseline['K']:.3f}")
others = torch.ones(H, H, dtype=torch.bool)
others[:, 2] = False  # head 1.2's K-column is the only one that may change
assert wired["K"][1, 2] > 2 * baseline["K"]
assert torch.equal(wired["K"][others], comp["K"][others])
assert torch.equal(wired["V"], comp["V"])

fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
vmax = float(max(w.max() for w in wired.values()))
for ax, mode in zip(axes, "QKV", strict=True):
    im = ax.imshow(wired[mode], cmap="magma", vmin=0, vmax=vmax)
    ax.set(title=f"{mode}-composition", xlabel="layer-1 head", ylabel="layer-0 head")
    ax.set(xticks=range(H), yticks=range(H))
bar = fig.colorbar(im, ax=axes, label="composition score")
bar.ax.axhline(baseline["K"], color="cyan", lw=2)
fig.suptitle(f"layer 0 -> layer 1 composition; random baseline {baseline['K']:.3f} (cyan line)")
plt.show()

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** The residual stream has no privileged basis, but an MLP's hidden layer does: the activation
# acts on each neuron separately. In a LayerNorm-free model *with* MLPs (`cfg.replace(attn_only=False)`),
# change the basis of block 0's hidden layer, `W_in -> W_in Q`, `b_in -> b_in Q`, `W_out -> Q^T W_out`, once
# with a random orthogonal `Q` and once with a permutation matrix. Check that the rotation changes the logits
# and the permutation does not.


# %% tags=["solution"] jupyter={"source_hidden": true}
def logits_after_hidden_basis_change(Q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mlp_model = cl.Transformer(cfg.replace(attn_only=False)).double()
    mlp = mlp_model.blocks[0].mlp
    with torch.no_grad():
        mlp.b_in.add_(0.1)  # a non-zero bias, so the check includes it
        before = mlp_model(tokens)
        mlp.W_in.copy_(mlp.W_in @ Q)
        mlp.b_in.copy_(mlp.b_in @ Q)
        mlp.W_out.copy_(Q.T @ mlp.W_out)
    return before, mlp_model(tokens)


d_mlp = cfg.replace(attn_only=False).d_mlp_resolved
rotation, _ = torch.linalg.qr(
    torch.randn(d_mlp, d_mlp, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
)
permutation = torch.eye(d_mlp, dtype=torch.float64)[
    torch.randperm(d_mlp, generator=torch.Generator().manual_seed(6))
]
rot_change = max_diff(*logits_after_hidden_basis_change(rotation))
perm_change = max_diff(*logits_after_hidden_basis_change(permutation))
print(f"logit change: rotated neurons {rot_change:.2e}, permuted neurons {perm_change:.2e}")
assert rot_change > 1e-3 and perm_change < TOL

# %% [markdown]
# **Exercise 2.** Compute the K-composition baseline yourself: draw 256 independent sets of Gaussian `W_V,
# W_O` (layer 0) and `W_Q, W_K` (layer 1) with the model's shapes (`[d_model, d_head]`, `[d_head, d_model]`),
# score `||W_OV (W_QK)^T||_F / (||W_OV||_F ||W_QK||_F)` for each, and check that the mean is within 5% of
# `composition_baseline(model, "K")`.

# %% tags=["solution"] jupyter={"source_hidden": true}
g = torch.Generator().manual_seed(7)
d, e = cfg.d_model, cfg.d_head
draws = []
for _ in range(256):
    W_V, W_Q, W_K = (torch.randn(d, e, generator=g, dtype=torch.float64) for _ in range(3))
    W_O = torch.randn(e, d, generator=g, dtype=torch.float64)
    W_OV, W_QK = W_V @ W_O, W_Q @ W_K.T
    draws.append((W_OV @ W_QK.T).norm() / (W_OV.norm() * W_QK.norm()))
mine = torch.stack(draws).mean().item()
print(f"my baseline {mine:.4f}, composition_baseline {cl.circuits.composition_baseline(model, 'K'):.4f}")
assert abs(mine - cl.circuits.composition_baseline(model, "K")) < 0.05 * mine

# %% [markdown]
# **Exercise 3.** Additivity makes ablation easy to predict. Layer 1 is the last layer and there is no
# LayerNorm, so zero-ablating head 1.h should change the logits by exactly `-r^{1,h} W_U`, its direct write
# through the unembedding. Check it for every head of layer 1 with `cl.circuits.ablate_heads` (its
# `ablated_logits`). Why would the same check fail for a layer-0 head?

# %% tags=["solution"] jupyter={"source_hidden": true}
model = small_model(SEED, normalization="none", n_layers=2)
model.set_use_attn_result(True)
clean, cache = model.run_with_cache(tokens)
for h in range(H):
    ablated = cl.circuits.ablate_heads(model, tokens, [(1, h)], kind="zero").ablated_logits
    predicted = clean - cache["blocks.1.attn.hook_result"][:, :, h] @ model.W_U
    assert max_diff(ablated, predicted) < TOL
print("zero-ablating a layer-1 head removes exactly its direct write to the logits")
# A layer-0 head's write is also read by the layer-1 heads (through Q, K and V), so removing it changes what
# they compute: the effect is no longer just its direct path.
ablated0 = cl.circuits.ablate_heads(model, tokens, [(0, 0)], kind="zero").ablated_logits
assert max_diff(ablated0, clean - cache["blocks.0.attn.hook_result"][:, :, 0] @ model.W_U) > 1e-3
