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
# # 6. Reverse engineering attention-only transformers: bigrams, skip-trigrams, induction heads
#
# This notebook follows the seed's section **"Reverse Engineering"** ("Using toy attention-only
# models, we can analyse characteristic behaviours of transformers: 1. Zero layer Transformers: They
# emulate bigram statistics. 2. One layer Transformers: They emulate bigram + skipgram statistics.")
# and item 4 of **"Attention Circuits"** ("The composition of attention heads forms induction heads
# which greatly increase expressivity of transformers. Key and query composition are very different
# from value composition."). The papers behind it are Elhage et al. (2021), *A Mathematical
# Framework for Transformer Circuits*, and Olsson et al. (2022), *In-context Learning and Induction
# Heads*.
#
# What you will see:
#
# 1. a **zero-layer** model is a bigram table: `softmax(W_E W_U)` against the corpus's bigram counts;
# 2. a **one-layer** attention-only model adds **skip-trigrams** `A ... B -> C` read off its QK and OV
#    circuits, and its heads **copy** (positive eigenvalues of `W_E W_OV W_U`);
# 3. a **two-layer** model grows **induction heads** in a sudden **phase change**; the induction
#    head's key reads what a previous-token head wrote (**K-composition**), and **ablating** it
#    removes in-context learning;
# 4. the interactive **attention viewer**, inline: pick a head, hover a token.
#
# The models are the ones `make reproduce` trains for the report's claims `zero_layer_bigram`,
# `one_layer_skip_trigrams` and `two_layer_induction`. If that run exists, its checkpoints are
# loaded; otherwise this notebook trains them into `runs/tutorial/` (about 20 minutes on one CPU
# core, mostly the 2-layer model), where the next run finds them.

# %%
import dataclasses
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, display

import circuitlab as cl
from circuitlab.data import WindowBatches
from circuitlab.data.synthetic import RepeatedPassageBatches
from circuitlab.experiments.base import RunContext, corpus_data
from circuitlab.experiments.induction.claim import ABLATION_THRESHOLD, find_heads, half_losses
from circuitlab.experiments.induction.recipe import INDUCTION_THRESHOLD, induction_recipe
from circuitlab.experiments.induction.train import bos_id, train_induction
from circuitlab.experiments.induction.viewer import viewer_sample
from circuitlab.experiments.ngrams import lm
from circuitlab.experiments.ngrams.one_layer import loss_split
from circuitlab.report.viewer import viewer_fragment

FAST = os.environ.get("CIRCUITLAB_TUTORIAL_FAST") == "1"
torch.manual_seed(0)
np.random.seed(0)

# The run folder: the latest `make reproduce` run that trained the induction model, else runs/tutorial.
ROOT = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "pyproject.toml").is_file()), Path.cwd())
made = sorted(
    ROOT.glob("runs/*/checkpoints/two_layer_induction/induction_history.json"), key=os.path.getmtime
)
RUN = made[-1].parents[2] if made else ROOT / "runs" / "tutorial"
ctx = RunContext(out_dir=RUN, profile="quick", seed=0)
print("run folder:", "(none: the fast switch trains small models in memory)" if FAST else RUN)

# %% [markdown]
# ## 1. Zero layers: a bigram table
#
# With no attention layer, the residual stream at position *t* holds only the embedding of token
# *t*, so the logits are `ln_final(W_E[a]) W_U + b_U`: a function of the current token alone. The
# best such model is the corpus's table of P(next | current), the bigram statistics. The corpus is
# the Python standard library, tokenized with a byte-pair encoding.

