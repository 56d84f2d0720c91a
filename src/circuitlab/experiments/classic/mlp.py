"""The seed's claims about the classic nets, each a function ``f(ctx) -> ClaimResult``.

``perceptron`` (the seed's cell, 0.8176 / 0.6225), ``mlp_digits`` (an MLP on scikit-learn's
digits), ``memory`` (RNN vs LSTM on a recall task; in ``classic_memory``) and ``vae_digits`` (a VAE
on the digits; in ``classic_vae``). ``mlp``, ``lstm_memory`` and ``vae`` are the same functions
under their claim ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from circuitlab.experiments.base import ClaimResult, RunContext, timed, verdict
from circuitlab.experiments.classic_common import (
    load_digits_split,
    minibatches,
    pyplot,
    save_figure,
    seed_text,
)
from circuitlab.experiments.classic_memory import MemoryResult, memory
from circuitlab.experiments.classic_vae import VAEResult, vae_digits
from circuitlab.nets import MLP, Perceptron

__all__ = [
    "MLPResult",
    "MemoryResult",
    "PerceptronResult",
    "VAEResult",
    "lstm_memory",
    "memory",
    "mlp",
    "mlp_digits",
    "perceptron",
    "vae",
    "vae_digits",
]

SEED_PERCEPTRON = seed_text(
    "The prediction for input 1 is tensor([0.8176], grad_fn=<MulBackward0>).",
    "The prediction for input 2 is tensor([0.6225], grad_fn=<MulBackward0>).",
)
SEED_MLP = seed_text(
    "A multilayer perceptron is the typical ANN. It consists of multiple neurons organized in a layer",
    "and those layers combine sequentially into a network.",
)


@dataclass
class PerceptronResult(ClaimResult):
    """The seed cell's two outputs, and the ones measured here."""

    predictions: list[float] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)


@dataclass
class MLPResult(ClaimResult):
    test_accuracy: float = 0.0
    steps: int = 0


def perceptron(ctx: RunContext) -> PerceptronResult:
    """The seed's neuron, w = [1,0,0,0,0] (float16), b = 0.5: outputs 0.8176 and 0.6225."""
    with timed() as elapsed:
        ctx.report(0.0, "perceptron: the seed's cell")
        p = Perceptron.seed()
        x1 = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float16)
        x2 = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float16)
        with torch.no_grad():
            y = [p(x1).item(), p(x2).item()]
        expected = [0.8176, 0.6225]
        shown = [float(f"{v:.4f}") for v in y]
        ok = shown == expected
        ctx.report(1.0, "perceptron: done")
    return PerceptronResult(
        id="perceptron",
        seed=SEED_PERCEPTRON,
        measured={"prediction_1": y[0], "prediction_2": y[1], "printed_1": shown[0], "printed_2": shown[1]},
        threshold="both outputs, printed to 4 decimals as PyTorch does, equal the seed's 0.8176 and 0.6225",
        verdict=verdict(ok),
        seconds=elapsed(),
        ran="Perceptron(w=[1,0,0,0,0] float16, b=[0.5]) on x1=e1 and x2=e3, float16 inputs as in the seed",
        tables={
            "outputs": [["input", "seed", "measured"], ["x1", 0.8176, shown[0]], ["x2", 0.6225, shown[1]]]
        },
        predictions=y,
        expected=expected,
    )


def _train_mlp(ctx: RunContext, steps: int, hidden: int) -> tuple[MLP, list[float], list[float]]:
    """Adam on cross-entropy; returns the model and its training-loss / test-accuracy curves."""
    torch.manual_seed(ctx.seed)
    data = load_digits_split(ctx.seed, device=ctx.device)
    model = MLP([64, hidden, 10], activation="sigmoid", activate_output=False).to(ctx.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(ctx.seed)
    losses, accs = [], []
    for step, idx in enumerate(minibatches(len(data.y_train), 64, steps, gen)):
        idx = idx.to(ctx.device)
        loss = F.cross_entropy(model(data.x_train[idx]), data.y_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if (step + 1) % max(1, steps // 20) == 0 or step + 1 == steps:
            accs.append(_accuracy(model, data.x_test, data.y_test))
            ctx.report((step + 1) / steps, f"mlp: step {step + 1}/{steps} loss {loss.item():.3f}")
    return model, losses, accs


def _accuracy(model: MLP, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(-1) == y).float().mean().item()


def mlp_digits(ctx: RunContext, steps: int | None = None, hidden: int = 64) -> MLPResult:
    """An MLP (64 -> hidden sigmoid -> 10) on scikit-learn's digits; held-out accuracy >= 0.95."""
    steps = steps or (400 if ctx.profile == "quick" else 2000)
    with timed() as elapsed:
        model, losses, accs = _train_mlp(ctx, steps, hidden)
        data = load_digits_split(ctx.seed, device=ctx.device)
        test_acc = _accuracy(model, data.x_test, data.y_test)
        train_acc = _accuracy(model, data.x_train, data.y_train)
        plt = pyplot()
        fig, (a, b) = plt.subplots(1, 2, figsize=(8, 3))
        a.plot(losses)
        a.set(xlabel="step", ylabel="training cross-entropy", yscale="log")
        b.plot(torch.linspace(0, steps, len(accs)).tolist(), accs, marker="o")
        b.axhline(0.95, color="gray", ls="--")
        b.set(xlabel="step", ylabel="held-out accuracy")
        figure = save_figure(ctx, fig, "mlp_digits")
    return MLPResult(
        id="mlp",
        seed=SEED_MLP,
        measured={
            "test_accuracy": test_acc,
            "train_accuracy": train_acc,
            "steps": steps,
            "n_test": len(data.y_test),
        },
        threshold="held-out accuracy >= 0.95 on a stratified 25% split of load_digits",
        verdict=verdict(test_acc >= 0.95),
        seconds=elapsed(),
        ran=f"MLP([64, {hidden}, 10], sigmoid), Adam lr 1e-2, batch 64, {steps} steps, seed {ctx.seed}",
        figures={"MLP on digits: training loss and held-out accuracy": figure},
        test_accuracy=test_acc,
        steps=steps,
    )


# the same functions under the claim ids of experiments.registry
mlp = mlp_digits
lstm_memory = memory
vae = vae_digits
