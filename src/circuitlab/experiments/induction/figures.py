"""Figures and the attention-viewer JSON of the two-layer induction claim."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from circuitlab.data.datasets import WindowBatches  # noqa: E402
from circuitlab.experiments.base import RunContext  # noqa: E402
from circuitlab.experiments.induction_recipe import INDUCTION_THRESHOLD  # noqa: E402
from circuitlab.training.induction_tracker import ScorePoint  # noqa: E402

VIEWER_FILE = "attention_viewer.json"


@torch.no_grad()
def attention_patterns(model, tokens: torch.Tensor) -> torch.Tensor:
    """``[n_layers, n_heads, query, key]`` attention patterns of one sequence ``[1, pos]``."""
    names = [f"blocks.{layer}.attn.hook_pattern" for layer in range(model.cfg.n_layers)]
    _, cache = model.run_with_cache(tokens, names_filter=names)
    return torch.stack([cache[n][0] for n in names])


def plot_patterns(ctx: RunContext, model, tokens: torch.Tensor, heads: Sequence[tuple[int, int]]) -> Path:
    """One heatmap per head (query down, key across) on one BOS + R + R sequence."""
    patterns = attention_patterns(model, tokens)
    fig, axes = plt.subplots(1, len(heads), figsize=(3.6 * len(heads), 3.6), squeeze=False)
    for ax, (layer, head) in zip(axes[0], heads, strict=True):
        ax.imshow(patterns[layer, head].numpy(), cmap="Blues", vmin=0, vmax=1)
        kind = "previous-token" if layer == 0 else "induction"
        ax.set_title(f"head {layer}.{head} ({kind})", fontsize=9)
        ax.set_xlabel("key position")
        ax.set_ylabel("query position")
    fig.suptitle("Attention on BOS + R + R (R: 50 random tokens)", fontsize=10)
    fig.tight_layout()
    return _save(ctx, fig, "induction_patterns.png")


def plot_composition(ctx: RunContext, scores: dict[str, torch.Tensor], baseline: dict[str, float]) -> Path:
    """Q/K/V composition heatmaps, layer-0 heads (rows) into layer-1 heads (columns)."""
    top = max(float(s.max()) for s in scores.values())
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6))
    for ax, mode in zip(axes, ("Q", "K", "V"), strict=True):
        im = ax.imshow(scores[mode].numpy(), cmap="viridis", vmin=0, vmax=top)
        ax.set_title(f"{mode}-composition (random: {baseline[mode]:.3f})", fontsize=9)
        ax.set_xlabel("layer-1 head")
        ax.set_ylabel("layer-0 head")
        for (i, j), value in _cells(scores[mode]):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", color="w", fontsize=7)
    fig.colorbar(im, ax=axes, shrink=0.8)
    return _save(ctx, fig, "induction_composition.png")


def _cells(matrix: torch.Tensor):
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            yield (i, j), float(matrix[i, j])


def plot_phase_change(ctx: RunContext, history: Sequence[ScorePoint]) -> Path:
    """Induction, previous-token and in-context-learning scores against tokens seen."""
    tokens = [p.tokens / 1e6 for p in history]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax.plot(tokens, [p.induction for p in history], "o-", ms=3, label="induction (max, layer 1)")
    ax.plot(tokens, [p.previous_token for p in history], "s-", ms=3, label="previous-token (max, layer 0)")
    ax.axhline(INDUCTION_THRESHOLD, color="grey", ls="--", lw=1, label=f"threshold {INDUCTION_THRESHOLD}")
    ax.set_xlabel("tokens seen (millions)")
    ax.set_ylabel("head score")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    ax2.plot(tokens, [p.icl for p in history], "o-", ms=3, color="C3")
    ax2.set_xlabel("tokens seen (millions)")
    ax2.set_ylabel("in-context-learning score (nats)")
    ax2.set_title("loss(late token) - loss(early token)", fontsize=9)
    fig.tight_layout()
    return _save(ctx, fig, "induction_phase_change.png")


def _save(ctx: RunContext, fig, name: str) -> Path:
    path = ctx.path("figures", name)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def viewer_sample(data, n_ctx: int, seed: int = 3) -> torch.Tensor:
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
    bos = getattr(data.tokenizer, "eot_id", None)
    parts = ([torch.tensor([bos])] if bos is not None else []) + [text, text[:n_repeat]]
    return torch.cat(parts)[None]


def write_attention_viewer(ctx: RunContext, model, data, marks: dict[tuple[int, int], str]) -> Path:
    """``attention_viewer.json``: tokens, every head's pattern (query x key, 3 decimals), marks."""
    tokens = viewer_sample(data, model.cfg.n_ctx)
    patterns = attention_patterns(model, tokens)
    payload: dict[str, Any] = {
        "tokens": [data.tokenizer.decode([t]) for t in tokens[0].tolist()],
        "layers": model.cfg.n_layers,
        "heads": model.cfg.n_heads,
        "patterns": [
            [[[round(float(x), 3) for x in row] for row in head] for head in layer] for layer in patterns
        ],
        "marks": {f"{layer}.{head}": kind for (layer, head), kind in sorted(marks.items())},
    }
    path = ctx.path(VIEWER_FILE)
    path.write_text(json.dumps(payload))
    return path


__all__ = [
    "VIEWER_FILE",
    "attention_patterns",
    "plot_composition",
    "plot_patterns",
    "plot_phase_change",
    "viewer_sample",
    "write_attention_viewer",
]
