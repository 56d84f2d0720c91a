"""The seed's structural claims hold on random models, with the numbers that say so."""

from __future__ import annotations

from pathlib import Path

import pytest
from claim_helpers import check_result, run_claim

from circuitlab.experiments.base import RunContext

STRUCTURAL = ["positional_encoding", "layernorm", "additive_heads", "refactor_ov", "no_privileged_basis",
              "virtual_weights"]  # fmt: skip


@pytest.mark.parametrize("claim_id", STRUCTURAL)
def test_structural_claim_passes_with_numbers(claim_id: str, tmp_path: Path) -> None:
    ctx = RunContext(out_dir=tmp_path)
    result = run_claim(claim_id, ctx)
    check_result(result, ctx, claim_id)
    assert result.verdict == "pass", result.measured
    assert result.measured and all(isinstance(v, (int, float)) for v in result.measured.values())
    for fig in result.figures.values():
        assert (tmp_path / fig).stat().st_size > 1000


def test_the_basis_claim_measures_a_real_change_with_layernorm(tmp_path: Path) -> None:
    m = run_claim("no_privileged_basis", RunContext(out_dir=tmp_path)).measured
    assert m["max_logit_change_without_layernorm"] < 1e-9 and m["max_logit_change_with_layernorm"] > 1e-2


def test_refactoring_changes_the_weights_it_says_leave_the_logits_alone(tmp_path: Path) -> None:
    m = run_claim("refactor_ov", RunContext(out_dir=tmp_path)).measured
    assert m["W_V_entries_changed_by"] > 0.1 and m["max_logit_change"] < 1e-8
