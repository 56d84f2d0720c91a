"""The phase change in the tracked history: its window, and the per-token loss across it.

Olsson et al. (2022, "In-context Learning and Induction Heads", Argument 1) show the phase change
two ways: the scores against tokens seen with the window marked, and the loss at each token index
after the window minus before it (later tokens gain most: the model now uses its context).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from circuitlab.circuits import PhaseChange, find_phase_change
from circuitlab.circuits.phase_change import MIN_POINTS
from circuitlab.errors import DataError
from circuitlab.experiments.induction.recipe import INDUCTION_THRESHOLD
from circuitlab.training.induction_tracker import ScorePoint


def phase_window(history: Sequence[ScorePoint]) -> PhaseChange | None:
    """``find_phase_change`` on the history (threshold 0.7); None when it has too few points (or
    points out of order, as a history pieced together across a resumed run may have)."""
    if len(history) < MIN_POINTS:
        return None
    try:
        return find_phase_change(history, threshold=INDUCTION_THRESHOLD)
    except DataError:
        return None


@dataclass(frozen=True)
class LossDifference:
    """Mean loss of each token index at ``after`` minus at ``before`` (``diff[t - 1]``: token t).

    ``across_window``: before/after are the phase-change window's first and last points; else
    the first and last points that recorded per-token losses.
    """

    before: ScorePoint
    after: ScorePoint
    diff: list[float]
    across_window: bool


def loss_difference(history: Sequence[ScorePoint], phase: PhaseChange | None) -> LossDifference | None:
    """The per-token loss difference across the window (None: no point recorded per-token losses)."""
    points = [p for p in history if p.token_losses]
    if not points:
        return None
    by_tokens = {p.tokens: p for p in points}
    found = phase is not None and phase.found
    if found and phase.start_tokens in by_tokens and phase.end_tokens in by_tokens:
        before, after, across = by_tokens[phase.start_tokens], by_tokens[phase.end_tokens], True
    else:
        before, after, across = points[0], points[-1], False
    diff = [round(a - b, 4) for a, b in zip(after.token_losses, before.token_losses, strict=True)]
    return LossDifference(before, after, diff, across)


def phase_measured(history: Sequence[ScorePoint], phase: PhaseChange | None) -> dict[str, object]:
    """What results.json records: the first evaluation at >= 0.7 and the window."""
    first = next((p for p in history if p.induction >= INDUCTION_THRESHOLD), None)
    found = phase is not None and phase.found
    return {
        "induction_threshold": INDUCTION_THRESHOLD,
        "tokens_to_induction": first.tokens if first else None,
        "seconds_to_induction": first.seconds if first else None,
        "phase_change_found": found,
        "phase_change_start_tokens": phase.start_tokens if found else None,
        "phase_change_end_tokens": phase.end_tokens if found else None,
        "phase_change_icl_change": round(phase.icl_change, 4)
        if found and phase.icl_change is not None
        else None,
    }


__all__ = ["LossDifference", "loss_difference", "phase_measured", "phase_window"]
