"""Sparse autoencoders as the field uses them now: ReLU+L1, TopK+AuxK and JumpReLU+L0, one
``SAEConfig(architecture=...)``, activation stores, training, evaluation (L0, variance explained,
CE loss recovered), ``run_with_saes`` and SAELens's folder layout (circuitlab.interop.saelens).

``relu.py``, ``topk.py``, ``jumprelu.py`` hold each architecture's equations; ``model.py`` the
SparseAutoencoder they share; ``store.py``/``shards.py`` the activations; ``train.py``,
``train_model.py``, ``resample.py`` training; ``evaluate.py``, ``splice.py`` evaluation;
``tokens.py`` the tokens latents fire on; ``features.py`` the data of a feature dashboard.
"""

from circuitlab.superposition.sae.config import ARCHITECTURES, SAEConfig
from circuitlab.superposition.sae.evaluate import (
    SAEMetrics,
    SplicedCE,
    evaluate_sae,
    fraction_variance_explained,
    max_cosine_similarity,
    spliced_ce,
)
from circuitlab.superposition.sae.features import Context, LatentDashboard, latent_dashboards
from circuitlab.superposition.sae.model import SAELoss, SAEOutput, SparseAutoencoder
from circuitlab.superposition.sae.shards import ShardStore, write_shards
from circuitlab.superposition.sae.splice import run_with_cache_with_saes, run_with_saes
from circuitlab.superposition.sae.store import ActivationStore, collect_activations, read_hook
from circuitlab.superposition.sae.train import SAETrainer, SAETrainResult, StepStats, train_sae_on_activations
from circuitlab.superposition.sae.train_model import train_sae, train_sae_on_store

__all__ = [
    "ARCHITECTURES",
    "ActivationStore",
    "Context",
    "LatentDashboard",
    "SAEConfig",
    "SAELoss",
    "SAEMetrics",
    "SAEOutput",
    "SAETrainResult",
    "SAETrainer",
    "ShardStore",
    "SparseAutoencoder",
    "SplicedCE",
    "StepStats",
    "collect_activations",
    "evaluate_sae",
    "fraction_variance_explained",
    "latent_dashboards",
    "max_cosine_similarity",
    "read_hook",
    "run_with_cache_with_saes",
    "run_with_saes",
    "spliced_ce",
    "train_sae",
    "train_sae_on_activations",
    "train_sae_on_store",
    "write_shards",
]
