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
# # 7. Superposition: more features than dimensions
#
# This notebook follows the seed's section **"Superposition"**: "superposition occurs where each
# dimension is not a unique interpretable feature (since important features like "London" are
# sparse) and it instead encodes a mix of features. The model thus finds a balance between trying to
# encode most features and being able to read them out easily." The experiments are those of Elhage
# et al. (2022), *Toy Models of Superposition*, and the sparse autoencoder of Bricken et al. (2023),
# *Towards Monosemanticity*.
#
# What you will see:
#
# 1. the **toy model** `h = W x`, `x' = ReLU(W^T h + b)`, checked against its equations;
# 2. **the pentagon**: five features squeezed into two dimensions. Dense, the model keeps the two
#    most important at right angles; sparse, it keeps all five, 72 degrees apart;
# 3. **the sparsity sweep**: twenty features in five dimensions; the sparser the features, the more the
#    ReLU model stores, while a linear model never stores more than five;
# 4. **feature dimensionality** `D_i`, which sticks at fractions (1, 3/4, 2/3, 1/2, 2/5, 1/3);
# 5. a **sparse autoencoder** trained on the hidden layer recovering the toy model's feature
#    directions.
#
# Every model here is the one the report's claims (`superposition_pentagon`, `superposition_sweep`,
# `feature_dimensionality`, `sae_recovers_features`) train, at the report's quick sizes.

# %%
import dataclasses
import math
import os

import matplotlib.pyplot as plt
import numpy as np
import torch

from circuitlab.experiments.superposition.pentagon import gaps_deg
from circuitlab.experiments.superposition.restarts import ToySweep, train_with_restarts
from circuitlab.experiments.superposition.sae_toy import SAE_TOY
from circuitlab.experiments.superposition.sizes import PROFILES
from circuitlab.superposition import (
    FRACTIONS,
    SAEConfig,
    ToyModel,
    dimensions_per_feature,
    feature_dimensionality,
    feature_norms,
    geometric_importance,
    gram,
    interference,
    max_cosine_similarity,
    nearest_fraction,
    represented_features,
    sparsity_sweep,
    train_sae,
    train_toy_model,
)

FAST = os.environ.get("CIRCUITLAB_TUTORIAL_FAST") == "1"
torch.manual_seed(0)
np.random.seed(0)
sizes, LR = PROFILES["quick"], 1e-3  # the report's quick sizes, Adam at 1e-3
if FAST:
    sizes, LR = (
        dataclasses.replace(
            sizes, pentagon_restarts=3, pentagon_steps=600, sweep_steps=600, dim_steps=600,
            sae_toy_steps=1500, sae_steps=1000,
        ),
        1e-2,
    )  # fmt: skip
    print(
        "CIRCUITLAB_TUTORIAL_FAST=1: toy models trained 600 Adam steps at lr 1e-2 (pentagon: 3 restarts) "
        "instead of 4000 at lr 1e-3 (5 restarts); the SAE's toy model 1500 steps and the SAE 1000 instead "
        "of 3000 each; numbers differ from the full run"
    )

# %% [markdown]
# ## 1. The toy model
#
# `n` features `x_i`, each zero with probability `S` (the sparsity) and otherwise uniform in [0, 1],
# are squeezed into `d_hidden < n` dimensions and read back out:
#
# `h = W x`,  `x' = ReLU(W^T h + b)`,  loss `L = E_x sum_i I_i (x_i - x'_i)^2`
#
# with importance `I_i`. Column `W_i` is feature `i`'s direction in the hidden space. `ToyModel`
# trains many instances side by side (one per sparsity), `W: [n_instances, d_hidden, n_features]`.

# %%
toy = ToyModel(
    5, 2, n_instances=3, importance=geometric_importance(5, 0.9), feature_probability=[1.0, 0.3, 0.05]
)
x = toy.generate_batch(4, torch.Generator().manual_seed(0))  # [batch, n_instances, n_features]
h = torch.einsum("ihf,bif->bih", toy.W, x)  # h = W x
by_hand = torch.relu(torch.einsum("ihf,bih->bif", toy.W, h) + toy.b_final)  # x' = ReLU(W^T h + b)
out, cache = toy.run_with_cache(x)
assert torch.allclose(out, by_hand) and torch.allclose(cache["hook_hidden"], h)
print("x' = ReLU(W^T W x + b) for every instance; hook_hidden holds h:", tuple(cache["hook_hidden"].shape))

