"""A multilayer perceptron learns digits: MLP 64 -> hidden (sigmoid) -> 10 on scikit-learn's digits.

Trained with Adam (lr 1e-2) on cross-entropy, batches of 64; passes with held-out accuracy >= 0.95
on a stratified 25% split.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext, save_figure
from circuitlab.experiments.classic.digits import load_digits_split, minibatches
from circuitlab.nets import MLP
from circuitlab.report.figures import pyplot
from circuitlab.training.fit import fit

GOAL = 0.95


@dataclass
class MLPResult(ClaimResult):
    test_accuracy: float = 0.0
    steps: int = 0


@dataclass(frozen=True)
class MLPRun:
    """A trained MLP's curves (loss every step, held-out accuracy 20 times) and final accuracies."""

    hidden: int
    steps: int
    losses: list[float]
    accuracies: list[float]
    test_accuracy: float
    train_accuracy: float
    n_test: int


def mlp_digits(ctx: RunContext, steps: int | None = None, hidden: int = 64) -> MLPResult:
    """An MLP (64 -> hidden sigmoid -> 10) on the digits; held-out accuracy >= 0.95."""
    run = measure(ctx, steps or (400 if ctx.profile == "quick" else 2000), hidden)
    return render(ctx, run, judge(run))


def accuracy(model: MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


def measure(ctx: RunContext, steps: int, hidden: int) -> MLPRun:
    torch.manual_seed(ctx.seed)
    data = load_digits_split(ctx.seed, device=ctx.device)
    model = MLP([64, hidden, 10], activation="sigmoid", activate_output=False).to(ctx.device)
    accs: list[float] = []

    def loss_fn(idx: torch.Tensor) -> torch.Tensor:
        idx = idx.to(ctx.device)
        return F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])

    def on_step(step: int, loss: float) -> None:
        if step % max(1, steps // 20) == 0 or step == steps:
            accs.append(accuracy(model, data.x_test, data.y_test))
            ctx.report(step / steps, f"mlp: step {step}/{steps} loss {loss:.3f}")

    gen = torch.Generator().manual_seed(ctx.seed)
    losses = fit(model, loss_fn, minibatches(len(data.y_train), 64, steps, gen), steps, 1e-2, on_step=on_step)
    test, train = accuracy(model, data.x_test, data.y_test), accuracy(model, data.x_train, data.y_train)
    return MLPRun(hidden, steps, losses, accs, test, train, len(data.y_test))


def judge(run: MLPRun) -> Judgement:
    return Judgement(
        {"held-out accuracy": run.test_accuracy >= GOAL},
        "held-out accuracy >= 0.95 on a stratified 25% split of load_digits",
    )


def render(ctx: RunContext, run: MLPRun, judgement: Judgement) -> MLPResult:
    plt = pyplot()
    fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
    a.plot(run.losses)
    a.set(xlabel="step", ylabel="training cross-entropy", yscale="log")
    b.plot(torch.linspace(0, run.steps, len(run.accuracies)).tolist(), run.accuracies, marker="o")
    b.axhline(GOAL, color="gray", ls="--")
    b.set(xlabel="step", ylabel="held-out accuracy")
    figure = save_figure(ctx, fig, "classic", "mlp_digits")
    return MLPResult(
        measured={
            "test_accuracy": run.test_accuracy,
            "train_accuracy": run.train_accuracy,
            "steps": run.steps,
            "n_test": run.n_test,
        },  # fmt: skip
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=f"MLP([64, {run.hidden}, 10], sigmoid), Adam lr 1e-2, batch 64, {run.steps} steps, seed {ctx.seed}",
        figures={"MLP on digits: training loss and held-out accuracy": figure},
        test_accuracy=run.test_accuracy,
        steps=run.steps,
    )