# %%
if FAST:
    print(
        "CIRCUITLAB_TUTORIAL_FAST=1: 0- and 1-layer models on 400 kB of the corpus (BPE 512, context 64, "
        "d_model 64), 150 steps each, instead of 4 MB (BPE 1024, context 128, d_model 256) and 300 / 400 "
        "steps; numbers differ from the full run"
    )
    data = corpus_data("stdlib", vocab_size=512, max_bytes=400_000)
    small = {"d_vocab": 512, "n_ctx": 64, "d_model": 64}

    def trained_lm(name: str, cfg: cl.TransformerConfig) -> cl.Transformer:
        """Train ``cfg`` with the claim's optimizer settings for 150 steps (no checkpoint)."""
        train_cfg = dataclasses.replace(lm.train_config(ctx, name), steps=150, warmup=30, checkpoint_every=0)
        model = cl.Transformer(cfg)
        batches = WindowBatches(data.tokens.train, train_cfg.batch_size, cfg.n_ctx, seed=0)
        cl.training.train(model, cl.training.next_token_loss, batches, train_cfg)
        return model.eval()

    zero = trained_lm("zero_layer", dataclasses.replace(lm.zero_layer_config(0), **small))
else:
    data = lm.corpus()
    zero = lm.zero_layer_model(ctx, data).model.cpu().eval()
V = zero.cfg.d_vocab
decode = data.tokenizer.decode
print(
    f"{len(data.tokens.train):,} training tokens, vocabulary {V}; zero-layer model: {zero.cfg.n_layers} layers"
)

# %% [markdown]
# The forward pass is nothing but `W_E`, the final LayerNorm and `W_U`. Check that by hand:

# %%
a = torch.arange(V)[:, None]  # every token as a one-token context
by_hand = zero.ln_final(zero.W_E[a[:, 0]]) @ zero.W_U + zero.b_U
with torch.no_grad():
    assert torch.allclose(zero(a)[:, 0], by_hand, atol=1e-4)
print("logits = ln_final(W_E) W_U + b_U for all", V, "tokens")

# %% [markdown]
# Now compare the model's next-token distribution with the corpus's bigram table. `bigram_fit` reports
# the KL divergence from the table (averaged over positions) for the model and for the unigram
# baseline (predicting the overall token frequencies regardless of context).

# %%
counts = cl.circuits.bigram_counts(np.asarray(data.tokens.train), V)  # counts[a, b]: b follows a
log_q = cl.circuits.model_bigram_logprobs(zero)  # row a: log P_model(. | a)
fit = cl.circuits.bigram_fit(log_q, counts)
print(f"KL(table || model)   = {fit.kl_model:.3f} nats   top-1 agreement {fit.agreement_model:.1%}")
print(f"KL(table || unigram) = {fit.kl_unigram:.3f} nats   top-1 agreement {fit.agreement_unigram:.1%}")
print(f"ratio {fit.kl_model / fit.kl_unigram:.3f} (the report's claim: below 0.1)")

common = counts.sum(1).argsort(descending=True)[:6].tolist()
table = counts / counts.sum(1, keepdim=True).clamp_min(1)
for t in common:
    corpus_top = [decode([b]) for b in table[t].topk(3).indices.tolist()]
    model_top = [decode([b]) for b in log_q[t].topk(3).indices.tolist()]
    print(f"after {decode([t])!r:>10}: corpus {corpus_top!r:40} model {model_top!r}")
assert fit.kl_model < (0.15 if FAST else 0.1) * fit.kl_unigram

# %%
fig, ax = plt.subplots(figsize=(4.5, 4))
p_data = table[common[0]].numpy()
p_model = log_q[common[0]].exp().numpy()
ax.loglog(p_data + 1e-6, p_model + 1e-6, ".", alpha=0.5)
ax.plot([1e-6, 1], [1e-6, 1], "k--", lw=0.8)
ax.set(xlabel="P_corpus(next | a)", ylabel="P_model(next | a)", title=f"a = {decode([common[0]])!r}")
plt.show()

# %% [markdown]
# ## 2. One layer: skip-trigrams and copying
#
# One attention layer adds, per head, terms that depend on *two* tokens: the head at destination
# token `B` attends to a source token `A` (the **QK circuit** `W_E W_QK W_E^T`) and, having attended,
# raises the logits of `C` (the **OV circuit** `W_E W_OV W_U`). Together: a **skip-trigram**
# `A ... B -> C`. The commonest is **copying**: `C = A`, "a token seen earlier is likely to come
# again", which shows as positive eigenvalues of the OV circuit.

