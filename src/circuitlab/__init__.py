"""circuitlab: canonical neural networks from their equations, and the transformer-circuits
toolkit to take them apart."""

from circuitlab import (
    circuits,
    data,
    errors,
    hooks,
    interop,
    nets,
    pretrained,
    superposition,
    training,
    transformer,
)
from circuitlab.hooks import ActivationCache, HookedModule, HookPoint
from circuitlab.pretrained import from_pretrained
from circuitlab.training.checkpoint import load, save
from circuitlab.transformer import Transformer, TransformerConfig
from circuitlab.transformer.sampling import generate

__version__ = "0.1.0"

__all__ = [
    "ActivationCache",
    "HookPoint",
    "HookedModule",
    "Transformer",
    "TransformerConfig",
    "circuits",
    "data",
    "errors",
    "from_pretrained",
    "generate",
    "hooks",
    "interop",
    "load",
    "nets",
    "pretrained",
    "save",
    "superposition",
    "training",
    "transformer",
]
