"""The seed's VAE claim: a VAE on scikit-learn's 8x8 digits generates digits from its latent space.

Passes when (a) the test-set negative ELBO is at least 25% below that of the same model untrained,
and (b) samples from the prior z ~ N(0, I) lie closer to the digits than noise does: the mean
distance from a sample to its nearest training digit is below that of "noise" images whose
pixels are drawn independently from the data's own per-pixel distribution (each pixel column of
the test set shuffled separately).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext, save_figure
from circuitlab.experiments.classic.digits import Digits, load_digits_split, minibatches
from circuitlab.nets import VAE
from circuitlab.report.figures import pyplot
from circuitlab.training.fit import fit


@dataclass
class VAEResult(ClaimResult):
    test_neg_elbo: float = 0.0
    untrained_neg_elbo: float = 0.0


@dataclass(frozen=True)
class VAERun:
    """The trained VAE, its -ELBO (total, reconstruction, KL) before and after, sample distances."""

    model: VAE
    data: Digits
    steps: int
    sizes: tuple[int, int]  # (d_hidden, d_latent)
    before: tuple[float, float, float]
    after: tuple[float, float, float]
    curve: list[float]
    test_curve: list[tuple[int, float]]
    samples: torch.Tensor
    distances: dict[str, float]  # mean distance to the nearest training digit, per kind of image


def vae_digits(
    ctx: RunContext, steps: int | None = None, d_hidden: int = 128, d_latent: int = 2
) -> VAEResult:
    """Train ``VAE(64, d_hidden, d_latent)`` on the digits; ELBO curve, reconstructions, samples, latent map."""
    run = measure(ctx, steps or (1500 if ctx.profile == "quick" else 8000), d_hidden, d_latent)
    return render(ctx, run, judge(run))


@torch.no_grad()
def neg_elbo(model: VAE, x: torch.Tensor, seed: int) -> tuple[float, float, float]:
    terms = model.loss_terms(x, generator=torch.Generator(x.device).manual_seed(seed))
    return terms.total.item(), terms.reconstruction.item(), terms.kl.item()


def nearest_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over rows of ``a`` of the Euclidean distance to the nearest row of ``b``."""
    return torch.cdist(a, b).min(dim=1).values.mean().item()


