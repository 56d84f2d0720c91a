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
# # 3. The variational autoencoder: reparameterisation, the ELBO, the latent space
#
# This notebook follows the seed's section **"# Variational Autoencoders"** (its parts "Architecture of
# VAEs" and "Features of VAEs", point 3, "Reparameterization Trick"). You will see:
#
# 1. the VAE's equations as `circuitlab.nets.VAE` writes them;
# 2. **why the reparameterisation trick is needed**: gradients flow through `z = mu + sigma * eps`, and
#    they do *not* flow through a plain `torch.distributions.Normal(mu, sigma).sample()` (checked with
#    asserts, down to the encoder's weights);
# 3. the negative ELBO (reconstruction + KL) computed by hand and checked against the library and against
#    `torch.distributions`;
# 4. training on scikit-learn's 8x8 digits (bundled, no download) to the number `circuitlab reproduce`
#    reports for the `vae` claim, then the 2-D latent map, a decoded sweep of the latent plane, and
#    samples from the prior that lie closer to real digits than noise does.
#
# Set `CIRCUITLAB_TUTORIAL_FAST=1` to train for fewer steps (the tests do); the numbers then differ.

# %%
import os

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from einops import rearrange
from torch.distributions import Normal, kl_divergence

import circuitlab as cl
from circuitlab.experiments.classic.digits import load_digits_split, minibatches

FAST = os.environ.get("CIRCUITLAB_TUTORIAL_FAST") == "1"
STEPS = 200 if FAST else 1500  # 1500: the `vae` claim's quick profile
if FAST:
    print(f"CIRCUITLAB_TUTORIAL_FAST=1: {STEPS} steps instead of 1500; numbers differ from the full run")
SEED = 0
torch.manual_seed(SEED)

# %% [markdown]
# ## The model
#
# The encoder maps an image `x` to a *distribution* over the latent space, `q(z | x) = N(mu, diag(sigma^2))`;
# the decoder maps a latent `z` back to pixel probabilities (a Bernoulli per pixel):
#
# ```
# h      = relu(W_1 x + b_1)
# mu     = W_mu h + b_mu,    logvar = W_logvar h + b_logvar     (logvar = log sigma^2)
# z      = mu + sigma * eps,  eps ~ N(0, I)                     (the reparameterisation)
# recon  = sigmoid(W_3 relu(W_2 z + b_2) + b_3)
# ```
#
# `VAE(d_in, d_hidden, d_latent)`: 64 pixels in, 128 hidden units, a 2-D latent space (so we can draw it).

# %%
model = cl.nets.VAE(64, 128, 2)
for name, p in model.named_parameters():
    print(f"{name:10s} {tuple(p.shape)}")
x = torch.rand(5, 64)
out = model(x)
print("recon", tuple(out.recon.shape), " mu", tuple(out.mu.shape), " logvar", tuple(out.logvar.shape))
assert out.recon.shape == x.shape and out.mu.shape == out.logvar.shape == out.z.shape == (5, 2)

# %% [markdown]
# ## The reparameterisation trick
#
# Training needs `d loss / d mu` and `d loss / d sigma`, but the loss depends on them through a *random draw*
# of `z`. Drawing `z ~ N(mu, sigma^2)` directly is not a differentiable operation: the sample is just a
# number, with no record of where it came from. The trick draws the randomness first, from a fixed
# distribution, and moves `mu` and `sigma` into a deterministic function:
#
# `z = mu + sigma * eps`, `eps ~ N(0, I)`, so `dz/dmu = 1` and `dz/dsigma = eps`.
#
# Below, `mu` and `logvar` are leaf tensors; `sigma = exp(logvar / 2)`, so `dz/dlogvar = sigma * eps / 2`.

# %%
mu = torch.tensor([[0.5, -1.0]], requires_grad=True)
logvar = torch.tensor([[0.2, -0.4]], requires_grad=True)
eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(1))  # the same eps the library draws
z = cl.nets.VAE.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(1))
z.sum().backward()
sigma = torch.exp(logvar.detach() / 2)
print("z            ", z.detach())
print("dz/dmu       ", mu.grad)
print("dz/dlogvar   ", logvar.grad, " = sigma * eps / 2 =", sigma * eps / 2)
assert torch.allclose(z.detach(), mu.detach() + sigma * eps)
assert torch.equal(mu.grad, torch.ones_like(mu))
assert torch.allclose(logvar.grad, sigma * eps / 2)

