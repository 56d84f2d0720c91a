"""find_phase_change names the window of a rise in the induction score, and only of a rise."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import pytest

from circuitlab.circuits import PhaseChange, find_phase_change
from circuitlab.errors import ConfigError, DataError

STEP = 400_000  # tokens between evaluations


def rows(scores, icl=None):
    return [
        {"tokens": (i + 1) * STEP, "induction": s, **({} if icl is None else {"icl": icl[i]})}
        for i, s in enumerate(scores)
    ]


def sigmoid_scores(n=40, mid=20, width=1.5, low=0.02, high=0.9):
    return [low + (high - low) / (1 + math.exp(-(i - mid) / width)) for i in range(n)]


def test_sigmoid_rise_window_brackets_the_midpoint_and_the_threshold():
    scores = sigmoid_scores()
    result = find_phase_change(rows(scores))
    assert isinstance(result, PhaseChange) and result.found
    # 10% of the rise is reached 3.3 widths before the midpoint, 90% 3.3 widths after it.
    assert result.start_tokens == 17 * STEP  # last point below the 10% level (i = 16)
    assert result.end_tokens == 25 * STEP  # first point at or above the 90% level (i = 24)
    assert result.start_tokens < 21 * STEP < result.end_tokens  # the midpoint i = 20 is inside
    first_07 = next(i for i, s in enumerate(scores) if s >= 0.7)
    assert result.threshold_tokens == (first_07 + 1) * STEP
    assert result.early_score == pytest.approx(scores[0])
    assert result.peak_score == pytest.approx(scores[-1])


def test_icl_change_is_the_drop_across_the_window():
    scores = sigmoid_scores()
    icl = [-0.05 - 0.4 * s for s in scores]  # the ICL score falls as induction rises
    result = find_phase_change(rows(scores, icl))
    assert result.icl_change == pytest.approx(icl[24] - icl[16])
    assert result.icl_change < -0.25
    assert find_phase_change(rows(scores)).icl_change is None


def test_no_rise_is_not_a_phase_change():
    flat = [0.02 + 0.01 * math.sin(i) for i in range(30)]
    result = find_phase_change(rows(flat))
    assert not result.found
    assert result.start_tokens is None and result.end_tokens is None and result.icl_change is None
    assert result.threshold_tokens is None


def test_a_slow_plateau_below_min_rise_is_not_found_but_a_custom_min_rise_finds_it():
    plateau = [0.02 + 0.16 * min(1.0, i / 10) for i in range(30)]  # 0.02 -> 0.18, like the full profile
    assert not find_phase_change(rows(plateau)).found
    assert find_phase_change(rows(plateau), min_rise=0.1).found


def test_noisy_rise_is_found_and_one_spike_does_not_open_the_window():
    rng = random.Random(0)
    scores = [s + rng.uniform(-0.03, 0.03) for s in sigmoid_scores()]
    scores[5] = 0.75  # a single outlying evaluation long before the rise
    result = find_phase_change(rows(scores))
    assert result.found
    assert 15 * STEP <= result.start_tokens <= 19 * STEP  # the smoothed spike does not open the window
    assert 23 * STEP <= result.end_tokens <= 27 * STEP
    assert result.threshold_tokens == 6 * STEP  # but the raw spike did reach the threshold first


def test_rise_at_the_very_end_closes_the_window_at_the_last_point():
    scores = [0.02] * 19 + [0.8]
    result = find_phase_change(rows(scores))
    assert result.found
    assert (result.start_tokens, result.end_tokens) == (19 * STEP, 20 * STEP)
    assert result.threshold_tokens == 20 * STEP


def test_rows_may_be_objects_such_as_score_points():
    @dataclass
    class Point:
        tokens: int
        induction: float
        icl: float

    points = [Point((i + 1) * STEP, s, -s) for i, s in enumerate(sigmoid_scores())]
    assert find_phase_change(points) == find_phase_change(
        rows(sigmoid_scores(), [-s for s in sigmoid_scores()])
    )


@pytest.mark.parametrize(
    ("history", "match"),
    [
        (rows([0.1, 0.5, 0.9]), "at least 4"),
        ([], "at least 4"),
        ("tokens", "list of score rows"),
        ([{"tokens": 1, "induction": 0.1}] * 4, "strictly increase"),
        (rows([0.1, 0.2, float("nan"), 0.9]), "finite number 'induction'"),
        ([{"tokens": i + 1} for i in range(4)], "finite number 'induction'"),
    ],
)
def test_unusable_histories_raise_a_data_error_naming_the_fix(history, match):
    with pytest.raises(DataError, match=match):
        find_phase_change(history)


def test_bad_threshold_or_min_rise_is_a_config_error():
    with pytest.raises(ConfigError, match="threshold"):
        find_phase_change(rows(sigmoid_scores()), threshold=0)
    with pytest.raises(ConfigError, match="min_rise"):
        find_phase_change(rows(sigmoid_scores()), min_rise=float("nan"))
