"""A zero-layer transformer is a bigram table: logits = W_E W_U (through ln_final).

The model's next-token distribution softmax(W_E W_U)[a] is compared with the corpus's bigram
table P(b | a): KL(table || model) must fall below 10% of KL(table || unigram), and the model's
most likely next token must equal the table's at >= 60% of positions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuitlab.circuits.ngrams import BigramFit, bigram_counts, bigram_fit, model_bigram_logprobs
from circuitlab.experiments.base import ClaimResult, Judgement, RunContext, corpus_label
from circuitlab.experiments.ngrams import lm


@dataclass(frozen=True)
class BigramMeasurement:
    fit: BigramFit
    n_bytes: int
    tokens_seen: int
    source: str = "stdlib"

    @property
    def kl_ratio(self) -> float:
        return self.fit.kl_model / self.fit.kl_unigram


def zero_layer_bigram(ctx: RunContext) -> ClaimResult:
    """Train a 0-layer model; compare softmax(W_E W_U) with the corpus's bigram table."""
    m = measure(ctx)
    return render(m, judge(m))


def measure(ctx: RunContext) -> BigramMeasurement:
    data = lm.corpus(ctx.corpus)
    trained = lm.zero_layer_model(ctx, data)
    counts = bigram_counts(np.asarray(data.tokens.train), lm.VOCAB)
    fit = bigram_fit(model_bigram_logprobs(trained.model.cpu()), counts)
    return BigramMeasurement(fit, data.n_bytes, trained.tokens_seen, data.source)


def judge(m: BigramMeasurement) -> Judgement:
    return Judgement(
        {"close to the table": m.kl_ratio < 0.1, "same top token": m.fit.agreement_model >= 0.6},
        "KL(bigram table || model) below 10% of KL(bigram table || unigram), and the model's "
        "top next token equals the table's at >= 60% of positions",
    )


def render(m: BigramMeasurement, judgement: Judgement) -> ClaimResult:
    fit = m.fit
    return ClaimResult(
        measured={
            "kl_model_nats": fit.kl_model,
            "kl_unigram_nats": fit.kl_unigram,
            "kl_ratio": m.kl_ratio,
            "top1_agreement_model": fit.agreement_model,
            "top1_agreement_unigram": fit.agreement_unigram,
            "bigram_conditional_entropy_nats": fit.conditional_entropy,
            "tokens_seen": m.tokens_seen,
        },
        threshold=judgement.threshold,
        verdict=judgement.verdict,
        ran=f"0-layer transformer (d_model 256, BPE vocab {lm.VOCAB}) trained on {m.n_bytes / 1e6:.1f} MB "
        f"of {corpus_label(m.source)}; table from all training tokens; KL averaged over positions",
    )
