"""Run a registered claim by id, optionally with the claim function's own keyword arguments; read the
session's one quick run of the claims that train in seconds."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
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


#: The quick profile's claims that train in seconds (the 2-layer induction claim, the long one, has
#: its own slow test in test_induction.py).
QUICK_REDUCED = (
    "perceptron",
    "mlp",
    "lstm_memory",
    "vae",
    "positional_encoding",
    "layernorm",
    "no_privileged_basis",
    "virtual_weights",
    "additive_heads",
    "refactor_ov",
    "superposition_pentagon",
    "sae_recovers_features",
    "zero_layer_bigram",
)


def run_quick(folder: Path) -> None:
    """``circuitlab reproduce --profile quick --out folder/run --only QUICK_REDUCED`` in a subprocess;
    its exit code, stdout and stderr go to folder/{returncode,stdout,stderr}.txt."""
    args = ["reproduce", "--profile", "quick", "--out", str(folder / "run"), "--only", *QUICK_REDUCED]
    proc = subprocess.run(
        [sys.executable, "-m", "circuitlab", *args], capture_output=True, text=True, timeout=900
    )
    outputs = {"returncode": str(proc.returncode), "stdout": proc.stdout, "stderr": proc.stderr}
    for name, text in outputs.items():
        (folder / f"{name}.txt").write_text(text)


@dataclass(frozen=True)
class QuickRun:
    """What :func:`run_quick` left in a folder: the run folder, the exit code and the output."""

    out: Path
    returncode: int
    stdout: str
    stderr: str

    @classmethod
    def read(cls, folder: Path) -> QuickRun:
        text = {name: (folder / f"{name}.txt").read_text() for name in ("returncode", "stdout", "stderr")}
        return cls(folder / "run", int(text["returncode"]), text["stdout"], text["stderr"])

    def claim(self, claim_id: str) -> dict[str, Any]:
        """The claim's record in run/results.json (the CLI writes it even when a claim fails)."""
        assert claim_id in QUICK_REDUCED, f"{claim_id} is not in the quick run"
        path = self.out / "results.json"
        assert path.is_file(), f"the quick run wrote no results.json: {self.stderr[-3000:]}"
        (record,) = [c for c in json.loads(path.read_text())["claims"] if c["id"] == claim_id]
        return record
