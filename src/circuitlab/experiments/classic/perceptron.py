"""The seed's perceptron cell: ``y = sigmoid(w . x + b)``, w = [1,0,0,0,0] (float16), b = 0.5.

The seed prints ``tensor([0.8176])`` for x1 = e1 (sigmoid(1.5)) and ``tensor([0.6225])`` for
x2 = e3 (sigmoid(0.5)).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from circuitlab.experiments.base import ClaimResult, Judgement, RunContext
from circuitlab.nets import Perceptron

SEED_OUTPUTS = [0.8176, 0.6225]


@dataclass
class PerceptronResult(ClaimResult):
    """The seed cell's two outputs, and the ones measured here."""

    predictions: list[float] = field(default_factory=list)
    expected: list[float] = field(default_factory=list)


def perceptron(ctx: RunContext) -> PerceptronResult:
    """The seed's neuron on e1 and e3: outputs 0.8176 and 0.6225, printed as PyTorch prints them."""
    outputs = measure(ctx)
    return render(outputs, judge(outputs))


def measure(ctx: RunContext) -> list[float]:
    """The seed's neuron on x1 = e1 and x2 = e3, float16 inputs as in the seed."""
    ctx.report(0.0, "perceptron: the seed's cell")
    p = Perceptron.seed()
    x1 = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.0], dtype=torch.float16)
    x2 = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0], dtype=torch.float16)
    with torch.no_grad():
        outputs = [p(x1).item(), p(x2).item()]
    ctx.report(1.0, "perceptron: done")
    return outputs


def printed(outputs: list[float]) -> list[float]:
    """The values as ``print(tensor)`` shows them: 4 decimals."""
    return [float(f"{v:.4f}") for v in outputs]


def judge(outputs: list[float]) -> Judgement:
    return Judgement(
        {"the seed's outputs": printed(outputs) == SEED_OUTPUTS},
        "both outputs, printed to 4 decimals as PyTorch does, equal the seed's 0.8176 and 0.6225",
    )


def render(outputs: list[float], judgement: Judgement) -> PerceptronResult:
    shown = printed(outputs)
    return PerceptronResult(
        measured={
            "prediction_1": outputs[0],
            "prediction_2": outputs[1],
            "printed_1": shown[0],
            "printed_2": shown[1],
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran="Perceptron(w=[1,0,0,0,0] float16, b=[0.5]) on x1=e1 and x2=e3, float16 inputs as in the seed",
        tables={
            "outputs": [["input", "seed", "measured"], ["x1", 0.8176, shown[0]], ["x2", 0.6225, shown[1]]]
        },
        predictions=outputs,
        expected=list(SEED_OUTPUTS),
    )
