"""Feature dashboard data: top contexts, histogram, logits through W_U, decoder neighbours."""

from __future__ import annotations

import json

import pytest
import torch

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.superposition import SAEConfig, SparseAutoencoder
from circuitlab.superposition.sae import LatentDashboard, latent_dashboards
from circuitlab.superposition.sae.features import latent_activations
from circuitlab.transformer import Transformer, TransformerConfig

HOOK = "blocks.1.hook_resid_post"


def setup() -> tuple[Transformer, SparseAutoencoder, torch.Tensor]:
    torch.manual_seed(0)
    cfg = TransformerConfig(n_layers=2, d_model=8, n_heads=2, d_head=4, d_vocab=13, n_ctx=9, attn_only=True)
    sae = SparseAutoencoder(SAEConfig(d_in=8, expansion=2, hook_name=HOOK))
    tokens = torch.randint(0, 13, (5, 9), generator=torch.Generator().manual_seed(3))
    return Transformer(cfg).eval(), sae, tokens


def test_dashboards_hold_the_top_contexts_histogram_logits_and_neighbours() -> None:
    model, sae, tokens = setup()
    f = latent_activations(model, sae, tokens, HOOK)
    dashes = latent_dashboards(
        model, sae, tokens, latents=[2, 5], decode=lambda ids: f"<{ids[0]}>", window=(2, 1)
    )
    assert [d.latent for d in dashes] == [2, 5]
    d = dashes[0]
    fj = f[..., 2]
    assert d.max_activation == pytest.approx(float(fj.max()), rel=1e-3)
    assert d.frequency == pytest.approx(float((fj > 0).float().mean()), abs=1e-6)
    peaks = [c.acts[c.peak] for c in d.contexts]
    assert peaks == sorted(peaks, reverse=True) and peaks[0] == pytest.approx(d.max_activation, rel=1e-3)
    row, pos = divmod(int(fj.flatten().argmax()), 9)
    assert d.contexts[0].tokens[d.contexts[0].peak] == f"<{int(tokens[row, pos])}>"
    assert sum(d.histogram) == int((fj > 0).sum()) and len(d.edges) == len(d.histogram) + 1
    effect = sae.W_dec[2].detach() @ model.W_U.detach()
    assert d.promoted[0] == (f"<{int(effect.argmax())}>", pytest.approx(float(effect.max()), abs=1e-4))
    assert d.suppressed[0] == (f"<{int(effect.argmin())}>", pytest.approx(float(effect.min()), abs=1e-4))
    rows = torch.nn.functional.normalize(sae.W_dec.detach(), dim=-1)
    cos = rows @ rows[2]
    cos[2] = -2
    assert d.neighbours[0][0] == int(cos.argmax())
    back = LatentDashboard.from_json(json.loads(json.dumps(d.to_json())))
    assert back == d


def test_default_latents_are_the_most_frequent_live_ones() -> None:
    model, sae, tokens = setup()
    dashes = latent_dashboards(model, sae, tokens, n_latents=3)
    freq = [d.frequency for d in dashes]
    assert len(dashes) == 3 and freq == sorted(freq, reverse=True) and freq[-1] > 0


def test_dashboard_bad_input_is_named() -> None:
    model, sae, tokens = setup()
    with pytest.raises(ConfigError, match=r"latents \[99\] are out of range; the SAE has latents 0..15"):
        latent_dashboards(model, sae, tokens, latents=[99])
    with pytest.raises(ShapeError, match="width 8 but the SAE has d_in=4"):
        latent_dashboards(model, SparseAutoencoder(SAEConfig(d_in=4, hook_name=HOOK)), tokens)
    with pytest.raises(ConfigError, match="needs a hook"):
        latent_dashboards(model, SparseAutoencoder(SAEConfig(d_in=8)), tokens)


def test_contexts_skip_positions_inside_the_window_of_one_already_shown() -> None:
    from circuitlab.superposition.sae.features import _contexts

    f = torch.zeros(2, 10)
    f[0, 4], f[0, 5], f[1, 5], f[0, 9] = 5.0, 4.0, 3.0, 2.0  # (0, 5) lies in (0, 4)'s window
    tokens = torch.arange(20).view(2, 10)
    shown = _contexts(f, tokens, n=3, window=(2, 1), name=str)
    assert [c.tokens[c.peak] for c in shown] == ["4", "15", "9"]
    assert shown[0].tokens == ["2", "3", "4", "5"] and shown[0].acts == [0.0, 0.0, 5.0, 4.0]
