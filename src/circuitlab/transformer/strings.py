"""Text in, text out: TransformerLens 3.9's string helpers for a model that has a tokenizer.

``model.tokenizer`` is a circuitlab tokenizer (``circuitlab.data``: byte-level BPE or characters;
``cl.load`` attaches the one saved with the checkpoint) or any object with ``encode(str) ->
list[int]`` and ``decode(list[int]) -> str``.

BOS and padding. circuitlab's BPE tokenizer has one special token, ``<|endoftext|>`` (its
``eot_id``), which training puts between documents: as in GPT-2 it is the BOS (prepended when
``prepend_bos`` is on, ``model.default_prepend_bos = True`` by default) and the pad. A
tokenizer without an ``eot_id`` (the character tokenizer) has no BOS: ``prepend_bos`` adds
nothing, as TransformerLens does for a BOS-less tokenizer, and pads with id 0 (``<unk>``).
Several strings are padded to the longest on ``padding_side`` (``model.padding_side = "right"``
by default, like GPT-2's tokenizer); with left padding ``forward`` masks the leading pads
(``transformer.padding``). Strings longer than ``n_ctx`` tokens are cut to their first n_ctx.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.transformer.padding import mask_from_pads
from circuitlab.typing import Int, Tensor

Side = Literal["left", "right"]


def check_tokenizer(tokenizer: Any) -> Any:
    """A tokenizer model.tokenizer can hold: None, or anything with ``encode`` (text -> ids; the
    text-out helpers also need ``decode``)."""
    if tokenizer is not None and not callable(getattr(tokenizer, "encode", None)):
        raise ConfigError(
            f"model.tokenizer must have encode(str) -> list[int] (and decode(list[int]) -> str), got "
            f"{type(tokenizer).__name__}; use a circuitlab.data tokenizer (e.g. cl.training.read_tokenizer)"
        )
    return tokenizer


class Strings:
    """to_tokens, to_string, to_str_tokens, to_single_token, get_token_position (TransformerLens's
    names, arguments and results; see the module docstring for BOS and padding)."""

    default_prepend_bos: bool = True
    padding_side: Side = "right"

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of the model's text (None: ids only); ``cl.load`` sets the checkpoint's."""
        return self.__dict__.get("_tokenizer")

    @tokenizer.setter
    def tokenizer(self, tokenizer: Any) -> None:
        self.__dict__["_tokenizer"] = check_tokenizer(tokenizer)

    def require_tokenizer(self, what: str) -> Any:
        if self.tokenizer is None:
            raise ConfigError(
                f"{what} needs a tokenizer and this model has none; set model.tokenizer = "
                "cl.training.read_tokenizer(checkpoint) (cl.load attaches it), or pass token ids"
            )
        return self.tokenizer

    @property
    def bos_token_id(self) -> int | None:
        """The BOS prepended by ``prepend_bos``: the tokenizer's ``eot_id`` (None: no BOS)."""
        return getattr(self.tokenizer, "eot_id", None)

    @property
    def pad_token_id(self) -> int:
        """The id that pads shorter strings: the ``eot_id``, else 0."""
        bos = self.bos_token_id
        return 0 if bos is None else bos

    def resolve(self, prepend_bos: bool | None, padding_side: Side | None) -> tuple[bool, Side]:
        """The per-call overrides, or the model's defaults (None means the default, as in TransformerLens)."""
        if prepend_bos not in (None, True, False):
            raise ConfigError(
                f"prepend_bos={prepend_bos!r}: choose True, False or None (the model's default)"
            )
        if padding_side not in (None, "left", "right"):
            raise ConfigError(
                f"padding_side={padding_side!r}: choose left, right or None (the model's default)"
            )
        bos, side = (
            (self.default_prepend_bos if prepend_bos is None else prepend_bos),
            padding_side or self.padding_side,
        )
        if side not in ("left", "right"):
            raise ConfigError(f"model.padding_side={side!r}: set it to left or right")
        return bool(bos) and self.bos_token_id is not None, side

    def to_tokens(
        self,
        input: str | list[str],
        prepend_bos: bool | None = None,
        padding_side: Side | None = None,
        move_to_device: bool = True,
        truncate: bool = True,
    ) -> Int[Tensor, "batch pos"]:
        """Token ids [batch, pos] of one string or a list (padded to the longest on ``padding_side``)."""
        tokenizer = self.require_tokenizer("to_tokens")
        texts = [input] if isinstance(input, str) else input
        if not isinstance(texts, list | tuple) or not texts or not all(isinstance(t, str) for t in texts):
            raise ConfigError(
                f"to_tokens takes a string or a non-empty list of strings, got {type(input).__name__}"
            )
        bos, side = self.resolve(prepend_bos, padding_side)
        rows = [([self.bos_token_id] if bos else []) + list(tokenizer.encode(t)) for t in texts]
        if truncate:
            rows = [row[: self.cfg.n_ctx] for row in rows]
        n, pad = max(len(row) for row in rows), self.pad_token_id
        padded = [
            row + [pad] * (n - len(row)) if side == "right" else [pad] * (n - len(row)) + row for row in rows
        ]
        tokens = torch.tensor(padded, dtype=torch.long).reshape(len(rows), n)
        return tokens.to(self.W_E.device) if move_to_device else tokens

    def attention_mask_for(
        self, tokens: Tensor, prepend_bos: bool | None, padding_side: Side | None
    ) -> Tensor:
        """TransformerLens's mask of a padded batch: 0 on the leading (left) or trailing (right) pads."""
        bos, side = self.resolve(prepend_bos, padding_side)
        return mask_from_pads(tokens, self.pad_token_id, side, bos_is_pad=bos)

    def to_string(self, tokens: Any) -> str | list[str]:
        """The text of [pos] ids (a str) or of [batch, pos] ids (a list, one str per row)."""
        tokenizer = self.require_tokenizer("to_string")
        ids = torch.as_tensor(np.asarray(tokens) if isinstance(tokens, np.ndarray) else tokens)
        if ids.ndim == 2:
            return [tokenizer.decode(row.tolist()) for row in ids]
        if ids.ndim > 2:
            raise ShapeError(f"to_string takes [pos] or [batch, pos] ids, got shape {tuple(ids.shape)}")
        return tokenizer.decode(ids.reshape(-1).tolist())

    def to_str_tokens(
        self, input: Any, prepend_bos: bool | None = None, padding_side: Side | None = None
    ) -> list[str] | list[list[str]]:
        """Each token as its own string: of a text, of [pos] or [1, pos] ids, or of a list of either."""
        tokenizer = self.require_tokenizer("to_str_tokens")
        if isinstance(input, list):
            return [self.to_str_tokens(item, prepend_bos, padding_side) for item in input]
        if isinstance(input, str):
            ids = self.to_tokens(input, prepend_bos, padding_side)[0]
        elif isinstance(input, Tensor | np.ndarray):
            ids = torch.as_tensor(input).squeeze()
            ids = ids.reshape(1) if ids.ndim == 0 else ids
            if ids.ndim != 1:
                raise ShapeError(f"to_str_tokens takes [pos] or [1, pos] ids, got shape {tuple(input.shape)}")
        else:
            raise ConfigError(
                f"to_str_tokens takes a string, ids or a list of them, got {type(input).__name__}"
            )
        return [tokenizer.decode([i]) for i in ids.tolist()]

    def to_single_token(self, string: str) -> int:
        """The id of a string that is exactly one token (no BOS); ``ConfigError`` otherwise."""
        ids = self.to_tokens(string, prepend_bos=False)[0]
        if ids.numel() != 1:
            raise ConfigError(
                f"{string!r} is {ids.numel()} tokens, not one; use model.to_tokens(..., prepend_bos=False)"
            )
        return int(ids[0])

    def to_single_str_token(self, int_token: int) -> str:
        """The string of one token id."""
        if isinstance(int_token, bool) or not isinstance(int_token, int):
            raise ConfigError(f"to_single_str_token takes an int token id, got {type(int_token).__name__}")
        return self.to_str_tokens(torch.tensor([int_token]))[0]

    def get_token_position(
        self,
        single_token: str | int | Tensor,
        input: str | Tensor,
        mode: Literal["first", "last"] = "first",
        prepend_bos: bool | None = None,
        padding_side: Side | None = None,
    ) -> int:
        """The position of ``single_token`` in a text or in [pos] / [1, pos] ids (its first or last)."""
        ids = (
            self.to_tokens(input, prepend_bos, padding_side)
            if isinstance(input, str)
            else torch.as_tensor(input)
        )
        if ids.ndim == 2:
            if ids.shape[0] != 1:
                raise ShapeError(
                    f"get_token_position takes one sequence, [pos] or [1, pos], got {tuple(ids.shape)}"
                )
            ids = ids[0]
        if isinstance(single_token, str):
            single_token = self.to_single_token(single_token)
        token = int(single_token.item() if isinstance(single_token, Tensor) else single_token)
        where = (ids == token).nonzero().flatten()
        if where.numel() == 0:
            raise ConfigError(f"token {token} does not occur in the input")
        if mode not in ("first", "last"):
            raise ConfigError(f"mode must be 'first' or 'last', not {mode!r}")
        return int(where[0] if mode == "first" else where[-1])


__all__ = ["Strings", "check_tokenizer"]
