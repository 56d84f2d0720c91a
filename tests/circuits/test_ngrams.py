"""Bigram tables and skip-trigrams read off weights match hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from circuitlab.circuits.ngrams import (
    SkipTrigram,
    bigram_counts,
    bigram_fit,
    count_skip_trigram,
    model_bigram_logprobs,
    skip_trigrams,
)
from circuitlab.errors import ShapeError
from circuitlab.transformer import Transformer, TransformerConfig


def test_bigram_counts_count_each_adjacent_pair() -> None:
    counts = bigram_counts(np.array([0, 1, 0, 1, 2]), 3)
    assert counts[0, 1] == 2 and counts[1, 0] == 1 and counts[1, 2] == 1 and counts.sum() == 4


def test_bigram_counts_refuse_out_of_range_ids() -> None:
    with pytest.raises(ShapeError, match=r"\[0, 2\]"):
        bigram_counts(np.array([0, 3]), 3)


def test_the_empirical_table_fits_itself_perfectly_and_beats_unigrams() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 6, 2000)
    tokens[1::2] = (tokens[::2] + 1) % 6  # every even token is followed by its successor
    counts = bigram_counts(tokens, 6)
    log_p = (counts / counts.sum(1, keepdim=True)).clamp_min(1e-12).log()
    fit = bigram_fit(log_p, counts)
    assert fit.kl_model == pytest.approx(0.0, abs=1e-9)
    assert fit.agreement_model == pytest.approx(1.0)
    assert fit.kl_unigram > 0.1 and fit.agreement_unigram < 0.5


def zero_layer_model_with_table(table: torch.Tensor) -> Transformer:
    V = table.shape[0]
    cfg = TransformerConfig(
        n_layers=0,
        d_model=V,
        n_heads=1,
        d_head=1,
        d_vocab=V,
        n_ctx=4,
        positional="none",
        normalization="none",
    )
    model = Transformer(cfg)
    with torch.no_grad():
        model.embed.W_E.copy_(torch.eye(V))
        model.unembed.W_U.copy_(table)
    return model


def test_a_zero_layer_model_is_exactly_its_W_E_W_U_table() -> None:
    table = torch.randn(5, 5)
    log_q = model_bigram_logprobs(zero_layer_model_with_table(table))
    torch.testing.assert_close(log_q, torch.log_softmax(table.double(), -1))


def test_skip_trigram_of_a_hand_built_head_is_found_and_counted() -> None:
    # vocab 6, one-hot embeddings; the head makes destination 2 attend to source 0 and copies 0 -> 4.
    V = 6
    cfg = TransformerConfig(
        n_layers=1,
        d_model=V,
        n_heads=1,
        d_head=V,
        d_vocab=V,
        n_ctx=8,
        positional="none",
        normalization="none",
    )
    model = Transformer(cfg)
    with torch.no_grad():
        model.embed.W_E.copy_(torch.eye(V))
        a = model.blocks[0].attn
        a.W_Q.zero_()
        a.W_K.zero_()
        a.W_V.zero_()
        a.W_O.zero_()
        a.W_Q[0, 2, 0] = 5.0  # query of token 2 ...
        a.W_K[0, 0, 0] = 5.0  # ... matches the key of token 0
        a.W_V[0, 0, 0] = 3.0  # attending to 0 writes along direction 0 ...
        a.W_O[0, 0, 4] = 3.0  # ... which raises the logit of 4
        model.unembed.W_U.copy_(torch.eye(V))
    top = skip_trigrams(model, 0, 0, k=1)[0]
    assert (top.source, top.destination, top.output) == (0, 2, 4)
    stream = np.array([0, 5, 2, 4, 1, 2, 4, 3, 3, 3, 3, 3, 2, 4])
    assert count_skip_trigram(stream, top, window=4) == (1, 3)
    assert count_skip_trigram(stream, top, window=5) == (2, 3)
    assert isinstance(top, SkipTrigram)