# %%
if FAST:
    heads = {"n_heads": 4, "d_head": 16}
    one = trained_lm("one_layer", dataclasses.replace(lm.one_layer_config(0), **small, **heads))
else:
    one = lm.one_layer_model(ctx, data).model.cpu().eval()
val = WindowBatches(data.tokens.val, 16, one.cfg.n_ctx, seed=0, stream=2)
split = loss_split(zero, one, val, 8)
print(f"validation loss: zero-layer {split.loss_zero:.3f}, one-layer {split.loss_one:.3f}")
print(f"the one-layer model's gain on targets already in the context: {split.gain_seen:.3f} nats")
print(f"                                   on the other targets:        {split.gain_other:.3f} nats")
copying = cl.circuits.copying_scores(one)[0]  # [n_heads]: sum(eig) / sum(|eig|) of W_E W_OV W_U
print("copying score per head:", [round(float(c), 2) for c in copying])
assert split.loss_one < split.loss_zero and split.gain_seen > split.gain_other
assert int((copying > 0).sum()) > one.cfg.n_heads // 2

# %% [markdown]
# The full OV circuit of the most copying head, among the 25 commonest tokens: a bright diagonal
# means "attending to token `a` raises the logit of `a`".

# %%
head = int(copying.argmax())
ids = counts.sum(1).argsort(descending=True)[:25]
ov = cl.circuits.full_ov_circuit(one, 0, head)  # FactoredMatrix [d_vocab, d_vocab], kept factored
block = (ov.A[ids] @ ov.B[:, ids]).detach()
fig, ax = plt.subplots(figsize=(5.5, 5))
ax.imshow(block.numpy(), cmap="RdBu_r", vmin=-block.abs().max(), vmax=block.abs().max())
labels = [repr(decode([t]))[1:-1] for t in ids.tolist()]
ax.set_xticks(range(len(ids)), labels, rotation=90, fontsize=7)
ax.set_yticks(range(len(ids)), labels, fontsize=7)
ax.set(xlabel="output token C", ylabel="attended token A", title=f"full OV circuit of head 0.{head}")
plt.show()

# %% [markdown]
# Skip-trigrams read off the weights: for each source `A`, the output `C` its OV row raises most and
# the destination `B` whose query attends most to `A`. Counted in the validation text (the training
# text under the fast switch, whose validation split is tiny): how often `B -> C` occurs with `A`
# somewhere in the 128 tokens before it, and how often at all.

# %%
frequent = counts.sum(1).argsort(descending=True)[:256]
text = data.tokens.val if len(data.tokens.val) > 50_000 else data.tokens.train
text = np.asarray(text)
for h in copying.argsort(descending=True)[:2].tolist():
    for tri in cl.circuits.skip_trigrams(one, 0, h, k=4, vocab=frequent):
        with_a, total = cl.circuits.count_skip_trigram(text, tri, 128)
        a_, b_, c_ = (decode([t]) for t in (tri.source, tri.destination, tri.output))
        print(f"head 0.{h}: {a_!r} ... {b_!r} -> {c_!r}   corpus: {with_a} of {total} with A before")

# %% [markdown]
# ## 3. Two layers: induction heads
#
# An **induction head** completes patterns: on `... A B ... A` it attends from the second `A` to the
# `B` that followed the first, and predicts `B`. One head cannot do it alone. A **previous-token
# head** in layer 0 writes "the previous token was `A`" into each position; the induction head's
# *key* reads that (K-composition) and matches it against its *query*, the current token.
#
# The full run trains the report's recipe (`circuitlab.experiments.induction.recipe`): a 2-layer
# attention-only model on the plain text of the standard library, one token per character, its
# training windows chosen for repeated 8-grams. An `InductionTracker` scores the heads as it trains.

