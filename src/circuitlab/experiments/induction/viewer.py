"""The attention-viewer data of the two-layer induction claim: ``attention_viewer.json``.

Schema (read by :mod:`circuitlab.report.viewer`)::

    {"tokens": [str, ...], "layers": L, "heads": H,
     "patterns": [layer][head][query][key] (3 decimals), "marks": {"1.4": "induction", ...}}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from circuitlab.data.datasets import WindowBatches
from circuitlab.experiments.base import CorpusData, RunContext
from circuitlab.experiments.induction.figures import patterns_of
from circuitlab.experiments.induction.train import bos_id
from circuitlab.files import atomic_write

VIEWER_FILE = "attention_viewer.json"


def viewer_sample(data: CorpusData, n_ctx: int, seed: int = 3) -> torch.Tensor:
    """Real code from the corpus with a passage repeated: BOS + C + C[:n_repeat], ``[1, pos]``.

    C is ``n_text`` tokens of a validation window starting after a newline, so the sample reads
    as code; its first ``n_repeat`` tokens are repeated at the end: 1 + 44 + 32 = 77 tokens, or
    fewer in the same proportion when ``n_ctx`` is shorter.
    """
    total = min(77, n_ctx)
    n_text = round((total - 1) * 44 / 76)
    n_repeat = total - 1 - n_text
    source = data.tokens.val if len(data.tokens.val) > 4 * n_text else data.tokens.train
    window = WindowBatches(source, 1, 4 * n_text, seed=seed, stream=3)(0).inputs[0]
    newline = [i for i, t in enumerate(window.tolist()[: 3 * n_text]) if "\n" in data.tokenizer.decode([t])]
    start = newline[0] + 1 if newline else 0
    text = window[start : start + n_text]
    bos = bos_id(data)
    parts = ([torch.tensor([bos])] if bos is not None else []) + [text, text[:n_repeat]]
    return torch.cat(parts)[None]


def write_attention_viewer(
    ctx: RunContext, model, data: CorpusData, marks: dict[tuple[int, int], str]
) -> Path:
    """``attention_viewer.json``: tokens, every head's pattern (query x key, 3 decimals), marks."""
    tokens = viewer_sample(data, model.cfg.n_ctx)
    patterns = patterns_of(model, tokens)
    payload: dict[str, Any] = {
        "tokens": [data.tokenizer.decode([t]) for t in tokens[0].tolist()],
        "layers": model.cfg.n_layers,
        "heads": model.cfg.n_heads,
        "patterns": [
            [[[round(float(x), 3) for x in row] for row in head] for head in layer] for layer in patterns
        ],
        "marks": {f"{layer}.{head}": kind for (layer, head), kind in sorted(marks.items())},
    }
    return atomic_write(ctx.path(VIEWER_FILE), json.dumps(payload))  # compact: ~50k numbers


__all__ = ["VIEWER_FILE", "viewer_sample", "write_attention_viewer"]
