"""`circuitlab reproduce --profile quick` on every claim that trains in seconds: all pass, and
results.json and report.html are what the issue promises. (The 2-layer induction claim, the
long one, has its own slow test in test_induction.py.)"""

from __future__ import annotations

import json
import subprocess
import sys
from html import escape
from pathlib import Path

import pytest

from circuitlab.experiments import registry
from circuitlab.experiments.run.results import validate_results

REDUCED = [
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
]


@pytest.mark.slow
def test_quick_profile_on_the_reduced_set_passes_and_writes_a_valid_run(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "circuitlab",
            "reproduce",
            "--profile",
            "quick",
            "--out",
            str(out),
            "--only",
            *REDUCED,
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    assert validate_results(doc) == []
    assert doc["profile"] == "quick"
    seed_order = [cid for cid in registry.claim_ids() if cid in REDUCED]
    assert [c["id"] for c in doc["claims"]] == seed_order
    assert all(c["verdict"] == "pass" for c in doc["claims"]), [
        c["id"] for c in doc["claims"] if c["verdict"] != "pass"
    ]
    html = (out / "report.html").read_text()
    sections = [html.index(f'<section class="claim pass" id="claim-{cid}">') for cid in seed_order]
    assert sections == sorted(sections)
    for cid in seed_order:
        assert escape(registry.get(cid).checked) in html
    assert "http://" not in html and "https://cdn" not in html
    assert f"{len(REDUCED)}/{len(REDUCED)} claims pass" in proc.stdout
