"""A Hugging Face model's tokenizer.json, through the ``tokenizers`` library (no transformers).

It follows circuitlab's Tokenizer protocol (``encode``, ``decode``, ``vocab_size``, ``to_str``,
``save``) so the model's string API (``to_tokens``, text input, ``generate``) works on a loaded
checkpoint. ``encode`` adds no special tokens: the model's ``prepend_bos`` adds the BOS, which
is ``eot_id`` here (the config's ``bos_token_id``, else tokenizer_config.json's ``bos_token``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tokenizers

from circuitlab.data.tokenizer import BPETokenizer
from circuitlab.errors import CheckpointError
from circuitlab.pretrained.source import read_json


class HFTokenizer(BPETokenizer):
    """A ``tokenizers.Tokenizer`` with a BOS id (``eot_id``, None when the model has none); decode,
    ``to_str`` and ``save`` are :class:`~circuitlab.data.tokenizer.BPETokenizer`'s."""

    kind = "hf"

    def __init__(self, tok: tokenizers.Tokenizer, bos_id: int | None) -> None:
        super().__init__(tok)
        self.bos_id = bos_id

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)

    @property
    def eot_id(self) -> int | None:
        return self.bos_id

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False).ids


def bos_id(tok: tokenizers.Tokenizer, folder: Path, hf: dict[str, Any]) -> int | None:
    """The config's ``bos_token_id`` when the tokenizer knows it, else tokenizer_config's bos_token."""
    size = tok.get_vocab_size(with_added_tokens=True)
    bos = hf.get("bos_token_id")
    if isinstance(bos, int) and not isinstance(bos, bool) and 0 <= bos < size:
        return bos
    tok_cfg = folder / "tokenizer_config.json"
    token = read_json(tok_cfg, "tokenizer config").get("bos_token") if tok_cfg.is_file() else None
    if isinstance(token, dict):  # {"content": "<s>", ...}
        token = token.get("content")
    return tok.token_to_id(token) if isinstance(token, str) else None


def load_hf_tokenizer(folder: Path, hf: dict[str, Any]) -> HFTokenizer | None:
    """The folder's tokenizer.json as an :class:`HFTokenizer`, or None when the folder has none."""
    path = folder / "tokenizer.json"
    if not path.is_file():
        return None
    try:
        tok = tokenizers.Tokenizer.from_file(str(path))
    except Exception as err:  # the library's own parse errors, with the file named
        raise CheckpointError(
            f"{path}: not a tokenizers file ({str(err).splitlines()[0]}); re-download it"
        ) from None
    return HFTokenizer(tok, bos_id(tok, folder, hf))


__all__ = ["HFTokenizer", "load_hf_tokenizer"]
