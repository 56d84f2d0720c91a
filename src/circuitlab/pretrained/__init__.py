"""Bring your own model: GPT-2, GPT-NeoX (Pythia) and Llama-family checkpoints as circuitlab Transformers.

One adapter per Hugging Face family maps its config and weights (``gpt2``, ``neox``, ``llama``);
``from_pretrained`` reads only safetensors (see ``source``), and ``processing`` holds
TransformerLens's weight processing as options that leave the logits unchanged.
"""

from circuitlab.pretrained.load import FAMILIES, from_pretrained
from circuitlab.pretrained.processing import process_weights

SUPPORTED_ARCHITECTURES = tuple(FAMILIES)

__all__ = ["SUPPORTED_ARCHITECTURES", "from_pretrained", "process_weights"]
