"""The phase change of the induction claim on synthetic histories: the window, what results.json
records, the per-token loss difference, and the two figures drawn from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from circuitlab.circuits import find_phase_change
from circuitlab.experiments.base import RunContext
from circuitlab.experiments.induction.figures import plot_loss_difference, plot_phase_change
from circuitlab.experiments.induction.phase import loss_difference, phase_measured, phase_window
from circuitlab.training.induction_tracker import ScorePoint

INDUCTION = [0.01, 0.02, 0.02, 0.05, 0.4, 0.85, 0.9, 0.92]
ICL = [0.3, 0.3, 0.28, 0.2, -0.3, -0.6, -0.62, -0.63]


def history(induction=INDUCTION, icl=ICL, recorded: bool = True) -> list[ScorePoint]:
    """Points every 100k tokens; per-token losses of 6 tokens, later tokens gaining as induction rises."""
    points = []
    for i, (score, c) in enumerate(zip(induction, icl, strict=True)):
        losses = [round(5.0 - score * t, 3) for t in range(6)] if recorded else None
        copying = round(2 * score - 1, 4) if recorded else None
        points.append(
            ScorePoint(
                i + 1, 100_000 * (i + 1), 2.0 * (i + 1), 5.0 - score, score, 1, 0.5, c, copying, losses
            )
        )
    return points


def test_results_record_the_first_point_at_0_7_and_find_phase_changes_window() -> None:
    h = history()
    phase = phase_window(h)
    expected = find_phase_change(h, threshold=0.7)
    assert phase == expected and phase.found
    m = phase_measured(h, phase)
    assert (m["tokens_to_induction"], m["seconds_to_induction"]) == (600_000, 12.0)
    assert m["induction_threshold"] == 0.7 and m["phase_change_found"] is True
    assert (m["phase_change_start_tokens"], m["phase_change_end_tokens"]) == (
        expected.start_tokens,
        expected.end_tokens,
    )
    assert (
        m["phase_change_icl_change"] == pytest.approx(expected.icl_change)
        and m["phase_change_icl_change"] < 0
    )


def test_a_flat_history_records_no_window_and_never_reaching_0_7() -> None:
    h = history([0.02] * 8)
    m = phase_measured(h, phase_window(h))
    assert m["tokens_to_induction"] is None and m["seconds_to_induction"] is None
    assert m["phase_change_found"] is False and m["phase_change_start_tokens"] is None


def test_too_few_points_give_no_window_instead_of_an_error() -> None:
    h = history()[:3]
    assert phase_window(h) is None
    assert phase_measured(h, None)["tokens_to_induction"] is None


def test_the_loss_difference_is_after_the_window_minus_before_it() -> None:
    h = history()
    phase = phase_window(h)
    d = loss_difference(h, phase)
    assert d.across_window and (d.before.tokens, d.after.tokens) == (phase.start_tokens, phase.end_tokens)
    assert d.diff == pytest.approx(
        [a - b for a, b in zip(d.after.token_losses, d.before.token_losses, strict=True)]
    )
    assert d.diff[0] == pytest.approx(0.0) and d.diff[-1] < d.diff[1] < 0  # later tokens gain most


def test_without_a_window_the_difference_is_last_minus_first_and_none_without_per_token_losses() -> None:
    flat = history([0.02] * 8)
    d = loss_difference(flat, phase_window(flat))
    assert not d.across_window and (d.before, d.after) == (flat[0], flat[-1])
    old = history(recorded=False)
    assert loss_difference(old, phase_window(old)) is None


@pytest.mark.parametrize("case", ["window", "flat", "older-history", "too-few"])
def test_the_phase_figures_are_drawn_for_every_kind_of_history(tmp_path: Path, case: str) -> None:
    h = {
        "window": history(),
        "flat": history([0.02] * 8),
        "older-history": history(recorded=False),
        "too-few": history()[:3],
    }[case]
    ctx = RunContext(out_dir=tmp_path)
    phase = phase_window(h)
    paths = [plot_phase_change(ctx, h, phase), plot_loss_difference(ctx, loss_difference(h, phase))]
    assert paths == ["figures/induction_phase_change.png", "figures/induction_loss_difference.png"]
    for rel in paths:
        assert (tmp_path / rel).read_bytes()[:4] == b"\x89PNG" and (tmp_path / rel).stat().st_size > 5000
