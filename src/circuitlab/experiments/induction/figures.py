"""Figures of the two-layer induction claim: patterns of the found heads, composition, and the
phase change as Olsson et al. (2022) show it (scores on one tokens axis; per-token loss difference)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from circuitlab.circuits import PhaseChange, attention_patterns
from circuitlab.experiments.base import RunContext, save_figure
from circuitlab.experiments.induction.phase import LossDifference
from circuitlab.experiments.induction.recipe import INDUCTION_THRESHOLD
from circuitlab.report.figures import pyplot
from circuitlab.training.induction_tracker import ScorePoint

PHASE_CAPTION = (
    "The phase change (Olsson et al. 2022, Figure 1): training loss, in-context-learning score (loss of "
    "token {1} minus token {0} of 64 validation windows) and the max induction (prefix-matching) score of "
    "the layer-1 heads, the max previous-token score of the layer-0 heads and the copying score of the "
    "top induction head (sum(lambda)/sum(|lambda|) over the eigenvalues of its full OV circuit, "
    "circuits.copying_scores) against tokens seen; shaded: the window from circuits.find_phase_change"
)
DIFFERENCE_CAPTION = (
    "Per-token loss difference: mean loss of each token index of the same 64 validation windows at the "
    "end of the phase-change window minus at its start (none found: the last evaluation minus the first); "
    "below zero: the token became easier to predict"
)


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


def plot_phase_change(ctx: RunContext, history: Sequence[ScorePoint], phase: PhaseChange | None) -> str:
    """Olsson et al. (2022) Figure 1 / argument 1: on one tokens-seen axis, the training loss, the
    in-context-learning score and the heads' induction (prefix-matching), previous-token and
    copying scores, with the phase-change window (``find_phase_change``) shaded."""
    tokens = [p.tokens / 1e6 for p in history]
    fig, (loss_ax, icl_ax, head_ax) = pyplot().subplots(3, 1, figsize=(7.5, 7.8), sharex=True)
    loss_ax.plot(tokens, [p.loss for p in history], "-", lw=1.2, color="C7")
    loss_ax.set(ylabel="training loss (nats)")
    icl_ax.plot(tokens, [p.icl for p in history], "o-", ms=2.5, color="C3")
    icl_ax.axhline(0, color="grey", lw=0.6)
    icl_ax.set(ylabel="ICL score (nats)")
    head_ax.plot(tokens, [p.induction for p in history], "o-", ms=2.5, label="induction (prefix matching)")
    head_ax.plot(tokens, [p.previous_token for p in history], "s-", ms=2.5, label="previous-token")
    copying = [(t, p.copying) for t, p in zip(tokens, history, strict=True) if p.copying is not None]
    if copying:
        head_ax.plot(*zip(*copying, strict=True), "^--", ms=2.5, label="copying (top induction head)")
    head_ax.axhline(INDUCTION_THRESHOLD, color="grey", ls=":", lw=1, label=f"threshold {INDUCTION_THRESHOLD}")
    head_ax.set(xlabel="tokens seen (millions)", ylabel="head score", ylim=(-1.05 if copying else 0, 1.05))
    for ax in (loss_ax, icl_ax, head_ax):
        _shade(ax, phase)
    head_ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(_window_title(phase), fontsize=10)
    fig.tight_layout()
    return save_figure(ctx, fig, "figures", "induction_phase_change")


def plot_loss_difference(ctx: RunContext, difference: LossDifference | None) -> str:
    """Mean loss of each token index of the validation windows after the window minus before it."""
    fig, ax = pyplot().subplots(figsize=(6, 2.8))
    if difference is None:
        ax.text(0.5, 0.5, "per-token losses not recorded (a history from an older circuitlab):\n"
                "rerun the claim with --fresh", ha="center", va="center", transform=ax.transAxes)  # fmt: skip
        ax.set_axis_off()
    else:
        index = range(1, len(difference.diff) + 1)
        ax.plot(index, difference.diff, "-", lw=1, color="C0")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set(xlabel="token index in context", ylabel="loss after - before (nats)")
        before, after = difference.before.tokens / 1e6, difference.after.tokens / 1e6
        what = "across the phase change" if difference.across_window else "first vs last evaluation"
        ax.set_title(f"{what}: {after:.2f}M minus {before:.2f}M tokens", fontsize=9)
    return save_figure(ctx, fig, "figures", "induction_loss_difference")


def _shade(ax, phase: PhaseChange | None) -> None:
    if phase is not None and phase.found:
        ax.axvspan(phase.start_tokens / 1e6, phase.end_tokens / 1e6, color="C1", alpha=0.18, lw=0)


def _window_title(phase: PhaseChange | None) -> str:
    if phase is None:
        return "The phase change: too few evaluations to locate it"
    if not phase.found:
        return (
            f"No phase change: the induction score rose by {phase.peak_score - phase.early_score:.2f} (< 0.2)"
        )
    return (
        f"The phase change (shaded): {phase.start_tokens / 1e6:.2f}M to {phase.end_tokens / 1e6:.2f}M "
        "tokens seen"
    )


__all__ = [
    "DIFFERENCE_CAPTION",
    "PHASE_CAPTION",
    "patterns_of",
    "plot_composition",
    "plot_loss_difference",
    "plot_patterns",
    "plot_phase_change",
]