# %% [markdown]
# ## 2. The pentagon: five features in two dimensions
#
# Importance `0.9^i`, feature probability from 1 (dense) down to 0.05 (S = 0.95). Toy models have
# local minima, so several restarts train at each sparsity and the lowest loss is kept
# (`train_with_restarts`, as the report does).

# %%
probabilities = sparsity_sweep(sizes.pentagon_sparsities, 0.05)
sweep5 = ToySweep(
    5, 2, tuple(probabilities), tuple(geometric_importance(5, 0.9)), restarts=sizes.pentagon_restarts
)
run = train_with_restarts(sweep5, sizes.pentagon_steps, sizes.batch, seed=0, lr=LR)
W = run.W  # [n_sparsities, 2, 5]: the best restart at each sparsity

fig, axes = plt.subplots(1, len(probabilities), figsize=(2.3 * len(probabilities), 2.5))
for ax, Wk, p in zip(axes, W, probabilities, strict=True):
    for i in range(5):
        colour = plt.cm.viridis(i / 4)
        ax.plot([0, Wk[0, i]], [0, Wk[1, i]], color=colour, lw=2)
        ax.scatter([Wk[0, i]], [Wk[1, i]], color=colour, s=12)
    ax.set(xlim=(-1.3, 1.3), ylim=(-1.3, 1.3), aspect="equal", xticks=[], yticks=[], title=f"S = {1 - p:.2f}")
fig.suptitle("columns W_i in the hidden plane (feature 0 dark, feature 4 yellow)", fontsize=10)
plt.show()

norms = feature_norms(W)  # ||W_i||: ~1 represented, ~0 dropped
dense = [i for i in range(5) if float(norms[0, i]) > 0.5]
angle = math.degrees(math.acos(float(W[0, :, 0] @ W[0, :, 1] / (norms[0, 0] * norms[0, 1]))))
gaps = gaps_deg(W[-1])  # angles between neighbouring directions at the sparsest S
D = feature_dimensionality(W[-1])
print(f"dense: features {dense} represented, {angle:.1f} degrees apart")
print(
    f"sparsest: {int((norms[-1] > 0.5).sum())} represented, neighbours {[round(g, 1) for g in gaps]} degrees apart"
)
print("feature dimensionality at the sparsest S:", [round(float(d), 3) for d in D])
assert dense == [0, 1] and abs(angle - 90) <= 10
assert (
    int((norms[-1] > 0.5).sum()) == 5
    and max(abs(g - 72) for g in gaps) <= 12
    and float((D - 0.4).abs().max()) <= 0.08
)

# %% [markdown]
# Dense features interfere all the time, so the model keeps only as many as it has dimensions. Sparse
# features rarely fire together, so the model can afford to store five directions in two dimensions
# and pay for the interference (`W_i . W_j != 0`) only when two fire at once; the ReLU and the
# negative bias clean up small interference. Each feature of the pentagon gets `D_i = 2/5` of a
# dimension.
#
# ## 3. The sparsity sweep: twenty features in five dimensions
#
# Importance `0.7^i`, a ReLU model and a linear one (`x' = W^T h + b`). A feature counts as represented
# when `||W_i|| > 0.5`.

# %%
probabilities20 = sparsity_sweep(sizes.sweep_sparsities, sizes.sweep_p_min)
represented, relu_W = {}, None
for activation in ("relu", "linear"):
    sweep20 = ToySweep(
        20, 5, tuple(probabilities20), tuple(geometric_importance(20, 0.7)), activation=activation
    )
    run20 = train_with_restarts(sweep20, sizes.sweep_steps, sizes.batch, seed=0, lr=LR)
    represented[activation] = represented_features(run20.W).tolist()
    relu_W = run20.W if activation == "relu" else relu_W

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [2, 3]})
for activation, counts in represented.items():
    left.plot([1 / p for p in probabilities20], counts, "o-", label=activation)
