"""Interoperability with the ecosystem: TransformerLens (``pip install 'circuitlab[interop]'``) and
SAELens's folder layout (``save_saelens``/``load_saelens``, which never import ``sae_lens``).

Importing this package never imports ``transformer_lens``; each function imports it when it runs.
"""

from circuitlab.interop.saelens import load_saelens, save_saelens
from circuitlab.interop.transformer_lens import from_transformer_lens, to_transformer_lens
from circuitlab.interop.transformer_lens_files import load_transformer_lens, save_transformer_lens

__all__ = [
    "from_transformer_lens",
    "load_saelens",
    "load_transformer_lens",
    "save_saelens",
    "save_transformer_lens",
    "to_transformer_lens",
]
