"""The superposition reproductions: typed results with figures, at tiny sizes; the quick claims pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from claim_helpers import QuickRun, check_result, run_claim

from circuitlab.experiments.base import RunContext
from circuitlab.experiments.superposition import sizes
from circuitlab.experiments.superposition.dimensionality import DimensionalityResult
from circuitlab.experiments.superposition.pentagon import PentagonResult, gaps_deg
from circuitlab.experiments.superposition.restarts import ToySweep, train_with_restarts
from circuitlab.experiments.superposition.sae_toy import SAERecoveryResult
from circuitlab.experiments.superposition.sweep import SweepResult

TINY = sizes.Sizes(
    pentagon_sparsities=2, pentagon_restarts=2, pentagon_steps=30, sweep_sparsities=2, sweep_p_min=0.1,
    sweep_steps=30, dim_features=8, dim_hidden=3, dim_sparsities=2, dim_p_min=0.1, dim_steps=30,
    dim_batch=64, sae_toy_steps=30, sae_steps=30, batch=64,
)  # fmt: skip


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> RunContext:
    monkeypatch.setitem(sizes.PROFILES, "quick", TINY)
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
    result = run_claim(claim_id, ctx)
    check_result(result, ctx, claim_id)
    assert isinstance(result, result_type) and result.seconds > 0
    assert seen and seen[-1] == 1.0
    assert result.figures
    for rel in result.figures.values():
        path = tiny.out_dir / rel
        assert not Path(rel).is_absolute() and path.suffix == ".png" and path.stat().st_size > 1000
    for rows in result.tables.values():
        assert all(len(row) == len(rows[0]) for row in rows)
    json.dumps(result.to_json())


def test_restarts_keep_the_lowest_loss_instance_at_each_sparsity() -> None:
    sweep = ToySweep(4, 2, (1.0, 0.2), restarts=3)
    run = train_with_restarts(sweep, steps=20, batch=32, seed=0)
    assert run.W.shape == (2, 2, 4) and run.all_losses.shape == (2, 3)
    assert torch.equal(run.loss, run.all_losses.min(-1).values)


def test_gaps_of_a_regular_pentagon_are_72_degrees() -> None:
    angles = torch.arange(5) * 2 * torch.pi / 5 + 0.3
    W2 = torch.stack([angles.cos(), angles.sin()])
    assert gaps_deg(W2) == pytest.approx([72.0] * 5)


@pytest.mark.slow
@pytest.mark.parametrize("claim_id", ["superposition_pentagon", "sae_recovers_features"])
def test_quick_profile_claim_passes(quick_run: QuickRun, claim_id: str) -> None:
    claim = quick_run.claim(claim_id)  # the session's quick run (the same claim, profile and seed)
    assert claim["verdict"] == "pass", claim["measured"]
