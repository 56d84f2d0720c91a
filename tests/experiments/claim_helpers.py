"""Run a registered claim by id, optionally with the claim function's own keyword arguments."""

from __future__ import annotations

from dataclasses import replace
from functools import partial
from typing import Any

from circuitlab.experiments import registry
from circuitlab.experiments.base import ClaimResult, RunContext


def run_claim(claim_id: str, ctx: RunContext, **kwargs: Any) -> ClaimResult:
    """The registered claim's function, called with ``kwargs`` (tiny sizes), through ``Claim.run``."""
    claim = registry.get(claim_id)
    return replace(claim, experiment=partial(claim.experiment, **kwargs)).run(ctx)


def check_result(result: ClaimResult, ctx: RunContext, claim_id: str) -> None:
    """The registry's id and seed are written in, the verdict is judged, figures are PNGs in the run."""
    assert isinstance(result, ClaimResult) and result.id == claim_id
    assert result.seed == registry.get(claim_id).seed
    assert result.verdict in ("pass", "fail") and result.threshold and result.ran
    for rel in result.figures.values():
        path = ctx.out_dir / rel
        assert path.suffix == ".png" and path.read_bytes()[:4] == b"\x89PNG"
    result.to_json()
