"""README's "Coming from TransformerLens": the TransformerLens cell and the circuitlab cell print the
same logit-lens numbers (tests/test_readme.py runs every README block; this compares the two)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_two_cells_compute_the_same_logit_lens(tmp_path, monkeypatch) -> None:
    section = README.read_text().split("## Coming from TransformerLens", 1)[1].split("\n## ", 1)[0]
    cells = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(cells) == 2 and "to_transformer_lens" in cells[0] and "to_transformer_lens" not in cells[1]
    monkeypatch.chdir(tmp_path)
    results = []
    for cell in cells:
        namespace: dict = {"__name__": "readme_cell"}
        exec(compile(cell, str(README), "exec"), namespace)
        results.append((namespace["labels"], namespace["logit_lens_logit_diffs"].detach()))
    (our_labels, ours), (their_labels, theirs) = results[1], results[0]
    assert our_labels == their_labels == ["0_pre", "0_mid", "1_pre", "1_mid", "final_post"]
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-4)