# %% [markdown]
# Now the same draw the "plain" way, with `torch.distributions`. `Normal(mu, sigma).sample()` runs under
# `torch.no_grad()`: the sample is cut off from `mu` and `logvar`, and asking for a gradient fails.
# (`rsample()`, the "r" for *reparameterised*, is torch's own version of the trick: it gives the gradients
# back.)

# %%
mu.grad, logvar.grad = None, None
q = Normal(mu, torch.exp(logvar / 2))
z_plain = q.sample()
print("plain sample: requires_grad =", z_plain.requires_grad, " grad_fn =", z_plain.grad_fn)
assert not z_plain.requires_grad and z_plain.grad_fn is None
try:
    z_plain.sum().backward()
    raise AssertionError("backward through a plain sample should fail")
except RuntimeError as err:
    print("backward through the plain sample:", str(err).splitlines()[0])

z_r = q.rsample()
z_r.sum().backward()
print("rsample: dz/dmu =", mu.grad)
assert torch.equal(mu.grad, torch.ones_like(mu)) and logvar.grad is not None

# %% [markdown]
# The same thing inside the model: the reconstruction term reaches the encoder's weights `W_mu`
# only through `z`. With the reparameterised `z` the encoder gets a gradient; with a plain sample it gets
# none at all (the only gradient left for `mu` would come from the KL term), so the encoder could never learn
# to encode.

# %%
x = torch.rand(16, 64, generator=torch.Generator().manual_seed(2)).round()  # a batch of binary "images"


def reconstruction_grad_of_W_mu(plain: bool) -> torch.Tensor | None:
    model.zero_grad(set_to_none=True)
    mu, logvar = model.encode(x)
    q = Normal(mu, torch.exp(logvar / 2))
    z = q.sample() if plain else q.rsample()
    reconstruction = F.binary_cross_entropy_with_logits(model.decode_logits(z), x, reduction="sum")
    reconstruction.backward()
    return model.W_mu.grad


g_reparam = reconstruction_grad_of_W_mu(plain=False)
g_plain = reconstruction_grad_of_W_mu(plain=True)
print("||d reconstruction / d W_mu||, reparameterised:", g_reparam.norm().item())
print("d reconstruction / d W_mu, plain sample:       ", g_plain)
assert g_reparam is not None and g_reparam.norm() > 0
assert g_plain is None  # the encoder is not even on the graph
assert model.W_2.grad is not None  # the decoder still learns, from either kind of sample

# %% [markdown]
# ## The ELBO
#
# The VAE maximises the evidence lower bound on `log p(x)`; circuitlab minimises its negative,
#
# `-ELBO = E_q[-log p(x | z)] + KL(q(z | x) || N(0, I))`,
#
# a reconstruction term (the Bernoulli negative log-likelihood of the pixels, estimated with one `z`) and a
# KL term that keeps `q(z | x)` near the prior. For two Gaussians the KL has a closed form,
# `KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - sigma_j^2)`. Below, both terms by hand against
# `model.loss_terms`, and the closed form against `torch.distributions.kl_divergence`.

# %%
with torch.no_grad():
    terms = model.loss_terms(x, generator=torch.Generator().manual_seed(3))
    out = model(x, generator=torch.Generator().manual_seed(3))  # the same eps, so the same z
    reconstruction = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").sum(1).mean()
    kl = (-0.5 * (1 + out.logvar - out.mu**2 - out.logvar.exp()).sum(1)).mean()
    kl_torch = kl_divergence(Normal(out.mu, torch.exp(out.logvar / 2)), Normal(0.0, 1.0)).sum(1).mean()
print(f"reconstruction {reconstruction:.4f} (library {terms.reconstruction:.4f})")
print(f"KL             {kl:.4f} (library {terms.kl:.4f}, torch.distributions {kl_torch:.4f})")
print(f"-ELBO          {reconstruction + kl:.4f} (library {terms.total:.4f})")
assert torch.allclose(reconstruction, terms.reconstruction) and torch.allclose(kl, terms.kl)
assert torch.allclose(kl, kl_torch, atol=1e-5)

