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
# # 1. The perceptron and the multilayer perceptron
#
# This notebook follows the seed's first part, **"# Artificial Neural Networks"**, its sections
# **"## Perceptron"** and **"## Multilayer Perceptron"**. You will see:
#
# 1. the seed's neuron `y = sigmoid(w . x + b)` print the seed's own numbers, **0.8176** and **0.6225**,
#    and why the float16 weights do not change them;
# 2. the seed's `LayerPerceptron` (5 inputs, 3 neurons) in the seed's column layout, checked against a
#    hand computation and against `torch.nn.Linear`;
# 3. an MLP (64 -> 64 sigmoid -> 10) learning scikit-learn's 8x8 digits to the held-out accuracy that
#    `circuitlab reproduce` reports for the `mlp` claim (same data split, same seeds, same number).
#
# Everything runs on a CPU in seconds; the data ships with scikit-learn (no download).

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

import circuitlab as cl
from circuitlab.experiments.base import RunContext
from circuitlab.experiments.classic import mlp, perceptron
from circuitlab.experiments.classic.digits import load_digits_split, minibatches
from circuitlab.training.fit import fit

SEED = 0
torch.manual_seed(SEED)

# %% [markdown]
# ## The perceptron
#
# One neuron holds a weight vector $w$ and a bias $b$; it passes the weighted sum of its input through
# an activation $g$, here the sigmoid $\sigma(z) = 1 / (1 + e^{-z})$:
#
# $$\hat y = g(w \cdot x + b)$$
#
# The seed's neuron has `w = [1, 0, 0, 0, 0]` (in float16) and `b = 0.5`, and feeds it two one-hot
# inputs: $x_1 = e_1$ picks the weight 1, so $z = 1.5$; $x_2 = e_3$ picks the weight 0, so $z = 0.5$.
# `cl.nets.Perceptron.seed()` is that neuron.

# %%
neuron = cl.nets.Perceptron.seed()
X1 = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float16)
X2 = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float16)

prediction1, prediction2 = neuron(X1), neuron(X2)
print(f"The prediction for input 1 is {prediction1}.")
print(f"The prediction for input 2 is {prediction2}.")
print("dtypes: w", neuron.w.dtype, "| b", neuron.b.dtype, "| y", prediction1.dtype)

# The seed printed tensor([0.8176]) and tensor([0.6225]): the reproduction report's `perceptron` claim.
assert perceptron.printed([prediction1.item(), prediction2.item()]) == perceptron.SEED_OUTPUTS

# %% [markdown]
# Why float16 changes nothing here: `w . x` for a one-hot `x` is one weight times one, exact in
# float16; adding the float32 bias promotes the sum to float32, so the sigmoid runs in float32 and the
# output is float32, as the seed's is.
#
# Every circuitlab net is a `HookedModule`: named *hook points* let you read (or edit) what flows
# through it. The perceptron has two, `hook_z` (the pre-activation $z = w \cdot x + b$) and `hook_y`.

# %%
_, cache = neuron.run_with_cache(X1)
print({name: act for name, act in cache.items()})
assert cache["hook_z"].item() == 1.5 and torch.equal(cache["hook_y"], prediction1)

# %% [markdown]
# ## A layer of perceptrons: the seed's `LayerPerceptron`
#
# A layer is many neurons reading the same input, each with its own weight vector. Stack the weight
# vectors as the columns of $W$ (shape `[5, 3]` for 5 inputs and 3 neurons) and the layer computes
#
# $$\hat y = g(W^T x + b)$$
#
# The seed writes its inputs as **columns** (`torch.mm(w.T, x.T) + b`, with `b` of shape `[3, 1]`), so
# "each column is the output of the layer for each input". `cl.nets.MLP(sizes=[5, 3])` is this layer;
# `forward_columns` takes the seed's layout and `forward` the usual one (a batch of rows, $g(xW + b)$).
#
# The seed initialises with `torch.randn` and no seed, so its printed numbers cannot be reproduced;
# here the seed is fixed, and the check is against a hand computation and against `torch.nn.Linear`.

