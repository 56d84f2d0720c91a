"""How big each superposition reproduction runs, per profile ("quick": minutes on a CPU; "full")."""

from __future__ import annotations

from dataclasses import dataclass


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
