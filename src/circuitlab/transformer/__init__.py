"""The seed's decoder-only transformer, with TransformerLens weight and hook names."""

from circuitlab.transformer.config import TransformerConfig
from circuitlab.transformer.model import Transformer

__all__ = ["Transformer", "TransformerConfig"]