# %%
torch.manual_seed(SEED)
layer = cl.nets.MLP(sizes=[5, 3], activation="sigmoid")
W, b = layer.layers[0].W, layer.layers[0].b  # W: [5, 3], b: [3]
X = torch.stack([X1, X2]).float()  # two inputs as rows: [2, 5]

columns = layer.forward_columns(X.T)  # the seed's layout: [3 neurons, 2 inputs]
by_hand = torch.sigmoid(W.T @ X.T + b[:, None])
print("W^T x + b through the sigmoid, one column per input:\n", columns)

torch.testing.assert_close(columns, by_hand)
torch.testing.assert_close(layer(X), columns.T)  # rows in, rows out: the same numbers transposed
torch.testing.assert_close(layer.to_torch()(X), columns.T)  # nn.Sequential(nn.Linear(5, 3), nn.Sigmoid())

# %% [markdown]
# A one-hot input reads one row of $W$: column 1 above is $\sigma(W_{1,:} + b)$ and column 2 is
# $\sigma(W_{3,:} + b)$. Exercise 2 uses that to make this layer print the seed's numbers.
#
# ## A multilayer perceptron learns digits
#
# Layers combine sequentially into a network: $x_l = g(W_l^T x_{l-1} + b_l)$. The reproduction
# report's `mlp` claim trains `MLP([64, 64, 10])` (sigmoid hidden layer, logits out) on scikit-learn's
# 8x8 digits: 1797 images, pixels scaled to [0, 1], a stratified 25% held out.

# %%
data = load_digits_split(SEED)
print("train", tuple(data.x_train.shape), "test", tuple(data.x_test.shape))

fig, axes = plt.subplots(1, 10, figsize=(10, 1.3))
for ax, image, label in zip(axes, data.x_train[:10], data.y_train[:10], strict=True):
    ax.imshow(image.reshape(8, 8), cmap="gray_r")
    ax.set(title=int(label), xticks=[], yticks=[])
plt.show()

# %% [markdown]
# Training is the usual loop: a minibatch, the cross-entropy of the logits, a gradient, an Adam step.
# `circuitlab.training.fit` is that loop (Adam, `lr = 1e-2`); `minibatches` draws seeded batches of 64.
# 400 steps is what `circuitlab reproduce` runs for this claim (the quick profile).

# %%
STEPS = 400
torch.manual_seed(SEED)
model = cl.nets.MLP([64, 64, 10], activation="sigmoid", activate_output=False)


def accuracy(net: cl.nets.MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (net(x).argmax(-1) == y).float().mean().item()


def loss_fn(idx: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])


curve: list[tuple[int, float]] = []


def on_step(step: int, loss: float) -> None:
    if step % 20 == 0:
        curve.append((step, accuracy(model, data.x_test, data.y_test)))


batches = minibatches(len(data.y_train), 64, STEPS, torch.Generator().manual_seed(SEED))
losses = fit(model, loss_fn, batches, STEPS, 1e-2, on_step=on_step)
test_accuracy = accuracy(model, data.x_test, data.y_test)
print(f"held-out accuracy after {STEPS} steps: {test_accuracy:.4f} (the claim asks >= {mlp.GOAL})")

fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3))
a.plot(losses)
a.set(xlabel="step", ylabel="training cross-entropy", yscale="log")
b.plot(*zip(*curve, strict=True), marker="o")
b.axhline(mlp.GOAL, color="gray", ls="--")
b.set(xlabel="step", ylabel="held-out accuracy")
plt.show()
assert test_accuracy >= mlp.GOAL

# %% [markdown]
# This is the claim's own measurement: `circuitlab.experiments.classic.mlp.measure` (what
# `circuitlab reproduce` calls) trains the same model on the same batches, and reports the same number.