def measure(ctx: RunContext, steps: int, d_hidden: int, d_latent: int) -> VAERun:
    torch.manual_seed(ctx.seed)
    data = load_digits_split(ctx.seed, device=ctx.device)
    model = VAE(64, d_hidden, d_latent).to(ctx.device)
    before = neg_elbo(model, data.x_test, ctx.seed)
    noise = torch.Generator(ctx.device).manual_seed(ctx.seed + 1)
    test_curve: list[tuple[int, float]] = []

    def on_step(step: int, loss: float) -> None:
        if step % max(1, steps // 20) == 0 or step == steps:
            test_curve.append((step, neg_elbo(model, data.x_test, ctx.seed)[0]))
            ctx.report(step / steps, f"vae: step {step}/{steps} -ELBO {loss:.2f}")

    batches = minibatches(len(data.x_train), 128, steps, torch.Generator().manual_seed(ctx.seed))
    loss_fn = lambda idx: model.loss(data.x_train[idx.to(ctx.device)], generator=noise)  # noqa: E731
    curve = fit(model, loss_fn, batches, steps, 3e-3, on_step=on_step)
    after = neg_elbo(model, data.x_test, ctx.seed)
    samples = model.sample(len(data.x_test), generator=torch.Generator(ctx.device).manual_seed(ctx.seed))
    g = torch.Generator().manual_seed(ctx.seed)
    shuffled = [
        data.x_test[torch.randperm(len(data.x_test), generator=g).to(ctx.device), j] for j in range(64)
    ]
    distances = {
        "sample": nearest_distance(samples, data.x_train),
        "noise": nearest_distance(torch.stack(shuffled, dim=1), data.x_train),
        "test": nearest_distance(data.x_test, data.x_train),
    }
    return VAERun(
        model, data, steps, (d_hidden, d_latent), before, after, curve, test_curve, samples, distances
    )


def judge(run: VAERun) -> Judgement:
    return Judgement(
        {
            "ELBO improved": run.after[0] <= 0.75 * run.before[0],
            "samples look like digits": run.distances["sample"] < run.distances["noise"],
        },
        "test negative ELBO <= 0.75 x the untrained model's, and prior samples closer to "
        "their nearest training digit (mean L2) than per-pixel-shuffled test digits are",
    )


def render(ctx: RunContext, run: VAERun, judgement: Judgement) -> VAEResult:
    d = run.distances
    return VAEResult(
        measured={
            "test_neg_elbo": run.after[0],
            "test_reconstruction": run.after[1],
            "test_kl": run.after[2],
            "untrained_test_neg_elbo": run.before[0],
            "sample_to_nearest_digit": d["sample"],
            "noise_to_nearest_digit": d["noise"],
            "test_digit_to_nearest_train_digit": d["test"],
            "steps": run.steps,
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=(
            f"VAE(64, {run.sizes[0]}, {run.sizes[1]}), Bernoulli decoder on pixels/16, "
            f"Adam lr 3e-3, batch 128, {run.steps} steps, seed {ctx.seed}"
        ),
        figures=figures(ctx, run),
        tables={
            "negative ELBO on the test set (nats per image)": [
                ["model", "-ELBO", "reconstruction", "KL"],
                ["untrained", *run.before],
                ["trained", *run.after],
            ]
        },
        test_neg_elbo=run.after[0],
        untrained_neg_elbo=run.before[0],
    )


def figures(ctx: RunContext, run: VAERun) -> dict[str, str]:
    """ELBO curve, reconstructions of 10 test digits, 32 prior samples, the 2-D latent map."""
    plt, data = pyplot(), run.data
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(run.curve, lw=0.7, label="train batch")
    ax.plot(*zip(*run.test_curve, strict=False), marker="o", label="test set")
    ax.set(xlabel="step", ylabel="negative ELBO (nats per image)")
    ax.legend()
    figs = {"VAE: negative ELBO during training": save_figure(ctx, fig, "classic", "vae_elbo")}
    with torch.no_grad():
        mu, _ = run.model.encode(data.x_test)
        recon = run.model.decode(mu[:10]).cpu()
    pairs = [(data.x_test[j].cpu(), recon[j]) for j in range(10)]
    fig = image_grid([img for row in zip(*pairs, strict=True) for img in row], 2, 10, (10, 2.2))
    fig.suptitle("test digits (top) and their reconstructions from mu (bottom)")
    figs["VAE: reconstructions"] = save_figure(ctx, fig, "classic", "vae_reconstructions")
    fig = image_grid(list(run.samples[:32].cpu()), 4, 8, (8, 4.2))
    fig.suptitle("samples from the prior z ~ N(0, I)")
    figs["VAE: samples from the prior"] = save_figure(ctx, fig, "classic", "vae_samples")
    fig, ax = plt.subplots(figsize=(5, 4.5))
    pts = ax.scatter(*mu[:, :2].cpu().numpy().T, c=data.y_test.cpu().numpy(), cmap="tab10", s=8)
    fig.colorbar(pts, ax=ax, label="digit")
    ax.set(xlabel="mu_1", ylabel="mu_2", title="test set in the latent space")
    figs["VAE: 2-D latent map of the test set"] = save_figure(ctx, fig, "classic", "vae_latent_map")
    return figs


def image_grid(images: list[torch.Tensor], rows: int, cols: int, size: tuple[float, float]):
    """``rows x cols`` 8x8 images (row by row), gray, pixel values in [0, 1], no axes."""
    fig, axes = pyplot().subplots(rows, cols, figsize=size)
    for ax, img in zip(axes.flat, images, strict=False):
        ax.imshow(img.view(8, 8).numpy(), cmap="gray_r", vmin=0, vmax=1)
        ax.axis("off")
    return fig
