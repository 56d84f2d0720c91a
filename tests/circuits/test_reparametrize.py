"""Refactoring heads and rotating the residual stream leave the logits unchanged (and are not vacuous)."""

from __future__ import annotations

import pytest
import torch

from circuitlab.circuits.reparametrize import random_orthogonal, refactor_heads, rotate_residual
from circuitlab.transformer import Transformer, TransformerConfig


def model(normalization: str = "none", attn_only: bool = True, seed: int = 0) -> Transformer:
    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=20, n_ctx=8, attn_only=attn_only,
        d_mlp=None if attn_only else 32, normalization=normalization, positional="learned",
        init_range=0.3, seed=seed,
    )  # fmt: skip
    m = Transformer(cfg).double()
    with torch.no_grad():  # non-zero biases, so they are tested too
        for name, p in m.named_parameters():
            if name.split(".")[-1].startswith("b_"):
                p.normal_(0, 0.1, generator=torch.Generator().manual_seed(seed + 7))
    return m


TOKENS = torch.randint(0, 20, (2, 8), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("attn_only", [True, False], ids=["attn-only", "with-mlp"])
def test_rotating_every_writer_and_reader_preserves_the_logits(attn_only: bool) -> None:
    m = model(attn_only=attn_only)
    before = m(TOKENS)
    R = rotate_residual(m, torch.Generator().manual_seed(1))
    torch.testing.assert_close(R @ R.T, torch.eye(16, dtype=R.dtype))
    torch.testing.assert_close(m(TOKENS), before)


def test_rotation_without_matching_readers_changes_the_logits() -> None:
    """The invariance is not vacuous: rotating only the embedding changes the output."""
    m = model()
    before = m(TOKENS)
    with torch.no_grad():
        m.embed.W_E.copy_(
            m.embed.W_E @ random_orthogonal(16, torch.Generator().manual_seed(2), torch.float64)
        )
    assert (m(TOKENS) - before).abs().max() > 1e-2


def test_layernorm_with_a_non_uniform_gain_breaks_the_rotation_invariance() -> None:
    m = model(normalization="layernorm")
    with torch.no_grad():
        for ln in (m.blocks[0].ln1, m.blocks[1].ln1, m.ln_final):
            torch.nn.init.normal_(ln.w, 1.0, 0.3, generator=torch.Generator().manual_seed(3))
    before = m(TOKENS)
    rotate_residual(m, torch.Generator().manual_seed(1))
    assert (m(TOKENS) - before).abs().max() > 1e-2


def test_a_given_rotation_is_the_one_applied() -> None:
    m, ref = model(), model()
    R = random_orthogonal(16, torch.Generator().manual_seed(5), torch.float64)
    assert rotate_residual(m, R=R) is R
    torch.testing.assert_close(m.W_E, ref.W_E @ R)
    torch.testing.assert_close(m.W_U, R.T @ ref.W_U)


def test_refactoring_heads_changes_w_v_and_w_q_but_not_w_ov_w_qk_or_the_logits() -> None:
    m = model(normalization="layernorm")
    before, ov, qk, w_v, w_q = m(TOKENS), m.OV.AB, m.QK.AB, m.W_V.clone(), m.W_Q.clone()
    used = refactor_heads(m, torch.Generator().manual_seed(1))
    assert len(used) == 2 and used[0][0].shape == (2, 8, 8)
    assert (m.W_V - w_v).abs().max() > 0.1 and (m.W_Q - w_q).abs().max() > 0.1
    torch.testing.assert_close(m.OV.AB, ov)
    torch.testing.assert_close(m.QK.AB, qk)
    torch.testing.assert_close(m(TOKENS), before)
