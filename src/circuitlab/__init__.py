"""circuitlab: canonical neural networks from their equations, and the transformer-circuits
toolkit to take them apart."""

from circuitlab import errors, hooks
from circuitlab.hooks import ActivationCache, HookedModule, HookPoint

__version__ = "0.1.0"

__all__ = ["ActivationCache", "HookPoint", "HookedModule", "errors", "hooks"]