# %%
if FAST:
    print(
        "CIRCUITLAB_TUTORIAL_FAST=1: a 2-layer model with rotary positions, vocabulary 64, context 48, trained "
        "400 steps (1.2M tokens) on random tokens with a random passage repeated in every window, instead "
        "of the recipe's 3662 steps (15.0M characters) of Python source; the heads form after about 1M tokens "
        "instead of about 3-4M, and the viewer shows random tokens instead of code"
    )
    V2, N_CTX = 64, 48
    cfg = cl.TransformerConfig(
        n_layers=2, d_model=64, n_heads=4, d_head=16, d_vocab=V2, n_ctx=N_CTX,
        attn_only=True, positional="rotary", normalization="layernorm", seed=0,
    )  # fmt: skip
    stream = np.random.default_rng(0).integers(1, V2, 100_000)  # uniform ids; 0 is kept for BOS
    batches = RepeatedPassageBatches(
        WindowBatches(stream, 64, N_CTX, seed=0),
        fraction=1.0,
        min_len=8,
        seed=0,
        passage="random",
        d_vocab=V2,
    )
    bos = 0
    scoring = cl.circuits.repeated_random_tokens(V2, (N_CTX - 1) // 2, 16, seed=1234, bos=bos)
    tracker = cl.training.InductionTracker(scoring, batches(10**6).inputs, every=25)
    train_cfg = cl.training.TrainConfig(
        steps=400, lr=3e-3, min_lr=3e-3, warmup=10, batch_size=64, weight_decay=0.01,
        eval_every=0, checkpoint_every=0, progress=False,
    )  # fmt: skip
    model = cl.Transformer(cfg)
    start = time.perf_counter()
    cl.training.train(model, cl.training.next_token_loss, batches, train_cfg, callbacks=[tracker])
    model, history = model.eval(), tracker.history
    print(f"trained in {time.perf_counter() - start:.0f} s")
else:
    recipe = induction_recipe("quick", seed=0)
    print(recipe.describe())
    trained = train_induction(ctx, recipe)  # reloads <run>/checkpoints/two_layer_induction when present
    model, history = trained.model.cpu().eval(), trained.history
    bos = bos_id(trained.data)  # the end-of-text id, or a newline for a character tokenizer
    print(f"reloaded from {RUN}" if trained.reloaded else f"trained in {trained.train_seconds:.0f} s")

# %% [markdown]
# ### The phase change
#
# The induction score of a head is the share of its attention, on `BOS + R + R` (R: random tokens),
# that goes from each token of the second copy to the token after its earlier occurrence. The
# in-context-learning score is the loss on a late token minus the loss on an early one: negative
# when the model uses its context. Both move in the same narrow window of training.

# %%
change = cl.circuits.find_phase_change(history, threshold=INDUCTION_THRESHOLD)
tokens_m = [p.tokens / 1e6 for p in history]
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
left.plot(tokens_m, [p.induction for p in history], "o-", ms=3, label="induction (max, layer 1)")
left.plot(tokens_m, [p.previous_token for p in history], "s-", ms=3, label="previous-token (max, layer 0)")
left.axhline(INDUCTION_THRESHOLD, color="grey", ls="--", lw=1)
right.plot(tokens_m, [p.icl for p in history], "o-", ms=3, color="C3")
for ax in (left, right):
    ax.axvspan(change.start_tokens / 1e6, change.end_tokens / 1e6, color="gold", alpha=0.3)
    ax.set_xlabel("tokens seen (millions)")
left.set(ylabel="head score", ylim=(0, 1))
left.legend(fontsize=8)
right.set(ylabel="in-context-learning score (nats)")
plt.show()
print(change)
assert change.found and change.threshold_tokens is not None and change.icl_change < 0

# %% [markdown]
# ### Finding the heads
#
# Score every head on a held-out draw of `BOS + R + R`, then look at the best previous-token head and
# the best induction head.

# %%
half = min(50, (model.cfg.n_ctx - 1) // 2)
tokens = cl.circuits.repeated_random_tokens(model.cfg.d_vocab, half, 16, seed=4321, bos=bos)
# [n_layers, n_heads]; "second_copy": Olsson et al.'s prefix matching, what the claim reads
induction = cl.circuits.head_scores(model, "induction", tokens, denominator="second_copy")
previous = cl.circuits.head_scores(model, "previous_token", tokens)
prev_heads, ind_heads = find_heads(previous, 0), find_heads(induction, 1)  # best first
print("previous-token scores:\n", previous.numpy().round(2))
print("induction scores:\n", induction.numpy().round(2))
print(
    f"previous-token heads {[f'0.{h}' for h in prev_heads]}, induction heads {[f'1.{h}' for h in ind_heads]}"
)
assert float(induction[1].max()) >= INDUCTION_THRESHOLD

patterns = cl.circuits.attention_patterns(model, tokens[:1])[0].detach()  # [layer, head, query, key]
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
for ax, (layer, h) in zip(axes, [(0, prev_heads[0]), (1, ind_heads[0])], strict=True):
    ax.imshow(patterns[layer, h].numpy(), cmap="Blues", vmin=0, vmax=1)
    ax.set(title=f"head {layer}.{h}", xlabel="key position", ylabel="query position")
plt.show()

# %% [markdown]
# The previous-token head is a line just below the diagonal. The induction head, in the second copy,
# is a line `half - 1` positions below it: from each token to the one after its first occurrence.
#
# ### K-composition
#
# How much does head `1.i`'s key read what head `0.p` wrote? The composition score
# `||W_OV^(0,p) W_QK^(1,i)T||_F / (||W_OV^(0,p)||_F ||W_QK^(1,i)||_F)` (and the same with the query
# side for Q-composition, the value side for V-composition), against random matrices of the same
# shapes:

# %%
scores = {m: cl.circuits.composition_scores(model, m)[0, :, 1, :].detach() for m in "QKV"}  # [h0, h1]
baseline = {m: cl.circuits.composition_baseline(model, m) for m in "QKV"}
top = max(float(s.max()) for s in scores.values())
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4))
for ax, m in zip(axes, "QKV", strict=True):
    ax.imshow(scores[m].numpy(), cmap="viridis", vmin=0, vmax=top)
    ax.set(title=f"{m}-composition (random: {baseline[m]:.2f})", xlabel="layer-1 head", ylabel="layer-0 head")
