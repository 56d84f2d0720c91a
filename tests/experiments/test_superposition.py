"""The superposition reproductions: typed results with figures, at tiny sizes; the quick claims pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from circuitlab.errors import HookNameError, ShapeError
from circuitlab.experiments import superposition_setup
from circuitlab.experiments.base import ClaimResult, RunContext
from circuitlab.experiments.superposition import (
    CLAIMS,
    DimensionalityResult,
    PentagonResult,
    SAERecoveryResult,
    SweepResult,
    sae_on_transformer,
)
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.superposition import SAEConfig

TINY = superposition_setup.Sizes(
    pentagon_sparsities=2,
    pentagon_restarts=2,
    pentagon_steps=30,
    sweep_sparsities=2,
    sweep_p_min=0.1,
    sweep_steps=30,
    dim_features=8,
    dim_hidden=3,
    dim_sparsities=2,
    dim_p_min=0.1,
    dim_steps=30,
    dim_batch=64,
    sae_toy_steps=30,
    sae_steps=30,
    batch=64,
)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> RunContext:
    monkeypatch.setitem(superposition_setup.PROFILES, "quick", TINY)
    return RunContext(out_dir=tmp_path, profile="quick")


@pytest.mark.parametrize(
    ("claim_id", "result_type"),
    [
        ("superposition_pentagon", PentagonResult),
        ("superposition_sweep", SweepResult),
        ("feature_dimensionality", DimensionalityResult),
        ("sae_recovers_features", SAERecoveryResult),
    ],
    ids=["pentagon", "sweep", "dimensionality", "sae"],
)
def test_claim_returns_typed_result_with_figures_and_json(
    tiny: RunContext, claim_id: str, result_type
) -> None:
    seen: list[float] = []
    ctx = RunContext(out_dir=tiny.out_dir, profile="quick", progress=lambda f, _m: seen.append(f))
    result = CLAIMS[claim_id](ctx)
    assert isinstance(result, result_type) and isinstance(result, ClaimResult)
    assert result.id == claim_id and result.verdict in ("pass", "fail")
    assert "superposition" in result.seed and result.threshold and result.ran and result.seconds > 0
    assert seen and seen[-1] == 1.0
    assert result.figures
    for rel in result.figures.values():
        path = tiny.out_dir / rel
        assert not Path(rel).is_absolute() and path.suffix == ".png" and path.stat().st_size > 1000
    for rows in result.tables.values():
        assert all(len(row) == len(rows[0]) for row in rows)
    json.dumps(result.to_json())


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
    model = TinyTokenModel()
    tokens = torch.randint(0, 11, (8, 10), generator=torch.Generator().manual_seed(0))
    cfg = SAEConfig(d_in=6, expansion=2, steps=50, batch_size=32)
    out = sae_on_transformer(
        model,
        tokens,
        "blocks.0.hook_resid_post",
        cfg,
        n_show=3,
        top_k=4,
        decode=lambda ids: " ".join(map(str, ids)),
    )
    assert out.metrics.n_latents == 12 and 0 <= out.metrics.dead_latents <= 12
    assert len(out.latents) == 3
    latents = out.train.sae.encode(
        model.run_with_cache(tokens, names_filter="blocks.0.hook_resid_post")[1][
            "blocks.0.hook_resid_post"
        ].reshape(-1, 6)
    ).detach()
    for shown in out.latents:
        assert shown.activations == sorted(shown.activations, reverse=True)
        assert shown.activations[0] == pytest.approx(float(latents[:, shown.latent].max()), rel=1e-4)
        assert all(c[-1] == t for c, t in zip(shown.contexts, shown.tokens, strict=True))
        assert shown.text[0].split()[-1] == str(shown.tokens[0])


def test_sae_on_transformer_at_a_missing_hook_raises_hook_name_error() -> None:
    with pytest.raises(HookNameError, match="blocks.0.hook_resid_post"):
        sae_on_transformer(TinyTokenModel(), torch.zeros(2, 3, dtype=torch.long), "blocks.0.hook_resid_pre")


def test_sae_on_transformer_refuses_float_tokens() -> None:
    with pytest.raises(ShapeError, match="int64"):
        sae_on_transformer(TinyTokenModel(), torch.zeros(2, 3), "blocks.0.hook_resid_post")


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", ["superposition_pentagon", "sae_recovers_features"])
def test_quick_profile_claim_passes(tmp_path: Path, claim_id: str) -> None:
    result = CLAIMS[claim_id](RunContext(out_dir=tmp_path, profile="quick"))
    assert result.passed, result.measured
