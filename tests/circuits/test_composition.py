"""Composition and copying scores equal their dense definitions, TransformerLens's, and hand-built cases."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny

from circuitlab.circuits import composition_baseline, composition_scores, copying_scores
from circuitlab.errors import ConfigError


def dense_score(W_A, W_B):
    return torch.linalg.matrix_norm(W_A @ W_B) / torch.linalg.matrix_norm(W_A) / torch.linalg.matrix_norm(W_B)


@torch.no_grad()
@pytest.mark.parametrize("mode", ["Q", "K", "V"])
def test_composition_scores_equal_the_dense_frobenius_ratio_and_vanish_unless_earlier(mode):
    model = tiny(n_layers=3, d_model=12)
    scores = composition_scores(model, mode)
    QK, OV = model.QK.AB, model.OV.AB
    right = {"Q": QK, "K": QK.transpose(-2, -1), "V": OV}[mode]
    assert scores.shape == (3, 3, 3, 3)
    for l1 in range(3):
        for h1 in range(3):
            for l2 in range(3):
                for h2 in range(3):
                    expected = dense_score(OV[l1, h1], right[l2, h2]) if l1 < l2 else torch.tensor(0.0)
                    torch.testing.assert_close(scores[l1, h1, l2, h2], expected, rtol=1e-4, atol=1e-6)


@torch.no_grad()
@pytest.mark.interop
@pytest.mark.parametrize("mode", ["Q", "K", "V"])
def test_composition_scores_match_transformer_lens_all_composition_scores(mode):
    pytest.importorskip("transformer_lens")
    from circuitlab.interop import to_transformer_lens

    model = tiny(n_layers=3, d_model=12)
    hooked = to_transformer_lens(model)
    torch.testing.assert_close(
        composition_scores(model, mode), hooked.all_composition_scores(mode), rtol=1e-4, atol=1e-6
    )


def test_random_baseline_is_about_one_over_sqrt_d_model():
    for d_model in (16, 64, 256):
        model = tiny(d_model=d_model, d_head=8)
        baseline = composition_baseline(model, "K", n_samples=128)
        assert abs(baseline * d_model**0.5 - 1) < 0.15, (d_model, baseline)


@torch.no_grad()
def test_random_models_compose_at_the_baseline_level():
    model = tiny(n_layers=2, d_model=64, n_heads=8, d_head=8)
    for mode in ("Q", "K", "V"):
        mean = composition_scores(model, mode)[0, :, 1].mean().item()
        assert abs(mean / composition_baseline(model, mode) - 1) < 0.2, (mode, mean)


@torch.no_grad()
def test_induction_circuit_shows_k_composition_far_above_baseline_and_no_q_or_v_composition(
    induction_circuit,
):
    model = induction_circuit
    baseline = composition_baseline(model, "K")
    k, q, v = (composition_scores(model, m)[0, 0, 1, 0].item() for m in ("K", "Q", "V"))
    assert k > 2 * baseline, (k, baseline)  # aligned rank-12 maps reach 1/sqrt(12) = 0.29
    assert q < 1e-6 and v < 1e-6, (q, v)


@torch.no_grad()
def test_copying_score_is_plus_one_for_a_copying_head_and_minus_one_for_a_suppressing_head():
    model = tiny(n_layers=1, n_heads=2, d_model=8, d_head=4, normalization="none")
    P = torch.eye(8)[:, :4]
    model.unembed.W_U.copy_(model.W_E.T)
    model.blocks[0].attn.W_V.copy_(torch.stack([P, P]))
    model.blocks[0].attn.W_O.copy_(torch.stack([P.T, -P.T]))  # full OV = +/- W_E P P^T W_E^T
    torch.testing.assert_close(copying_scores(model), torch.tensor([[1.0, -1.0]]), atol=1e-5, rtol=0)


@torch.no_grad()
def test_copying_scores_equal_the_dense_eigenvalue_ratio_of_the_full_ov_circuit():
    model = tiny(normalization="none")
    scores = copying_scores(model)
    for l in range(2):
        for h in range(3):
            eig = torch.linalg.eigvals((model.W_E @ model.OV[l, h].AB @ model.W_U).double())
            torch.testing.assert_close(
                scores[l, h].double(), eig.sum().real / eig.abs().sum(), rtol=1e-3, atol=1e-4
            )


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: composition_scores(tiny(n_layers=1), "K"), "at least 2 layers.*n_layers=1"),
        (lambda: composition_scores(tiny(n_layers=0), "Q"), "at least 2 layers.*n_layers=0"),
        (lambda: composition_scores(tiny(), "O"), "mode 'O'"),
        (lambda: composition_baseline(tiny(), "K", n_samples=0), "n_samples=0"),
        (lambda: copying_scores(tiny(n_layers=0)), "n_layers=0"),
    ],
    ids=["one-layer", "zero-layers", "bad-mode", "no-samples", "copying-zero-layers"],
)
def test_bad_composition_requests_raise_config_errors(call, match):
    with pytest.raises(ConfigError, match=match):
        call()
