"""Figures of the two-layer induction claim: patterns of the found heads, composition, phase change."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from circuitlab.circuits import attention_patterns
from circuitlab.experiments.base import RunContext, save_figure
from circuitlab.experiments.induction.recipe import INDUCTION_THRESHOLD
from circuitlab.report.figures import pyplot
from circuitlab.training.induction_tracker import ScorePoint


@torch.no_grad()
def patterns_of(model, tokens: torch.Tensor) -> torch.Tensor:
    """``[n_layers, n_heads, query, key]`` attention patterns of one sequence ``[1, pos]``."""
    return attention_patterns(model, tokens)[0]


def plot_patterns(ctx: RunContext, model, tokens: torch.Tensor, heads: Sequence[tuple[int, int]]) -> str:
    """One heatmap per head (query down, key across) on one BOS + R + R sequence."""
    patterns = patterns_of(model, tokens)
    fig, axes = pyplot().subplots(1, len(heads), figsize=(3.6 * len(heads), 3.6), squeeze=False)
    for ax, (layer, head) in zip(axes[0], heads, strict=True):
        ax.imshow(patterns[layer, head].numpy(), cmap="Blues", vmin=0, vmax=1)
        kind = "previous-token" if layer == 0 else "induction"
        ax.set_title(f"head {layer}.{head} ({kind})", fontsize=9)
        ax.set(xlabel="key position", ylabel="query position")
    fig.suptitle("Attention on BOS + R + R (R: 50 random tokens)", fontsize=10)
    return save_figure(ctx, fig, "figures", "induction_patterns")


def plot_composition(ctx: RunContext, scores: dict[str, torch.Tensor], baseline: dict[str, float]) -> str:
    """Q/K/V composition heatmaps, layer-0 heads (rows) into layer-1 heads (columns)."""
    top = max(float(s.max()) for s in scores.values())
    fig, axes = pyplot().subplots(1, 3, figsize=(11, 3.6))
    for ax, mode in zip(axes, ("Q", "K", "V"), strict=True):
        im = ax.imshow(scores[mode].numpy(), cmap="viridis", vmin=0, vmax=top)
        ax.set_title(f"{mode}-composition (random: {baseline[mode]:.3f})", fontsize=9)
        ax.set(xlabel="layer-1 head", ylabel="layer-0 head")
        for i in range(scores[mode].shape[0]):
            for j in range(scores[mode].shape[1]):
                ax.text(
                    j, i, f"{float(scores[mode][i, j]):.2f}", ha="center", va="center", color="w", fontsize=7
                )
    fig.colorbar(im, ax=axes, shrink=0.8)
    return save_figure(ctx, fig, "figures", "induction_composition")


def plot_phase_change(ctx: RunContext, history: Sequence[ScorePoint]) -> str:
    """Induction, previous-token and in-context-learning scores against tokens seen."""
    tokens = [p.tokens / 1e6 for p in history]
    fig, (ax, ax2) = pyplot().subplots(1, 2, figsize=(10, 3.6))
    ax.plot(tokens, [p.induction for p in history], "o-", ms=3, label="induction (max, layer 1)")
    ax.plot(tokens, [p.previous_token for p in history], "s-", ms=3, label="previous-token (max, layer 0)")
    ax.axhline(INDUCTION_THRESHOLD, color="grey", ls="--", lw=1, label=f"threshold {INDUCTION_THRESHOLD}")
    ax.set(xlabel="tokens seen (millions)", ylabel="head score", ylim=(0, 1))
    ax.legend(fontsize=8)
    ax2.plot(tokens, [p.icl for p in history], "o-", ms=3, color="C3")
    ax2.set(xlabel="tokens seen (millions)", ylabel="in-context-learning score (nats)")
    ax2.set_title("loss(late token) - loss(early token)", fontsize=9)
    return save_figure(ctx, fig, "figures", "induction_phase_change")


__all__ = ["patterns_of", "plot_composition", "plot_patterns", "plot_phase_change"]
