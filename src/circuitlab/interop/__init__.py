"""Interoperability with the ecosystem: TransformerLens (``pip install 'circuitlab[interop]'``).

Importing this package never imports ``transformer_lens``; each function imports it when it runs.
"""

from circuitlab.interop.transformer_lens import (
    from_transformer_lens,
    load_transformer_lens,
    save_transformer_lens,
    to_transformer_lens,
)

__all__ = ["from_transformer_lens", "load_transformer_lens", "save_transformer_lens", "to_transformer_lens"]