left.axhline(5, color="grey", ls="--", lw=1, label="d_hidden = 5")
left.set(xscale="log", xlabel="1 / (1 - S)", ylabel="features with ||W_i|| > 0.5")
left.legend(fontsize=8)
shown = [0, len(probabilities20) // 2, len(probabilities20) - 1]
right.imshow(torch.cat([gram(relu_W[k]) for k in shown], dim=1).numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
right.set(title="W^T W of the ReLU model at S = " + ", ".join(f"{1 - probabilities20[k]:.2f}" for k in shown))
right.axis("off")
plt.show()
print("represented (ReLU):  ", represented["relu"])
print("represented (linear):", represented["linear"])
assert 4 <= represented["relu"][0] <= 6 and max(represented["relu"]) >= 8 and max(represented["linear"]) <= 5

# %% [markdown]
# In `W^T W` the diagonal is `||W_i||^2` and the off-diagonal entries are the interference between
# features. Dense, the ReLU model keeps the five most important features, orthogonal (a clean
# diagonal block); sparser, it packs more features into the same five dimensions and the off-diagonal
# entries appear. The linear model cannot filter interference, so it behaves like PCA: five
# features, whatever the sparsity.
#
# How much each feature shares its direction: `sum_{j != i} (W_i_hat . W_j)^2` (`interference`), for
# the ReLU model at the sparsest S:

# %%
sparsest = relu_W[-1]
print("||W_i||:      ", [round(float(v), 2) for v in feature_norms(sparsest)])
print("interference: ", [round(float(v), 2) for v in interference(sparsest)])

# %% [markdown]
# ## 4. Feature dimensionality
#
# `D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2` is the fraction of a dimension feature `i` gets: 1 with a
# dimension to itself, 1/2 for an antipodal pair, 2/5 in a pentagon, 0 when dropped. With many features
# of equal importance over a sweep of sparsity, the paper finds `D_i` sticks at a few fractions: the
# features arrange themselves as small regular polytopes (digons, triangles, tetrahedra, pentagons).

# %%
s = sizes
sweep_dim = ToySweep(s.dim_features, s.dim_hidden, tuple(sparsity_sweep(s.dim_sparsities, s.dim_p_min)))
run_dim = train_with_restarts(sweep_dim, s.dim_steps, s.dim_batch, seed=0, lr=LR)
D_all = feature_dimensionality(run_dim.W)  # [n_sparsities, n_features]
kept = D_all[feature_norms(run_dim.W) > 0.5]  # the represented features
names = nearest_fraction(kept, 0.02)
near = sum(name is not None for name in names) / len(names)
chance = min(1.0, len(FRACTIONS) * 2 * 0.02 / (1.02 - float(kept.min())))  # an even spread over [min D, 1]

inv = torch.tensor([1 / p for p in run_dim.probabilities])
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 2]})
left.scatter(inv[:, None].expand_as(D_all).flatten(), D_all.flatten(), s=4, alpha=0.4)
left.plot(inv, dimensions_per_feature(run_dim.W), "k-", lw=1.5, label="d_hidden / ||W||_F^2")
for name, value in FRACTIONS:
    left.axhline(value, color="tab:red", lw=0.6, ls=":")
    right.axvline(value, color="tab:red", lw=0.6, ls=":")
    left.text(float(inv.max()) * 1.1, value, name, fontsize=7, va="center")
left.set(xscale="log", xlabel="1 / (1 - S)", ylabel="D_i", ylim=(-0.05, 1.1))
left.legend(fontsize=8)
right.hist(kept.numpy(), bins=55, range=(0, 1.1))
right.set(xlabel="D_i of the represented features", ylabel="count")
plt.show()
print({name: names.count(name) for name, _ in FRACTIONS})
print(
    f"{near:.0%} of {len(names)} represented features lie within 0.02 of a fraction ({chance:.0%} for an even spread)"
)
assert near >= 0.5 and near >= 1.5 * chance

# %% [markdown]
# ## 5. A sparse autoencoder undoes superposition
#
# Ten features in five dimensions at S = 0.95: the hidden layer `h` holds more features than it has
# dimensions. A sparse autoencoder with 4x as many latents as `h` has dimensions,
# `f = ReLU(W_enc (h - b_dec) + b_enc)`, `h' = W_dec f + b_dec`, trained on `hook_hidden` (read through
# `run_with_cache`) with an L1 penalty on `f`, should find one latent per feature: its decoder rows
# should point along the columns `W_i`.