# %% [markdown]
# ## Training on the digits
#
# scikit-learn's 1797 8x8 digits, pixels scaled to [0, 1], a stratified 75/25 split; Adam, learning rate
# 3e-3, batches of 128: the recipe of the `vae` claim of `circuitlab reproduce`
# (`circuitlab.experiments.classic.vae`), with the same seeds, so the full run lands on its number.

# %%
torch.manual_seed(SEED)
data = load_digits_split(SEED)
model = cl.nets.VAE(64, 128, 2)


@torch.no_grad()
def test_neg_elbo(model: cl.nets.VAE) -> float:
    return model.loss(data.x_test, generator=torch.Generator().manual_seed(SEED)).item()


before = test_neg_elbo(model)
noise = torch.Generator().manual_seed(SEED + 1)  # the eps of every training step
batches = minibatches(len(data.x_train), 128, STEPS, torch.Generator().manual_seed(SEED))
curve = cl.training.fit(
    model, lambda idx: model.loss(data.x_train[idx], generator=noise), batches, STEPS, 3e-3
)
after = test_neg_elbo(model)
print(f"test -ELBO: untrained {before:.2f}, after {STEPS} steps {after:.2f} nats per image")
print("circuitlab reproduce (quick profile, 1500 steps) reports 24.85 on its Xeon, 24.87 on an AMD EPYC")
plt.figure(figsize=(5, 3))
plt.plot(curve, lw=0.7)
plt.xlabel("step")
plt.ylabel("-ELBO of the batch (nats)")
plt.show()
assert after <= 0.75 * before  # the claim's threshold
if not FAST:
    assert abs(after - 24.86) < 0.5, after

# %% [markdown]
# Reconstructions of ten test digits (top) from their means `mu` (bottom): a 2-D code keeps the digit's
# rough shape, not its details.

# %%


def show_digits(images: torch.Tensor, title: str) -> None:
    """images [rows, cols, 64] drawn as one mosaic of 8x8 grey squares, a blank pixel between them."""
    rows, cols = images.shape[:2]
    tiles = F.pad(images.reshape(rows, cols, 8, 8), (0, 1, 0, 1))
    plt.figure(figsize=(cols * 0.8, rows * 0.8))
    plt.imshow(rearrange(tiles, "r c h w -> (r h) (c w)").numpy(), cmap="gray_r", vmin=0, vmax=1)
    plt.axis("off")
    plt.title(title)
    plt.show()


with torch.no_grad():
    mu_test, _ = model.encode(data.x_test)
    recon = model.decode(mu_test[:10])
show_digits(torch.stack([data.x_test[:10], recon]), "test digits and their reconstructions")

# %% [markdown]
# ## The latent map
#
# Each test digit's `mu`, coloured by its label: digits of one class gather, so the decoder can turn a point
# of the plane into a digit. Decoding a grid of points `z` in `[-2, 2]^2` shows what each region of the plane
# means.

# %%
fig, ax = plt.subplots(figsize=(5, 4.5))
pts = ax.scatter(*mu_test.T.numpy(), c=data.y_test.numpy(), cmap="tab10", s=8)
fig.colorbar(pts, ax=ax, label="digit")
ax.set(xlabel="mu_1", ylabel="mu_2", title="test digits in the latent space")
plt.show()

grid = torch.linspace(-2, 2, 9)
with torch.no_grad():
    sweep = torch.stack(
        [model.decode(torch.stack([grid, torch.full_like(grid, y)], 1)) for y in grid.flip(0)]
    )
show_digits(sweep, "decoded z on a 9 x 9 grid of [-2, 2]^2")

# %% [markdown]
# ## Samples
#
# What makes the VAE generative (the seed's "Generative Capability"): draw `z ~ N(0, I)` from the prior and
# decode it. The claim checks that the samples lie closer to real digits than noise does: the mean distance
# from each image to its nearest training digit, for samples and for "noise" images whose pixels are each
# drawn from the data's own per-pixel distribution (each pixel column of the test set shuffled separately).

# %%
samples = model.sample(len(data.x_test), generator=torch.Generator().manual_seed(SEED))
show_digits(samples[:32].view(4, 8, 64), "samples from the prior z ~ N(0, I)")


