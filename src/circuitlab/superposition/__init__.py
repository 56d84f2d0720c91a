"""Superposition: toy models that store more features than dimensions (Elhage et al. 2022),
the measures of how they do it, and a sparse autoencoder that undoes it."""

from circuitlab.superposition.metrics import (
    FRACTIONS,
    dimensions_per_feature,
    feature_dimensionality,
    feature_norms,
    gram,
    interference,
    nearest_fraction,
    represented_features,
)
from circuitlab.superposition.sae import (
    SAEConfig,
    SAELoss,
    SAEOutput,
    SparseAutoencoder,
    fraction_variance_explained,
    max_cosine_similarity,
)
from circuitlab.superposition.sae_train import (
    SAEMetrics,
    SAETrainResult,
    collect_activations,
    evaluate_sae,
    train_sae,
    train_sae_on_activations,
)
from circuitlab.superposition.toy_model import (
    ToyModel,
    ToyModelConfig,
    geometric_importance,
    sparsity_sweep,
)
from circuitlab.superposition.train import ToyTrainResult, train_toy_model

__all__ = [
    "FRACTIONS",
    "SAEConfig",
    "SAELoss",
    "SAEMetrics",
    "SAEOutput",
    "SAETrainResult",
    "SparseAutoencoder",
    "collect_activations",
    "evaluate_sae",
    "fraction_variance_explained",
    "max_cosine_similarity",
    "train_sae",
    "train_sae_on_activations",
    "ToyModel",
    "ToyModelConfig",
    "ToyTrainResult",
    "dimensions_per_feature",
    "feature_dimensionality",
    "feature_norms",
    "geometric_importance",
    "gram",
    "interference",
    "nearest_fraction",
    "represented_features",
    "sparsity_sweep",
    "train_toy_model",
]
