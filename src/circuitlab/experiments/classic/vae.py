"""The seed's VAE claim: a VAE on scikit-learn's 8x8 digits generates digits from its latent space.

Pass criterion (stated in ``threshold``): after training, (a) the test-set negative ELBO is at
least 25% below that of the same model untrained, and (b) samples from the prior lie closer to
the digits than noise does: the mean distance from a sample to its nearest training digit is
below that of "noise" images whose pixels are drawn independently from the data's own per-pixel
distribution (each pixel column of the test set shuffled separately).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from circuitlab.experiments.base import ClaimResult, RunContext, timed, verdict
from circuitlab.experiments.classic_common import (
    Digits,
    load_digits_split,
    minibatches,
    pyplot,
    save_figure,
    seed_text,
)
from circuitlab.nets import VAE

SEED_VAE = seed_text(
    "VAEs are designed to generate new data points by sampling from the learned latent space",
    "distributions, whereas traditional autoencoders primarily focus on reconstructing the input",
    "without a generative aspect.",
)


@dataclass
class VAEResult(ClaimResult):
    test_neg_elbo: float = 0.0
    untrained_neg_elbo: float = 0.0


@torch.no_grad()
def _neg_elbo(model: VAE, x: torch.Tensor, seed: int) -> tuple[float, float, float]:
    terms = model.loss_terms(x, generator=torch.Generator(x.device).manual_seed(seed))
    return terms.total.item(), terms.reconstruction.item(), terms.kl.item()


def _nearest_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over rows of ``a`` of the Euclidean distance to the nearest row of ``b``."""
    return torch.cdist(a, b).min(dim=1).values.mean().item()


def _train(
    ctx: RunContext, model: VAE, data: Digits, steps: int
) -> tuple[list[float], list[tuple[int, float]]]:
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(ctx.seed)
    noise = torch.Generator(ctx.device).manual_seed(ctx.seed + 1)
    curve, test_curve = [], []
    for step, idx in enumerate(minibatches(len(data.x_train), 128, steps, gen)):
        loss = model.loss(data.x_train[idx.to(ctx.device)], generator=noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        curve.append(loss.item())
        if (step + 1) % max(1, steps // 20) == 0 or step + 1 == steps:
            test_curve.append((step + 1, _neg_elbo(model, data.x_test, ctx.seed)[0]))
            ctx.report((step + 1) / steps, f"vae: step {step + 1}/{steps} -ELBO {loss.item():.2f}")
    return curve, test_curve


def _figures(ctx: RunContext, model: VAE, data: Digits, curve, test_curve, samples) -> dict[str, str]:
    plt, figs = pyplot(), {}
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(curve, lw=0.7, label="train batch")
    ax.plot(*zip(*test_curve, strict=False), marker="o", label="test set")
    ax.set(xlabel="step", ylabel="negative ELBO (nats per image)")
    ax.legend()
    figs["VAE: negative ELBO during training"] = save_figure(ctx, fig, "vae_elbo")
    with torch.no_grad():
        mu, _ = model.encode(data.x_test)
        recon = model.decode(mu[:10]).cpu()
    fig, axes = plt.subplots(2, 10, figsize=(10, 2.2))
    for j in range(10):
        for row, img in enumerate((data.x_test[j].cpu(), recon[j])):
            axes[row, j].imshow(img.view(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
            axes[row, j].axis("off")
    fig.suptitle("test digits (top) and their reconstructions from mu (bottom)")
    figs["VAE: reconstructions"] = save_figure(ctx, fig, "vae_reconstructions")
    fig, axes = plt.subplots(4, 8, figsize=(8, 4.2))
    for ax, img in zip(axes.flat, samples.cpu(), strict=False):
        ax.imshow(img.view(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    fig.suptitle("samples from the prior z ~ N(0, I)")
    figs["VAE: samples from the prior"] = save_figure(ctx, fig, "vae_samples")
    fig, ax = plt.subplots(figsize=(5, 4.5))
    pts = ax.scatter(*mu[:, :2].cpu().numpy().T, c=data.y_test.cpu().numpy(), cmap="tab10", s=8)
    fig.colorbar(pts, ax=ax, label="digit")
    ax.set(xlabel="mu_1", ylabel="mu_2", title="test set in the latent space")
    figs["VAE: 2-D latent map of the test set"] = save_figure(ctx, fig, "vae_latent_map")
    return figs


def vae_digits(
    ctx: RunContext, steps: int | None = None, d_hidden: int = 128, d_latent: int = 2
) -> VAEResult:
    """Train ``VAE(64, d_hidden, d_latent)`` on the digits; ELBO curve, reconstructions, samples, latent map."""
    steps = steps or (1500 if ctx.profile == "quick" else 8000)
    with timed() as elapsed:
        torch.manual_seed(ctx.seed)
        data = load_digits_split(ctx.seed, device=ctx.device)
        model = VAE(64, d_hidden, d_latent).to(ctx.device)
        before = _neg_elbo(model, data.x_test, ctx.seed)
        curve, test_curve = _train(ctx, model, data, steps)
        after = _neg_elbo(model, data.x_test, ctx.seed)
        samples = model.sample(len(data.x_test), generator=torch.Generator(ctx.device).manual_seed(ctx.seed))
        g = torch.Generator().manual_seed(ctx.seed)
        cols = [
            data.x_test[torch.randperm(len(data.x_test), generator=g).to(ctx.device), j] for j in range(64)
        ]
        noise = torch.stack(cols, dim=1)
        d_sample = _nearest_distance(samples, data.x_train)
        d_noise = _nearest_distance(noise, data.x_train)
        d_test = _nearest_distance(data.x_test, data.x_train)
        figures = _figures(ctx, model, data, curve, test_curve, samples[:32])
    ok_elbo, ok_samples = after[0] <= 0.75 * before[0], d_sample < d_noise
    return VAEResult(
        id="vae",
        seed=SEED_VAE,
        measured={
            "test_neg_elbo": after[0],
            "test_reconstruction": after[1],
            "test_kl": after[2],
            "untrained_test_neg_elbo": before[0],
            "sample_to_nearest_digit": d_sample,
            "noise_to_nearest_digit": d_noise,
            "test_digit_to_nearest_train_digit": d_test,
            "steps": steps,
        },
        threshold=(
            "test negative ELBO <= 0.75 x the untrained model's, and prior samples closer to "
            "their nearest training digit (mean L2) than per-pixel-shuffled test digits are"
        ),
        verdict=verdict(ok_elbo and ok_samples),
        seconds=elapsed(),
        ran=(
            f"VAE(64, {d_hidden}, {d_latent}), Bernoulli decoder on pixels/16, Adam lr 3e-3, batch 128, "
            f"{steps} steps, seed {ctx.seed}"
        ),
        figures=figures,
        tables={
            "negative ELBO on the test set (nats per image)": [
                ["model", "-ELBO", "reconstruction", "KL"],
                ["untrained", *before],
                ["trained", *after],
            ]
        },
        test_neg_elbo=after[0],
        untrained_neg_elbo=before[0],
    )