plt.show()
p, i = prev_heads[0], ind_heads[0]
pair = {m: float(scores[m][p, i]) for m in "QKV"}
print(f"pair (0.{p}, 1.{i}):", {m: round(v, 3) for m, v in pair.items()}, "baseline", round(baseline["K"], 3))
assert pair["K"] > baseline["K"] and pair["K"] > pair["Q"] and pair["K"] > pair["V"]

# %% [markdown]
# ### Ablation
#
# Zero the induction heads' outputs and look at the loss on each token of `BOS + R + R`. The first
# copy of R is unpredictable either way; on the second copy the clean model is nearly certain, the
# ablated one is back where it started.

# %%
ablation = cl.circuits.ablate_heads(model, tokens, [(1, h) for h in ind_heads], kind="zero")
clean, ablated = half_losses(ablation.clean_loss, half), half_losses(ablation.ablated_loss, half)
removed = (ablated[1] - clean[1]) / (clean[0] - clean[1])
fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(ablation.clean_loss.mean(0).detach().numpy(), label="clean")
ax.plot(ablation.ablated_loss.mean(0).detach().numpy(), label="induction heads zeroed")
ax.axvline(half, color="grey", ls=":", lw=1)
ax.set(xlabel="position (predicting the next token)", ylabel="loss (nats)")
ax.legend(fontsize=8)
plt.show()
print(
    f"loss on the first copy {clean[0]:.2f}, on the second {clean[1]:.2f}; ablated: second copy {ablated[1]:.2f}"
)
print(f"the ablation removes {removed:.0%} of the in-context gain")
assert removed >= ABLATION_THRESHOLD

