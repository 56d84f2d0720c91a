"""The seed's structural claims hold on random models, and each would fail if broken."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from circuitlab.experiments import structure
from circuitlab.experiments.base import RunContext
from circuitlab.experiments.structure_ops import random_tokens, rotate_residual, small_model

CLAIMS = [
    structure.positional_encoding,
    structure.layernorm,
    structure.additive_heads,
    structure.refactor_ov,
    structure.no_privileged_basis,
    structure.virtual_weights,
]


@pytest.mark.parametrize("claim", CLAIMS, ids=lambda f: f.__name__)
def test_structural_claim_passes_with_numbers(claim, tmp_path: Path) -> None:
    result = claim(RunContext(out_dir=tmp_path))
    assert result.verdict == "pass", result.measured
    assert result.id == claim.__name__
    assert result.seed and result.threshold and result.measured
    for fig in result.figures.values():
        assert (tmp_path / fig).stat().st_size > 1000


def test_rotation_without_matching_readers_changes_the_logits() -> None:
    """The invariance is not vacuous: rotating only the embedding changes the output."""
    model = small_model(0, normalization="none", n_layers=2)
    tokens = random_tokens(model, 0)
    before = model(tokens)
    R, _ = torch.linalg.qr(torch.randn(32, 32, dtype=torch.float64))
    with torch.no_grad():
        model.embed.W_E.copy_(model.embed.W_E @ R)
    assert (model(tokens) - before).abs().max() > 1e-2


def test_full_rotation_preserves_logits_of_an_mlp_model() -> None:
    from circuitlab.transformer import Transformer, TransformerConfig

    cfg = TransformerConfig(
        n_layers=2,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_vocab=20,
        n_ctx=8,
        attn_only=False,
        d_mlp=32,
        activation="relu",
        normalization="none",
        positional="learned",
        init_range=0.3,
    )
    model = Transformer(cfg).double()
    tokens = torch.randint(0, 20, (2, 8))
    before = model(tokens)
    rotate_residual(model, torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(tokens), before)
