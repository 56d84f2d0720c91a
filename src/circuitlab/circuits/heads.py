"""Head detectors (previous-token, duplicate-token, induction) and the in-context-learning score.

A head's score is the fraction of its attention that lands where the head type says it should
(TransformerLens's ``detect_head`` with ``error_measure="mul"``), with detection patterns built
from the tokens exactly as TransformerLens builds them:

    previous_token  query q attends to key q - 1
    duplicate       key k < q holds the same token as q
    induction       key k <= q with token[k - 1] == token[q] and k - 1 < q (the token after an
                    earlier copy of the current one; Olsson et al. 2022)

    score = sum_{q,k} A[q, k] D[q, k] / (number of query rows counted)

``denominator="rows_with_target"`` (the default) counts only query rows where the pattern has at
least one target, so a perfect head scores 1.0 (on BOS + R + R these are the second copy and
the first-copy rows whose token already occurred by chance inside R). ``denominator="all"`` divides by every query row, which is
TransformerLens's definition (there sum(A) = pos since each row sums to 1); with it the induction
score on BOS + R + R can reach only about R / (2R + 1). ``denominator="second_copy"`` counts only
the rows with a target in the second half of the sequence (the second copy of R): the prefix-
matching score of Olsson et al. 2022 and TransformerLens's tutorial "induction stripe". The two
differ only when R repeats a token by chance, which a small vocabulary makes common. It assumes the
BOS + R + R layout (its second copy is the last pos // 2 positions). Scores are averaged over the
batch.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from circuitlab.errors import ConfigError, DataError, ShapeError
from circuitlab.typing import Float, Int, Tensor

HeadKind = Literal["previous_token", "duplicate", "induction"]
KINDS = ("previous_token", "duplicate", "induction")
MIN_POS = {"previous_token": 2, "duplicate": 3, "induction": 3}
DENOMINATORS = ("rows_with_target", "all", "second_copy")


def repeated_random_tokens(
    d_vocab: int, half_len: int, batch: int = 8, seed: int = 0, bos: int | None = 0
) -> Int[Tensor, "batch pos"]:
    """BOS + R + R: ``half_len`` uniform random tokens (never the BOS id) repeated once.

    pos = 2 * half_len (+ 1 with a BOS). Seeded by a private generator.
    """
    if bos is not None and not 0 <= bos < d_vocab:
        raise ConfigError(
            f"repeated_random_tokens bos={bos}: must be a token id in [0, {d_vocab - 1}] or None"
        )
    gen = torch.Generator().manual_seed(seed)
    if bos is None:
        half = torch.randint(0, d_vocab, (batch, half_len), generator=gen)
    else:  # uniform over the other d_vocab - 1 ids
        half = torch.randint(0, d_vocab - 1, (batch, half_len), generator=gen)
        half = half + (half >= bos).long()
    parts = [half, half] if bos is None else [torch.full((batch, 1), bos), half, half]
    return torch.cat(parts, dim=1)


def detection_pattern(tokens: Int[Tensor, "batch pos"], kind: HeadKind) -> Float[Tensor, "batch pos pos"]:
    """D[b, q, k] in {0, 1}: where a head of this kind attends (lower triangular)."""
    n = tokens.shape[-1]
    if kind == "previous_token":
        return torch.ones(n - 1).diag(-1).expand(tokens.shape[0], n, n).to(tokens.device)
    same = tokens[:, :, None] == tokens[:, None, :]  # [b, q, k]
    duplicate = (same & torch.ones(n, n, dtype=torch.bool, device=tokens.device).tril(-1)).float()
    if kind == "duplicate":
        return duplicate
    return F.pad(duplicate[:, :, :-1], (1, 0)).tril()  # key k <- the duplicate at k - 1


class _StopForward(Exception):
    """Raised by a hook once the last pattern is stored: nothing after it is needed."""


def attention_patterns(
    model, tokens: Int[Tensor, "batch pos"]
) -> Float[Tensor, "batch n_layers n_heads pos pos"]:
    """Every layer's attention pattern, stopping the forward pass after the last layer's softmax
    (the rest of that layer and the unembedding are never computed)."""
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    store: dict[str, Tensor] = {}

    def save(pattern: Tensor, hook) -> None:
        store[hook.name] = pattern
        if hook.name == names[-1]:
            raise _StopForward

    with model.hooks([(name, save) for name in names]):
        try:
            model(tokens)
        except _StopForward:
            pass
    return torch.stack([store[name] for name in names], dim=1)


def _check_kind_and_tokens(model, kind: str, tokens: Tensor) -> None:
    if kind not in KINDS:
        raise ConfigError(f"head kind {kind!r}: choose one of {', '.join(KINDS)}")
    if model.cfg.n_layers < 1:
        raise ConfigError("head_scores needs attention layers; this model has n_layers=0")
    if tokens.ndim != 2 or tokens.shape[1] < MIN_POS[kind]:
        raise ShapeError(
            f"tokens {tuple(tokens.shape)}: the {kind} score needs [batch, pos] with pos >= {MIN_POS[kind]}; "
            "use longer sequences (the default is BOS + R + R random tokens)"
        )


@torch.no_grad()
def head_scores(
    model,
    kind: HeadKind,
    tokens: Int[Tensor, "batch pos"] | None = None,
    denominator: Literal["rows_with_target", "all", "second_copy"] = "rows_with_target",
    exclude_bos: bool = False,
    exclude_current_token: bool = False,
) -> Float[Tensor, "n_layers n_heads"]:
    """[L, H] fraction of each head's attention on the ``kind`` pattern (see the module doc).

    ``tokens`` default: ``repeated_random_tokens(d_vocab, half_len=min(64, (n_ctx - 1) // 2),
    batch=8, seed=0)``. ``exclude_bos`` / ``exclude_current_token`` zero that attention first, as
    TransformerLens does (the row total then shrinks with it).
    """
    if tokens is None:
        half = min(64, (model.cfg.n_ctx - 1) // 2)
        tokens = repeated_random_tokens(model.cfg.d_vocab, max(half, 1), seed=0)
    tokens = model.check_tokens(tokens)
    _check_kind_and_tokens(model, kind, tokens)
    if denominator not in DENOMINATORS:
        raise ConfigError(f"denominator {denominator!r}: choose one of {', '.join(DENOMINATORS)}")
    device = next(model.parameters()).device
    tokens = tokens.to(device)
    pattern = attention_patterns(model, tokens)  # [b, L, H, q, k]
    if exclude_bos:
        pattern = pattern.clone()
        pattern[..., 0] = 0
    if exclude_current_token:
        pattern = pattern * (1 - torch.eye(pattern.shape[-1], device=device))
    target = detection_pattern(tokens, kind).to(pattern.dtype)  # [b, q, k]
    if denominator == "second_copy":  # BOS + R + R: the second copy is the last pos // 2 rows
        n = tokens.shape[-1]
        target = target * (torch.arange(n, device=device) >= n - n // 2)[:, None]
    on_target = torch.einsum("blhqk,bqk->blh", pattern, target)
    if denominator == "all":
        return (on_target / pattern.sum((-2, -1))).mean(0)
    rows = target.amax(-1) > 0  # [b, q]
    counted = torch.einsum("blhqk,bq->blh", pattern, rows.to(pattern.dtype))
    keep = rows.any(-1)
    if not keep.any():
        raise DataError(
            f"no query position in tokens {tuple(tokens.shape)} has a {kind} target (no repeated tokens); "
            "use repeated random tokens (repeated_random_tokens) or text with repeats"
        )
    return (on_target[keep] / counted[keep]).mean(0)


@torch.no_grad()
def per_token_loss(model, tokens: Int[Tensor, "batch pos"]) -> Float[Tensor, "batch pos_minus_1"]:
    """-log p(t_{i+1} | t_0..t_i) for i = 0 .. pos - 2."""
    tokens = model.check_tokens(tokens)
    logits = model(tokens)
    logp = logits[:, :-1].log_softmax(-1)
    return -logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)


def icl_positions(n_tokens: int) -> tuple[int, int]:
    """(early, late) token indices compared by ``in_context_learning_score``."""
    late = min(500, n_tokens - 1)
    return max(1, round(late / 10)), late


@torch.no_grad()
def in_context_learning_score(model, tokens: Int[Tensor, "batch pos"]) -> float:
    """Loss on a late token minus loss on an early one, averaged over the batch (Olsson et al. 2022).

    Olsson et al. define it as the loss of the 500th token in context minus the loss of the 50th:
    negative when later tokens are predicted better because the model uses its context. Here
    token index t (0-based, predicted from tokens 0..t-1) is compared at ``late = min(500, pos - 1)``
    and ``early = max(1, round(late / 10))``: exactly tokens 500 and 50 when the context is longer
    than 500, and the same 10:1 ratio of positions in a shorter one (for pos = 128: tokens 127 and
    13). Single-token losses are noisy; pass a batch of many sequences.
    """
    tokens = model.check_tokens(tokens)
    if tokens.shape[1] < 3:
        raise ShapeError(
            f"tokens {tuple(tokens.shape)}: the in-context-learning score needs pos >= 3 "
            "(an early and a later predicted token)"
        )
    loss = per_token_loss(model, tokens)  # loss[:, t - 1] is the loss of token t
    early, late = icl_positions(tokens.shape[1])
    return float(loss[:, late - 1].mean() - loss[:, early - 1].mean())


__all__ = [
    "attention_patterns",
    "detection_pattern",
    "head_scores",
    "icl_positions",
    "in_context_learning_score",
    "per_token_loss",
    "repeated_random_tokens",
]
