"""The seed's structural claims hold on random models, and each would fail if broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from circuitlab.experiments import structure
from circuitlab.experiments.base import RunContext

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