def nearest_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over the rows of a of the Euclidean distance to the nearest row of b."""
    return torch.cdist(a, b).min(dim=1).values.mean().item()


g = torch.Generator().manual_seed(SEED)
shuffled = torch.stack([data.x_test[torch.randperm(len(data.x_test), generator=g), j] for j in range(64)], 1)
d_sample, d_noise = nearest_distance(samples, data.x_train), nearest_distance(shuffled, data.x_train)
print(f"mean distance to the nearest training digit: samples {d_sample:.3f}, noise {d_noise:.3f}")
assert d_sample < d_noise

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** The closed-form KL is an expectation, `KL = E_q[log q(z | x) - log p(z)]`. Estimate it by
# Monte Carlo for the first test digit with 20,000 reparameterised samples (`Normal.rsample` and `log_prob`)
# and check that it matches the closed form within 2%.

# %% tags=["solution"] jupyter={"source_hidden": true}
with torch.no_grad():
    mu1, logvar1 = model.encode(data.x_test[:1])
    q1, prior = Normal(mu1, torch.exp(logvar1 / 2)), Normal(0.0, 1.0)
    torch.manual_seed(10)
    zs = q1.rsample((20_000,))  # [20000, 1, 2]
    kl_mc = (q1.log_prob(zs) - prior.log_prob(zs)).sum(-1).mean()
    kl_closed = (-0.5 * (1 + logvar1 - mu1**2 - logvar1.exp())).sum()
print(f"Monte Carlo KL {kl_mc:.4f}, closed form {kl_closed:.4f}")
assert abs(kl_mc - kl_closed) < 0.02 * kl_closed

# %% [markdown]
# **Exercise 2.** Gradients *can* be estimated through a plain sample, with the score-function (REINFORCE)
# estimator `d/dmu E[f(z)] = E[f(z) d/dmu log q(z)]`. For `z ~ N(mu, 1)` with `mu = 1.5` and `f(z) = z^2`, the
# true gradient is `2 mu = 3`. Estimate it with 5,000 samples both ways (score function from `sample()`,
# pathwise from `rsample()`); check that both means are within 0.2 of 3 and that the score-function estimator
# has at least 3x the variance per sample.

# %% tags=["solution"] jupyter={"source_hidden": true}
torch.manual_seed(11)
m = torch.full((5000,), 1.5, requires_grad=True)  # one copy of mu per sample: per-sample gradients
dist = Normal(m, 1.0)
z_s = dist.sample()  # no gradient path: differentiate log q instead
(score,) = torch.autograd.grad(dist.log_prob(z_s).sum(), m)
score_estimates = z_s**2 * score  # f(z) d/dmu log q(z)
z_p = dist.rsample()  # z = mu + eps: differentiate f(z) itself
(path_estimates,) = torch.autograd.grad((z_p**2).sum(), m)
print(f"score function: mean {score_estimates.mean():.3f}, variance {score_estimates.var():.2f}")
print(f"pathwise:       mean {path_estimates.mean():.3f}, variance {path_estimates.var():.2f}")
assert abs(score_estimates.mean() - 3) < 0.2 and abs(path_estimates.mean() - 3) < 0.2
assert score_estimates.var() > 3 * path_estimates.var()

# %% [markdown]
# **Exercise 3.** The ELBO is a *lower* bound on `log p(x)`. The importance-weighted bound with `K` samples,
# `log (1/K) sum_k p(x | z_k) p(z_k) / q(z_k | x)`, is tighter and tends to `log p(x)` as `K` grows. Compute
# it with `K = 64` over the test set and check that it is at least the ELBO (both as nats per image).

# %% tags=["solution"] jupyter={"source_hidden": true}
K = 64
with torch.no_grad():
    mu_t, logvar_t = model.encode(data.x_test)
    q_t = Normal(mu_t, torch.exp(logvar_t / 2))
    torch.manual_seed(12)
    zk = q_t.sample((K,))  # [K, n, 2]
    log_px_z = (
        -F.binary_cross_entropy_with_logits(
            model.decode_logits(zk.reshape(-1, 2)), data.x_test.repeat(K, 1), reduction="none"
        )
        .sum(-1)
        .view(K, -1)
    )
    log_w = log_px_z + Normal(0.0, 1.0).log_prob(zk).sum(-1) - q_t.log_prob(zk).sum(-1)
    iwae = (torch.logsumexp(log_w, 0) - torch.log(torch.tensor(float(K)))).mean()
    elbo = log_w.mean()  # the K = 1 bound, averaged over the K draws
print(f"ELBO {elbo:.3f}   importance-weighted bound (K={K}) {iwae:.3f} nats per image")
assert iwae >= elbo
