"""The superposition reproductions: typed results with figures, at tiny sizes; the quick claims pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from circuitlab.experiments import superposition_setup
from circuitlab.experiments.base import ClaimResult, RunContext
from circuitlab.experiments.superposition import (
    CLAIMS,
    DimensionalityResult,
    PentagonResult,
    SAERecoveryResult,
    SweepResult,
)

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


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", ["superposition_pentagon", "sae_recovers_features"])
def test_quick_profile_claim_passes(tmp_path: Path, claim_id: str) -> None:
    result = CLAIMS[claim_id](RunContext(out_dir=tmp_path, profile="quick"))
    assert result.passed, result.measured
