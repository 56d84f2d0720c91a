"""Sizes of the superposition reproductions per profile, and training with restarts."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from circuitlab.superposition import ToyModel, train_toy_model
from circuitlab.superposition.toy_model import ToyActivation

SEED_WORDS = (
    "Due to the dimensionality difference in the residual stream and other model components leading to "
    "bottleneck activations, superposition occurs where each dimension is not a unique interpretable "
    'feature (since important features like "London" are sparse) and it instead encodes a mix of '
    "features. The model thus finds a balance between trying to encode most features and being able to "
    "read them out easily."
)


@dataclass(frozen=True)
class Sizes:
    """How big each reproduction runs. ``restarts`` instances share each sparsity and the one with
    the lowest loss is kept (toy models have local minima, as the paper notes)."""

    pentagon_sparsities: int
    pentagon_restarts: int
    pentagon_steps: int
    sweep_sparsities: int
    sweep_p_min: float
    sweep_steps: int
    dim_features: int
    dim_hidden: int
    dim_sparsities: int
    dim_p_min: float
    dim_steps: int
    dim_batch: int
    sae_toy_steps: int
    sae_steps: int
    batch: int = 1024


PROFILES = {
    "quick": Sizes(
        pentagon_sparsities=5,
        pentagon_restarts=5,
        pentagon_steps=4000,
        sweep_sparsities=7,
        sweep_p_min=0.01,
        sweep_steps=4000,
        dim_features=30,
        dim_hidden=10,
        dim_sparsities=12,
        dim_p_min=0.2,
        dim_steps=4000,
        dim_batch=512,
        sae_toy_steps=3000,
        sae_steps=3000,
    ),
    "full": Sizes(
        pentagon_sparsities=10,
        pentagon_restarts=6,
        pentagon_steps=10_000,
        sweep_sparsities=12,
        sweep_p_min=0.002,
        sweep_steps=20_000,
        dim_features=60,
        dim_hidden=20,
        dim_sparsities=16,
        dim_p_min=0.2,
        dim_steps=20_000,
        dim_batch=1024,
        sae_toy_steps=10_000,
        sae_steps=10_000,
    ),
}


@dataclass
class RestartRun:
    """The best restart at each sparsity: ``W: [n_sparsities, d_hidden, n_features]``, its loss
    (on one shared evaluation batch), and the loss of every restart ``[n_sparsities, restarts]``."""

    W: Tensor
    b: Tensor
    loss: Tensor
    all_losses: Tensor
    probabilities: list[float]
    seconds: float


def train_with_restarts(
    n_features: int,
    d_hidden: int,
    probabilities: list[float],
    importance: list[float] | None,
    restarts: int,
    steps: int,
    batch: int,
    seed: int,
    device: str = "cpu",
    activation: ToyActivation = "relu",
    lr: float = 1e-3,
) -> RestartRun:
    """Train ``len(probabilities) * restarts`` instances at once and keep the lowest-loss restart
    at each probability."""
    per_instance = [p for p in probabilities for _ in range(restarts)]
    model = ToyModel(
        n_features,
        d_hidden,
        len(per_instance),
        importance,
        per_instance,
        activation=activation,
        generator=torch.Generator().manual_seed(seed),
    ).to(device)
    result = train_toy_model(model, steps=steps, batch=batch, lr=lr, seed=seed)
    with torch.no_grad():
        gen = torch.Generator(device=device).manual_seed(seed + 1)
        x = model.generate_batch(max(batch, 32768), gen)
        losses = model.loss_per_instance(x, model(x)).view(len(probabilities), restarts).cpu()
    best = losses.argmin(-1)
    index = torch.arange(len(probabilities)) * restarts + best
    return RestartRun(
        W=model.W.detach().cpu()[index],
        b=model.b_final.detach().cpu()[index],
        loss=losses.gather(-1, best[:, None])[:, 0],
        all_losses=losses,
        probabilities=list(probabilities),
        seconds=result.seconds,
    )