# %%
c = SAE_TOY  # the report's settings: 10 features, 5 dims, p = 0.05, 4x latents, L1 0.2, lr 3e-3
toy = ToyModel(c["n_features"], c["d_hidden"], 1, None, c["p"], generator=torch.Generator().manual_seed(0))
train_toy_model(toy, steps=sizes.sae_toy_steps, batch=sizes.batch, seed=0)
gen = torch.Generator().manual_seed(1)
inputs = [toy.generate_batch(8192, gen) for _ in range(8)]  # the SAE reads h of these through the hook
sae_cfg = SAEConfig(
    d_in=c["d_hidden"], expansion=c["expansion"], l1_coeff=c["l1_coeff"], lr=c["lr"], steps=sizes.sae_steps,
    batch_size=1024, resample_every=max(sizes.sae_steps // 6, 1), seed=0,
)  # fmt: skip
result = train_sae(toy, "hook_hidden", inputs, sae_cfg)
W_toy = toy.W.detach()[0]  # [d_hidden, n_features]
truth = W_toy.T[feature_norms(W_toy) > 0.5]  # the represented features' directions
cos = max_cosine_similarity(result.sae.directions, truth)  # per true feature: best decoder row
m = result.metrics
print(f"{len(truth)} features in {c['d_hidden']} dimensions; SAE with {sae_cfg.n_latents} latents")
print(f"L0 {m.l0:.2f}, variance explained {m.fraction_variance_explained:.3f}, dead latents {m.dead_latents}")
print("best cosine per true feature:", [round(float(v), 3) for v in cos])

a_hat = truth / truth.norm(dim=-1, keepdim=True)
sims = a_hat @ result.sae.directions.T  # [true feature, latent]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3), gridspec_kw={"width_ratios": [2, 3]})
left.bar(range(len(cos)), cos.numpy(), color="tab:green")
left.axhline(0.9, color="grey", ls="--", lw=1)
left.set(ylim=(0, 1.05), xlabel="true feature", ylabel="max cos with a decoder row")
right.imshow(sims[:, sims.argmax(0).argsort()].numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
right.set(xlabel="SAE latent (sorted by its best feature)", ylabel="true feature")
plt.show()
assert len(truth) >= c["d_hidden"] + 1 and float(cos.mean()) >= 0.9

# %% [markdown]
# ## Exercises
#
# **1.** Compute the feature dimensionality of the sparsest pentagon by hand from `W[-1]` (shape
# `[2, 5]`), `D_i = ||W_i||^2 / sum_j (W_i_hat . W_j)^2`, and compare with `feature_dimensionality`.
# What value do all five take?

# %% tags=["solution"] jupyter={"source_hidden": true}
Wp = W[-1]  # [d_hidden, n_features]
unit = Wp / Wp.norm(dim=0, keepdim=True)  # columns W_i_hat
D_hand = (Wp**2).sum(0) / ((unit.T @ Wp) ** 2).sum(1)  # ||W_i||^2 / sum_j (W_i_hat . W_j)^2
print("by hand:", [round(float(d), 3) for d in D_hand])
assert torch.allclose(D_hand, feature_dimensionality(Wp), atol=1e-5)
assert torch.allclose(D_hand, torch.full((5,), 0.4), atol=0.08)  # two dimensions shared by five: 2/5 each

# %% [markdown]
# **2.** Without the ReLU there is no superposition. Train the linear model (`activation="linear"`) on
# the pentagon's five features at S = 0.95 and count the features it represents.

# %% tags=["solution"] jupyter={"source_hidden": true}
linear = ToySweep(5, 2, (0.05,), tuple(geometric_importance(5, 0.9)), activation="linear")
run_linear = train_with_restarts(linear, sizes.pentagon_steps, sizes.batch, seed=0, lr=LR)
kept_linear = int(represented_features(run_linear.W)[0])
print(
    "linear model at S = 0.95 represents",
    kept_linear,
    "features; norms",
    feature_norms(run_linear.W)[0].numpy().round(2),
)
assert kept_linear <= 2

# %% [markdown]
# **3.** Give the SAE only as many latents as the hidden layer has dimensions (`d_sae=5`). Can it still
# find every feature? Compare the mean best cosine with the 4x SAE's.

# %% tags=["solution"] jupyter={"source_hidden": true}
narrow = train_sae(toy, "hook_hidden", inputs, dataclasses.replace(sae_cfg, d_sae=c["d_hidden"]))
cos_narrow = max_cosine_similarity(narrow.sae.directions, truth)
print(f"mean best cosine: {float(cos_narrow.mean()):.3f} with 5 latents, {float(cos.mean()):.3f} with 20")
assert float(cos_narrow.mean()) < float(cos.mean()) - 0.05  # five latents cannot give ten features one each
