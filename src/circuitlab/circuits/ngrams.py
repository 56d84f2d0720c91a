"""N-gram statistics read off models: the 0-layer bigram table and 1-layer skip-trigrams.

Elhage et al. (2021): a 0-layer transformer can only compute logits = W_E W_U (a bigram
table, through the final LayerNorm when it has one); a 1-layer attention-only transformer adds,
per head, skip-trigrams "A ... B -> C": the QK circuit decides that destination token B attends
back to source token A, and the OV circuit makes attending to A raise the logit of C.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from circuitlab.circuits.qk_ov import full_ov_circuit, full_qk_circuit
from circuitlab.errors import ShapeError
from circuitlab.typing import Float, Tensor


def bigram_counts(tokens: np.ndarray, d_vocab: int) -> Float[Tensor, "d_vocab d_vocab"]:
    """counts[a, b] = number of times token b follows token a in ``tokens`` (1-D)."""
    tokens = np.asarray(tokens, dtype=np.int64).ravel()
    if tokens.size < 2:
        raise ShapeError(f"bigram_counts needs at least 2 tokens, got {tokens.size}")
    if tokens.min() < 0 or tokens.max() >= d_vocab:
        raise ShapeError(f"token ids must lie in [0, {d_vocab - 1}]; got {tokens.min()}..{tokens.max()}")
    flat = np.bincount(tokens[:-1] * d_vocab + tokens[1:], minlength=d_vocab * d_vocab)
    return torch.from_numpy(flat.reshape(d_vocab, d_vocab).astype(np.float64))


@torch.no_grad()
def model_bigram_logprobs(model) -> Float[Tensor, "d_vocab d_vocab"]:
    """log softmax of the model's logits for every one-token context: row a is log P(. | a).

    For a 0-layer model this is the whole model (it only ever sees the current token).
    """
    V = model.cfg.d_vocab
    rows = []
    for start in range(0, V, 512):
        tokens = torch.arange(start, min(start + 512, V), device=model.W_E.device)[:, None]
        rows.append(torch.log_softmax(model(tokens)[:, 0].double(), -1))
    return torch.cat(rows).cpu()


@dataclass(frozen=True)
class BigramFit:
    """How close a model's next-token distribution is to the empirical bigram table.

    KLs are in nats per token, averaged over positions (i.e. weighted by how often each current
    token occurs): KL(P_data(.|a) || Q(.|a)). ``agreement`` is the fraction of positions where
    the model's most likely next token equals the table's.
    """

    kl_model: float
    kl_unigram: float
    agreement_model: float
    agreement_unigram: float
    conditional_entropy: float


def bigram_fit(
    log_q: Float[Tensor, "d_vocab d_vocab"], counts: Float[Tensor, "d_vocab d_vocab"]
) -> BigramFit:
    """Compare model log-probabilities ``log_q`` with empirical ``counts`` (and the unigram baseline)."""
    row_total = counts.sum(1)
    seen = row_total > 0
    p = counts[seen] / row_total[seen, None]
    weight = row_total[seen] / row_total.sum()
    log_p = torch.where(p > 0, p.log(), torch.zeros_like(p))
    unigram = counts.sum(0) / counts.sum()
    log_u = unigram.clamp_min(1e-12).log().expand_as(p)

    def kl(log_model: Tensor) -> float:
        return float((weight * (p * (log_p - log_model)).sum(1)).sum())

    top = p.argmax(1)
    return BigramFit(
        kl_model=kl(log_q[seen]),
        kl_unigram=kl(log_u),
        agreement_model=float((weight * (log_q[seen].argmax(1) == top)).sum()),
        agreement_unigram=float((weight * (unigram.argmax() == top)).sum()),
        conditional_entropy=float(-(weight * (p * log_p).sum(1)).sum()),
    )


@dataclass(frozen=True)
class SkipTrigram:
    """ "A ... B -> C" for one head: B (destination) attends to A (source), which raises C."""

    layer: int
    head: int
    source: int
    destination: int
    output: int
    qk: float
    ov: float


@torch.no_grad()
def skip_trigrams(
    model, layer: int, head: int, k: int = 5, candidates: int = 64, vocab: Tensor | None = None
) -> list[SkipTrigram]:
    """The head's strongest skip-trigrams, read off its full OV and QK circuits.

    Source tokens A are ranked by the largest entry of their OV row (how strongly attending to A
    raises one output C); for each, the destination B with the largest QK score for A is taken.
    ``vocab`` (token ids) restricts A, B and C, e.g. to the corpus's most frequent tokens.
    LayerNorms are folded as linear maps (their scale is treated as constant).
    """
    ov = full_ov_circuit(model, layer, head)  # [src, out], factored
    qk = full_qk_circuit(model, layer, head)  # [dest, src], factored
    ids = torch.arange(model.cfg.d_vocab) if vocab is None else torch.as_tensor(vocab).long().cpu()
    ov_rows = (ov.A[ids] @ ov.B[:, ids]).cpu()  # [src in vocab, out in vocab]
    best_val, best_out = ov_rows.max(1)
    order = best_val.topk(min(candidates, len(best_val))).indices
    sources = ids[order]
    qk_cols = (qk.A[ids] @ qk.B[:, sources]).cpu()  # [dest in vocab, candidates]
    found = []
    for j, a in enumerate(sources.tolist()):
        b = int(qk_cols[:, j].argmax())
        found.append(
            SkipTrigram(
                layer,
                head,
                a,
                int(ids[b]),
                int(ids[best_out[order[j]]]),
                float(qk_cols[b, j]),
                float(best_val[order[j]]),
            )
        )
    found.sort(key=lambda t: t.ov * max(t.qk, 0.0), reverse=True)
    return found[:k]


def count_skip_trigram(tokens: np.ndarray, trigram: SkipTrigram, window: int) -> tuple[int, int]:
    """In a 1-D token stream: (occurrences of "B -> C" with A among the previous ``window``
    tokens, occurrences of "B -> C" at all)."""
    tokens = np.asarray(tokens, dtype=np.int64)
    hits = np.flatnonzero((tokens[:-1] == trigram.destination) & (tokens[1:] == trigram.output))
    with_source = sum(1 for i in hits if trigram.source in tokens[max(0, i - window) : i])
    return with_source, len(hits)
