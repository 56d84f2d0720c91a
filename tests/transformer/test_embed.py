"""Embedding, positional encodings and unembedding against their definitions."""

from __future__ import annotations

import math

import pytest
import torch

from circuitlab.transformer.embed import Embed, PosEmbed, Unembed, sinusoidal_table


@pytest.mark.parametrize("d_model", [6, 7, 16], ids=["even", "odd", "d16"])
def test_sinusoidal_table_is_the_seeds_formula_entry_by_entry(d_model: int) -> None:
    n_ctx = 12
    table = sinusoidal_table(n_ctx, d_model)
    assert table.shape == (n_ctx, d_model) and table.dtype == torch.float32
    for p in range(n_ctx):
        for j in range(d_model):
            i = j // 2
            angle = p / 10000 ** (2 * i / d_model)
            expected = math.sin(angle) if j % 2 == 0 else math.cos(angle)
            assert table[p, j].item() == pytest.approx(expected, abs=1e-6), (p, j)


def test_sinusoidal_positions_are_a_fixed_buffer_and_learned_ones_a_parameter() -> None:
    fixed, learned = PosEmbed(5, 4, learned=False), PosEmbed(5, 4, learned=True)
    assert [n for n, _ in fixed.named_parameters()] == []
    assert "W_pos" in dict(fixed.named_buffers())
    assert [n for n, _ in learned.named_parameters()] == ["W_pos"]
    assert fixed(3).shape == (3, 4)
    torch.testing.assert_close(fixed(3), sinusoidal_table(5, 4)[:3])


def test_embed_picks_rows_of_W_E_and_its_gradient_matches_indexing() -> None:
    embed = Embed(7, 3)
    torch.nn.init.normal_(embed.W_E, generator=torch.Generator().manual_seed(0))
    tokens = torch.tensor([[1, 1, 4], [6, 0, 1]])
    out = embed(tokens)
    torch.testing.assert_close(out, embed.W_E[tokens], rtol=0, atol=0)
    out.pow(2).sum().backward()
    expected = torch.zeros(7, 3).index_add_(
        0, tokens.reshape(-1), 2 * embed.W_E.detach()[tokens].reshape(-1, 3)
    )
    torch.testing.assert_close(embed.W_E.grad, expected)


def test_unembed_is_x_W_U_plus_b_U() -> None:
    unembed = Unembed(4, 9)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        unembed.W_U.copy_(torch.randn(4, 9, generator=gen))
        unembed.b_U.copy_(torch.randn(9, generator=gen))
    x = torch.randn(2, 3, 4, generator=gen)
    torch.testing.assert_close(unembed(x), x @ unembed.W_U + unembed.b_U)
