"""Toy models trained at a sweep of sparsities, several restarts each, the lowest-loss one kept.

Toy models have local minima (as the paper notes), so ``restarts`` instances share each feature
probability and the one with the lowest loss on one shared evaluation batch (at least 32768
draws) is kept. All ``len(probabilities) * restarts`` instances train at once (one ToyModel).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from circuitlab.superposition import ToyModel, train_toy_model
from circuitlab.superposition.toy_model import ToyActivation
from circuitlab.typing import Float, Tensor


@dataclass(frozen=True)
class ToySweep:
    """What to train: ``n_features`` into ``d_hidden`` at each feature probability, ``restarts``
    instances each; ``importance`` per feature (None: uniform)."""

    n_features: int
    d_hidden: int
    probabilities: tuple[float, ...]
    importance: tuple[float, ...] | None = None
    restarts: int = 1
    activation: ToyActivation = "relu"


@dataclass
class RestartRun:
    """The best restart at each sparsity: ``W: [n_sparsities, d_hidden, n_features]``, its loss
    (on one shared evaluation batch), and the loss of every restart ``[n_sparsities, restarts]``."""

    W: Float[Tensor, "n_sparsities d_hidden n_features"]
    b: Float[Tensor, "n_sparsities n_features"]
    loss: Float[Tensor, " n_sparsities"]
    all_losses: Float[Tensor, "n_sparsities restarts"]
    probabilities: list[float]
    seconds: float


def train_with_restarts(
    sweep: ToySweep, steps: int, batch: int, *, seed: int, device: str = "cpu", lr: float = 1e-3
) -> RestartRun:
    """Train every instance of ``sweep`` (Adam, ``steps`` of ``batch``) and keep the best restart."""
    probs, restarts = list(sweep.probabilities), sweep.restarts
    per_instance = [p for p in probs for _ in range(restarts)]
    importance = None if sweep.importance is None else list(sweep.importance)
    model = ToyModel(
        sweep.n_features, sweep.d_hidden, len(per_instance), importance, per_instance,
        activation=sweep.activation, generator=torch.Generator().manual_seed(seed),
    ).to(device)  # fmt: skip
    result = train_toy_model(model, steps=steps, batch=batch, lr=lr, seed=seed)
    with torch.no_grad():
        gen = torch.Generator(device=device).manual_seed(seed + 1)
        x = model.generate_batch(max(batch, 32768), gen)
        losses = model.loss_per_instance(x, model(x)).view(len(probs), restarts).cpu()
    best = losses.argmin(-1)
    index = torch.arange(len(probs)) * restarts + best
    return RestartRun(
        W=model.W.detach().cpu()[index],
        b=model.b_final.detach().cpu()[index],
        loss=losses.gather(-1, best[:, None])[:, 0],
        all_losses=losses,
        probabilities=probs,
        seconds=result.seconds,
    )
