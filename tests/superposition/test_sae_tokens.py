"""sae_on_transformer: metrics and, per shown latent, the tokens where it fires most; bad input named."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from circuitlab.errors import HookNameError, ShapeError
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.superposition import SAEConfig
from circuitlab.superposition.sae.tokens import sae_on_transformer, top_tokens


class TinyTokenModel(HookedModule):
    """Embedding plus one residual block over int tokens, with a ``blocks.0.hook_resid_post``."""

    def __init__(self, d_vocab: int = 11, d_model: int = 6) -> None:
        super().__init__()
        self.embed = nn.Embedding(d_vocab, d_model)
        self.blocks = nn.ModuleList([nn.Module()])
        self.blocks[0].hook_resid_post = HookPoint()
        self.unembed = nn.Linear(d_model, d_vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        resid = self.embed(tokens)
        resid = self.blocks[0].hook_resid_post(resid + torch.tanh(resid))
        return self.unembed(resid)


def test_sae_on_transformer_reports_metrics_and_the_tokens_where_latents_fire_most() -> None:
    torch.manual_seed(0)
    model = TinyTokenModel()
    tokens = torch.randint(0, 11, (8, 10), generator=torch.Generator().manual_seed(0))
    cfg = SAEConfig(d_in=6, expansion=2, steps=50, batch_size=32)
    out = sae_on_transformer(
        model, tokens, "blocks.0.hook_resid_post", cfg, n_show=3, top_k=4,
        decode=lambda ids: " ".join(map(str, ids)),
    )  # fmt: skip
    assert out.metrics.n_latents == 12 and 0 <= out.metrics.dead_latents <= 12
    assert len(out.latents) == 3 and out.hook_name == "blocks.0.hook_resid_post"
    _, cache = model.run_with_cache(tokens, names_filter="blocks.0.hook_resid_post")
    latents = out.train.sae.encode(cache["blocks.0.hook_resid_post"].reshape(-1, 6)).detach()
    for shown in out.latents:
        assert shown.activations == sorted(shown.activations, reverse=True)
        assert shown.activations[0] == pytest.approx(float(latents[:, shown.latent].max()), rel=1e-4)
        assert all(c[-1] == t for c, t in zip(shown.contexts, shown.tokens, strict=True))
        assert shown.text[0].split()[-1] == str(shown.tokens[0])


def test_top_tokens_maps_flat_rows_back_to_batch_and_position_with_their_context() -> None:
    tokens = torch.arange(12).view(2, 6)
    latents = torch.zeros(12, 2)
    latents[8, 1], latents[3, 1] = 5.0, 2.0  # row 8 = (1, 2), row 3 = (0, 3)
    shown = top_tokens(latents, tokens, latent=1, top_k=2, context=3)
    assert shown.tokens == [8, 3] and shown.activations == [5.0, 2.0]
    assert shown.contexts == [[6, 7, 8], [1, 2, 3]] and shown.text == []


def test_sae_on_transformer_at_a_missing_hook_raises_hook_name_error() -> None:
    with pytest.raises(HookNameError, match="blocks.0.hook_resid_post"):
        sae_on_transformer(TinyTokenModel(), torch.zeros(2, 3, dtype=torch.long), "blocks.0.hook_resid_pre")


def test_sae_on_transformer_refuses_float_tokens() -> None:
    with pytest.raises(ShapeError, match="int64"):
        sae_on_transformer(TinyTokenModel(), torch.zeros(2, 3), "blocks.0.hook_resid_post")