# %% [markdown]
# ### The attention viewer
#
# Every head's pattern on one sample with a repeated passage. Pick a head (the marked ones were found
# above), hover a token to see where the head attends from it, click to pin. The viewer is one piece
# of HTML with its own script: no library and no network, so it works here and in the rendered page.

# %%
if FAST:
    sample = cl.circuits.repeated_random_tokens(model.cfg.d_vocab, 20, 1, seed=7, bos=bos)
    words = ["<bos>" if t == bos else f" {t}" for t in sample[0].tolist()]
else:
    sample = viewer_sample(trained.data, model.cfg.n_ctx)  # real code: BOS + C + C[:n]
    words = [decode([t]) for t in sample[0].tolist()]
pattern = cl.circuits.attention_patterns(model, sample)[0].detach()
viewer = {
    "tokens": words,
    "layers": model.cfg.n_layers,
    "heads": model.cfg.n_heads,
    "patterns": np.round(pattern.double().numpy(), 3).tolist(),  # [layer][head][query][key]
    "marks": {f"0.{h}": "previous_token" for h in prev_heads} | {f"1.{h}": "induction" for h in ind_heads},
}
display(HTML(viewer_fragment(viewer, "attn-viewer-06")))

# %% [markdown]
# ## Exercises
#
# **1.** A zero-layer model sees only the current token. Show it: run `zero` on two different contexts
# that end in the same token and check that the last position's logits are equal.

# %% tags=["solution"] jupyter={"source_hidden": true}
g = torch.Generator().manual_seed(1)
first, second = torch.randint(0, V, (2, 10), generator=g)
second[-1] = first[-1]
with torch.no_grad():
    last = zero(torch.stack([first, second]))[:, -1]
print("same last token, different contexts: max logit difference", float((last[0] - last[1]).abs().max()))
assert torch.allclose(last[0], last[1], atol=1e-5)

# %% [markdown]
# **2.** Compute the induction score of the best induction head yourself from its attention pattern
# on `tokens`: for each query in the second copy of R, the attention on the keys that come right
# after an earlier occurrence of the query's token, summed, then averaged over those queries (every
# one of them has such a key). Compare with `head_scores(..., denominator="second_copy")`.

# %% tags=["solution"] jupyter={"source_hidden": true}
h = ind_heads[0]
pattern_h = cl.circuits.attention_patterns(model, tokens)[:, 1, h].detach()  # [batch, query, key]
n = tokens.shape[1]
target = torch.zeros(pattern_h.shape, dtype=torch.bool)  # target[b, q, k]: tokens[b, k - 1] == tokens[b, q]
target[:, :, 1:] = tokens[:, :, None] == tokens[:, None, :-1]
target &= torch.ones(n, n, dtype=torch.bool).tril()  # causal: k <= q
on_target = (pattern_h * target).sum(-1)  # [batch, query]
second_copy = slice(n - n // 2, n)  # BOS + R + R: the last half of the positions
mine = float(on_target[:, second_copy].mean())
print(f"head 1.{h}: by hand {mine:.4f}, head_scores {float(induction[1, h]):.4f}")
assert abs(mine - float(induction[1, h])) < 1e-3

# %% [markdown]
# **3.** K-composition says the induction head needs the previous-token head. Zero-ablate the
# previous-token heads instead (leave layer 1 alone): how much of the in-context gain is left?

# %% tags=["solution"] jupyter={"source_hidden": true}
without_prev = cl.circuits.ablate_heads(model, tokens, [(0, h) for h in prev_heads], kind="zero")
first_copy, second_copy = half_losses(without_prev.ablated_loss, half)
removed_prev = (second_copy - clean[1]) / (clean[0] - clean[1])
print(f"zeroing the previous-token heads removes {removed_prev:.0%} of the in-context gain")
assert removed_prev > 0.5