# %%
ctx = RunContext(out_dir=Path(tempfile.mkdtemp()), seed=SEED)
claim_run = mlp.measure(ctx, STEPS, hidden=64)
print(f"the mlp claim's held-out accuracy: {claim_run.test_accuracy:.4f}")
assert claim_run.test_accuracy == test_accuracy

# %% [markdown]
# Which digits does it get wrong? The held-out images it misclassifies, with what it predicted:

# %%
with torch.no_grad():
    predicted = model(data.x_test).argmax(-1)
wrong = (predicted != data.y_test).nonzero().flatten()
print(f"{len(wrong)} of {len(data.y_test)} held-out digits wrong")
fig, axes = plt.subplots(1, min(10, len(wrong)), figsize=(10, 1.5), squeeze=False)
for ax, i in zip(axes[0], wrong[:10], strict=False):
    ax.imshow(data.x_test[i].reshape(8, 8), cmap="gray_r")
    ax.set(title=f"{int(data.y_test[i])} -> {int(predicted[i])}", xticks=[], yticks=[])
plt.show()

# %% [markdown]
# ## Exercises
#
# **1.** Keep the seed's weights `w = [1, 0, 0, 0, 0]`. Which bias makes the neuron answer **0.9** for
# input 1? Build that perceptron with `cl.nets.Perceptron(w, b)` and check it prints `0.9000`.

# %% tags=["solution"] jupyter={"source_hidden": true}
# sigmoid(1 + b) = 0.9  <=>  1 + b = logit(0.9) = log(0.9 / 0.1)
b_09 = torch.logit(torch.tensor(0.9)).item() - 1.0
neuron_09 = cl.nets.Perceptron(torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float16), b_09)
print(f"b = {b_09:.4f}: {neuron_09(X1)}")
assert f"{neuron_09(X1).item():.4f}" == "0.9000"

# %% [markdown]
# **2.** The seed's `LayerPerceptron` printed `[0.2380, 0.0548, 0.3006]` for input 1 and
# `[0.7495, 0.1141, 0.4705]` for input 2, from random weights we cannot recover. Set the weights of
# `cl.nets.MLP(sizes=[5, 3])` (with `b = 0`) so that it prints exactly those numbers.
# *Hint:* a one-hot input reads one row of `W`.

# %% tags=["solution"] jupyter={"source_hidden": true}
seed_1, seed_2 = torch.tensor([0.2380, 0.0548, 0.3006]), torch.tensor([0.7495, 0.1141, 0.4705])
copy = cl.nets.MLP(sizes=[5, 3], activation="sigmoid")
with torch.no_grad():
    copy.layers[0].W.zero_()
    copy.layers[0].b.zero_()
    copy.layers[0].W[0] = torch.logit(seed_1)  # e_1 reads row 1
    copy.layers[0].W[2] = torch.logit(seed_2)  # e_3 reads row 3
out = copy.forward_columns(X.T)
print(out)
assert torch.equal(out.T.round(decimals=4), torch.stack([seed_1, seed_2]))

# %% [markdown]
# **3.** Remove the hidden layer: train `cl.nets.MLP([64, 10], activate_output=False)` (multinomial
# logistic regression) with the same loop. How much held-out accuracy does the hidden layer buy?

# %% tags=["solution"] jupyter={"source_hidden": true}
torch.manual_seed(SEED)
linear = cl.nets.MLP([64, 10], activation="sigmoid", activate_output=False)
batches = minibatches(len(data.y_train), 64, STEPS, torch.Generator().manual_seed(SEED))
fit(linear, lambda idx: F.cross_entropy(linear(data.x_train[idx]), data.y_train[idx]), batches, STEPS, 1e-2)
linear_accuracy = accuracy(linear, data.x_test, data.y_test)
print(f"no hidden layer: {linear_accuracy:.4f}; one sigmoid layer of 64: {test_accuracy:.4f}")
assert 0.85 <= linear_accuracy <= test_accuracy  # the digits are nearly linearly separable
