"""Every Python example in the README runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
RUNNABLE = [b for b in BLOCKS if "import circuitlab" in b]


def test_the_readme_has_runnable_examples() -> None:
    assert len(RUNNABLE) >= 4


@pytest.mark.parametrize("block", RUNNABLE, ids=[f"example-{i}" for i in range(len(RUNNABLE))])
def test_readme_example_runs(block: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if "to_transformer_lens" in block:  # the TransformerLens side of "Coming from TransformerLens"
        pytest.importorskip("transformer_lens", reason="transformer-lens is not installed")
    if "import transformers" in block:  # "Bring your own model" builds its checkpoint with transformers
        pytest.importorskip("transformers", reason="transformers is not installed (the pretrained extra)")
    monkeypatch.chdir(tmp_path)
    exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})
