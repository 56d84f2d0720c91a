"""`circuitlab reproduce --profile quick` on every claim that trains in seconds: all pass, and
results.json and report.html are what the issue promises. (The 2-layer induction claim, the
long one, has its own slow test in test_induction.py.) The run is the session's ``quick_run``, which
test_classic.py and test_superposition.py read too."""

from __future__ import annotations

import json
from html import escape

import pytest
from claim_helpers import QUICK_REDUCED, QuickRun

from circuitlab.experiments import registry
from circuitlab.experiments.run.results import validate_results


@pytest.mark.slow
def test_quick_profile_on_the_reduced_set_passes_and_writes_a_valid_run(quick_run: QuickRun) -> None:
    out = quick_run.out
    assert quick_run.returncode == 0, quick_run.stdout[-3000:] + quick_run.stderr[-3000:]
    doc = json.loads((out / "results.json").read_text())
    assert validate_results(doc) == []
    assert doc["profile"] == "quick"
    seed_order = [cid for cid in registry.claim_ids() if cid in QUICK_REDUCED]
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
    assert f"{len(QUICK_REDUCED)}/{len(QUICK_REDUCED)} claims pass" in quick_run.stdout
