"""``detect_head``: TransformerLens 3.9's head detector, with its arguments and its values.

For each sequence and head, with A the head's attention pattern [q, k] and D the detection
pattern (what the head type should attend to, lower triangular):

    "mul"  score = sum(A * D) / sum(A)                       (the fraction of attention on D)
    "abs"  score = 1 - round(sum|A - D| / pos, 3)            (1 = perfect match, -1 = opposite)

``exclude_bos`` zeroes column 0 and ``exclude_current_token`` the diagonal first (of A for
"mul", of |A - D| for "abs"). Scores of several sequences are averaged; heads not listed in
``heads`` score -1. The named patterns are ``heads.detection_pattern``'s (previous token,
duplicate token, induction), built per sequence from its tokens as TransformerLens builds them.
The differences from TransformerLens (token input, errors, n_ctx) are in docs/transformer-lens.md.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import torch

from circuitlab.circuits.heads import attention_patterns
from circuitlab.circuits.heads import detection_pattern as named_pattern
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.typing import Float, Tensor

ErrorMeasure = Literal["mul", "abs"]
HEAD_NAMES = {  # TransformerLens's names, and head_scores' kinds as aliases
    "previous_token_head": "previous_token",
    "duplicate_token_head": "duplicate",
    "induction_head": "induction",
    "previous_token": "previous_token",
    "duplicate": "duplicate",
    "induction": "induction",
}
Heads = Sequence[tuple[int, int]] | Mapping[int, Sequence[int]]


def _encode(model, text: str) -> Tensor:
    """BOS + tokens of ``text``: ``model.to_tokens`` when the model has it (TransformerLens's way),
    else ``model.tokenizer.encode`` with the tokenizer's ``eot_id`` (GPT-2's BOS) prepended."""
    to_tokens = getattr(model, "to_tokens", None)
    if callable(to_tokens):
        return torch.as_tensor(to_tokens(text)).reshape(-1)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ConfigError(
            f"detect_head got the string {text[:40]!r} but the model has no tokenizer; pass token ids "
            "(a tensor or list of ints), or set model.tokenizer = cl.training.read_tokenizer(checkpoint)"
        )
    bos = getattr(tokenizer, "eot_id", None)
    return torch.tensor(([] if bos is None else [bos]) + list(tokenizer.encode(text)), dtype=torch.long)


def _sequences(model, seq) -> list[Tensor]:
    """One 1-D token tensor per sequence: a string or [pos] ids is one, a [batch, pos] tensor or a
    list of strings / id lists / 1-D tensors is several (of any lengths)."""
    if isinstance(seq, str):
        return [_encode(model, seq)]
    if isinstance(seq, (Tensor, np.ndarray)):
        tokens = model.check_tokens(torch.as_tensor(seq))
        return list(tokens)
    if isinstance(seq, Sequence) and seq and all(isinstance(s, (int, np.integer)) for s in seq):
        return [torch.tensor(list(seq), dtype=torch.long)]
    if not isinstance(seq, Sequence) or not seq:
        raise ConfigError(
            f"detect_head seq: expected a string, token ids or a non-empty list of them, got {type(seq).__name__}"
        )
    out = []
    for s in seq:
        if isinstance(s, str):
            out.append(_encode(model, s))
        else:
            out.append(torch.as_tensor(s, dtype=torch.long).reshape(-1))
    return out


def _head_mask(cfg, heads: Heads | None) -> torch.Tensor:
    """[n_layers, n_heads] bool: the heads to score (all when ``heads`` is None)."""
    mask = torch.zeros(cfg.n_layers, cfg.n_heads, dtype=torch.bool)
    if heads is None:
        return mask.fill_(True)
    pairs = (
        [(layer, h) for layer, hs in heads.items() for h in hs] if isinstance(heads, Mapping) else list(heads)
    )
    for pair in pairs:
        ok = isinstance(pair, (tuple, list)) and len(pair) == 2
        if not ok or not (0 <= pair[0] < cfg.n_layers and 0 <= pair[1] < cfg.n_heads):
            raise ConfigError(
                f"detect_head heads: {pair!r} is not a (layer, head) with layer < {cfg.n_layers} and "
                f"head < {cfg.n_heads}; pass [(layer, head), ...] or {{layer: [head, ...]}}"
            )
        mask[int(pair[0]), int(pair[1])] = True
    return mask


def _check_pattern(pattern, error_measure: str) -> Tensor:
    """A custom detection pattern as a float [pos, pos] lower-triangular tensor."""
    pattern = torch.as_tensor(pattern)
    if pattern.ndim != 2 or pattern.shape[0] != pattern.shape[1] or not torch.equal(pattern, pattern.tril()):
        raise ShapeError(
            f"detection_pattern of shape {tuple(pattern.shape)}: must be a lower-triangular [pos, pos] "
            f"matrix, or one of {', '.join(list(HEAD_NAMES)[:3])}"
        )
    if error_measure == "mul" and not bool(((pattern == 0) | (pattern == 1)).all()):
        warnings.warn(
            "detect_head: a detection pattern with values other than 0 and 1 under error_measure='mul' "
            "(use 'abs' to score predicted attention weights)",
            stacklevel=3,
        )
    return pattern.float()


def _cached_patterns(cache, mask: Tensor, n_heads: int) -> Tensor:
    """[1, n_layers, n_heads, q, k] from a cache of one sequence; only layers with a head asked
    for are read (the others are zeros, never scored)."""
    found = {}
    for layer in mask.any(-1).nonzero().flatten().tolist():
        name = f"blocks.{layer}.attn.hook_pattern"
        try:
            pattern = cache[name]
        except KeyError:
            raise ConfigError(
                f"detect_head cache holds no {name!r}; run_with_cache with a names_filter that keeps it"
            ) from None
        if pattern.ndim == 4 and pattern.shape[0] == 1:
            pattern = pattern[0]
        if pattern.ndim != 3 or pattern.shape[0] != n_heads or pattern.shape[1] != pattern.shape[2]:
            raise ShapeError(
                f"detect_head cache {name!r} has shape {tuple(pattern.shape)}: expected one sequence's "
                f"[n_heads={n_heads}, pos, pos] (or [1, n_heads, pos, pos])"
            )
        found[layer] = pattern
    zeros = torch.zeros_like(next(iter(found.values())))
    return torch.stack([found.get(layer, zeros) for layer in range(mask.shape[0])])[None]


def _scores(
    pattern: Float[Tensor, "batch n_layers n_heads pos pos"],
    target: Float[Tensor, "batch pos pos"],
    exclude_bos: bool,
    exclude_current_token: bool,
    error_measure: str,
) -> Float[Tensor, "batch n_layers n_heads"]:
    """The module doc's score of every head of every sequence, in float64 as TransformerLens's
    Python floats (the "abs" score rounded to 3 decimals the way Python's round does)."""
    target = target[:, None, None].to(pattern)
    off_diagonal = 1 - torch.eye(pattern.shape[-1], dtype=pattern.dtype, device=pattern.device)
    if error_measure == "mul":
        if exclude_bos:
            pattern = torch.cat([torch.zeros_like(pattern[..., :1]), pattern[..., 1:]], dim=-1)
        if exclude_current_token:
            pattern = pattern * off_diagonal
        return ((pattern * target).sum((-2, -1)) / pattern.sum((-2, -1))).double().cpu()
    diff = (pattern - target).abs()
    if exclude_bos:
        diff = torch.cat([torch.zeros_like(diff[..., :1]), diff[..., 1:]], dim=-1)
    if exclude_current_token:
        diff = diff * off_diagonal
    raw = (diff.mean((-2, -1)) * diff.shape[-1]).cpu()
    return torch.tensor([1 - round(x, 3) for x in raw.double().flatten().tolist()]).reshape(raw.shape)


def _check_length(tokens: Tensor, custom: Tensor | None) -> None:
    pos = tokens.shape[-1]
    if pos < 2:
        raise ShapeError(f"detect_head: a sequence of {pos} token(s); give at least 2 (BOS and one more)")
    if custom is not None and custom.shape[0] != pos:
        raise ShapeError(
            f"detection_pattern is {tuple(custom.shape)} but a sequence has {pos} tokens (BOS included); "
            "give a [pos, pos] pattern for each length, one detect_head call per length"
        )


def _group_scores(model, tokens: Tensor, target: Tensor, cache, mask: Tensor, *options) -> Tensor:
    """[batch, n_layers, n_heads] float64 scores of sequences of one length (``options``: those
    of ``_scores``), from the model's patterns or the cache's."""
    if cache is None:
        pattern = attention_patterns(model, tokens)
    elif not mask.any():
        return torch.zeros(len(tokens), *mask.shape, dtype=torch.float64)
    else:
        pattern = _cached_patterns(cache, mask, model.cfg.n_heads)
        if pattern.shape[-1] != tokens.shape[-1]:
            raise ShapeError(
                f"detect_head cache patterns are {pattern.shape[-1]} positions long but seq has "
                f"{tokens.shape[-1]} tokens; pass the tokens the cache was made from"
            )
    return _scores(pattern, target.expand(len(tokens), *pattern.shape[-2:]), *options)


@torch.no_grad()
def detect_head(
    model,
    seq,
    detection_pattern: str | Float[Tensor, "pos pos"],
    heads: Heads | None = None,
    cache=None,
    *,
    exclude_bos: bool = False,
    exclude_current_token: bool = False,
    error_measure: ErrorMeasure = "mul",
) -> Float[Tensor, "n_layers n_heads"]:
    """[n_layers, n_heads] match between each head's attention and ``detection_pattern``.

    TransformerLens's ``detect_head`` (see the module doc for the scores). ``seq``: a string or a
    list of strings (tokenized with a BOS, needs ``model.to_tokens`` or ``model.tokenizer``), token
    ids ([pos] tensor or list of ints: used as given, add the BOS yourself), a [batch, pos] tensor
    or a list of id sequences of any lengths. ``detection_pattern``: "previous_token_head",
    "duplicate_token_head", "induction_head" (built per sequence) or a lower-triangular [pos, pos]
    tensor (every sequence of length pos). ``heads``: [(layer, head), ...] or {layer: [head, ...]};
    the rest score -1. ``cache``: one sequence's cache (circuitlab's or TransformerLens's, with or
    without its batch dim of 1), read instead of running the model. Returns the mean over the
    sequences, on the CPU in the model's dtype.
    """
    if error_measure not in ("mul", "abs"):
        raise ConfigError(f"detect_head error_measure={error_measure!r}: choose 'mul' or 'abs'")
    named = isinstance(detection_pattern, str)
    if named and detection_pattern not in HEAD_NAMES:
        raise ConfigError(
            f"detect_head detection_pattern {detection_pattern!r}: give a [pos, pos] tensor or one of "
            f"{', '.join(HEAD_NAMES)}"
        )
    custom = None if named else _check_pattern(detection_pattern, error_measure)
    sequences = _sequences(model, seq)
    if cache is not None and len(sequences) != 1:
        raise ConfigError(
            f"detect_head got a cache and {len(sequences)} sequences; a cache holds one sequence's "
            "activations: pass one sequence, or no cache"
        )
    mask = _head_mask(model.cfg, heads)
    param = next(model.parameters())
    per_sequence: list[Tensor | None] = [None] * len(sequences)
    by_length: dict[int, list[int]] = {}
    for i, tokens in enumerate(sequences):
        by_length.setdefault(tokens.shape[-1], []).append(i)
    for rows in by_length.values():
        tokens = model.check_tokens(torch.stack([sequences[i] for i in rows])).to(param.device)
        _check_length(tokens, custom)
        target = named_pattern(tokens, HEAD_NAMES[detection_pattern]) if named else custom
        scores = _group_scores(
            model, tokens, target, cache, mask, exclude_bos, exclude_current_token, error_measure
        )
        for i, row in zip(rows, scores, strict=True):
            per_sequence[i] = torch.where(mask, row, -1.0).to(param.dtype)
    return torch.stack(per_sequence).mean(0)


__all__ = ["HEAD_NAMES", "detect_head"]
