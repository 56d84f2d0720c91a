"""Locate the induction-head phase change in a history of head scores tracked during training.

Olsson et al. (2022, "In-context Learning and Induction Heads", Argument 1) see induction heads
form in a narrow window of training in which the prefix-matching (induction) score jumps from
near zero and the in-context-learning score drops at the same time. Given the scores an
``InductionTracker``-like callback recorded against tokens seen, :func:`find_phase_change` names
that window with one fixed rule:

* ``s`` = the induction scores smoothed by a running median of 3 (the first and last point kept
  as they are), so that one noisy evaluation neither opens nor closes the window;
* ``early = s[0]``, ``peak = max(s)``, ``rise = peak - early``; a phase change is found iff
  ``rise >= min_rise`` (0.2 by default: in score units, a fifth of the [0, 1] range);
* ``i10`` = the first point with ``s >= early + 0.1 * rise``, ``i90`` the first with
  ``s >= early + 0.9 * rise``; the window runs from the point before ``i10`` (the last one still
  at the early level; ``i10`` itself when it is the first point) to ``i90``, so a jump between two
  evaluations is bracketed by them;
* ``threshold_tokens``: the tokens of the first *raw* score ``>= threshold`` (0.7 by default),
  None if no point reaches it, whether or not a phase change was found.

When the rows carry an in-context-learning score (``icl``: loss on a late token minus loss on an
early one), ``icl_change`` is its value at the window's end minus at its start (negative when
the model got better at using its context during the window).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from circuitlab.config import is_number
from circuitlab.errors import ConfigError, DataError

MIN_POINTS = 4


@dataclass(frozen=True)
class PhaseChange:
    """Where the induction score rose: tokens seen at the window's start and end (None if not found)."""

    found: bool
    start_tokens: int | None
    end_tokens: int | None
    early_score: float  # smoothed score at the first point
    peak_score: float  # largest smoothed score
    threshold: float
    threshold_tokens: int | None  # first raw score >= threshold
    icl_change: float | None  # icl at end minus icl at start (None: no window or no icl)


def _get(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


def _column(history: Sequence[Any], name: str, required: bool) -> list[float] | None:
    values = [_get(row, name) for row in history]
    if all(v is None for v in values) and not required:
        return None
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise DataError(
                f"history[{i}].{name}={v!r}: every row needs a finite number {name!r} "
                "(rows are mappings or objects such as ScorePoint with tokens and induction)"
            )
    return [float(v) for v in values]


def _median3(xs: list[float]) -> list[float]:
    inner = [statistics.median(xs[i - 1 : i + 2]) for i in range(1, len(xs) - 1)]
    return [xs[0], *inner, xs[-1]]


def find_phase_change(history: Sequence[Any], threshold: float = 0.7, min_rise: float = 0.2) -> PhaseChange:
    """The phase-change window of ``history`` by the rule in the module docstring.

    ``history``: rows in training order, each a mapping or an object with ``tokens`` (tokens
    seen, strictly increasing), ``induction`` (max layer-1 induction score) and optionally
    ``icl``. At least 4 rows are needed (fewer cannot tell an early level from a rise).
    """
    for name, value in (("threshold", threshold), ("min_rise", min_rise)):
        if not is_number(value) or value <= 0:
            raise ConfigError(f"find_phase_change {name}={value!r}: must be a number > 0 (defaults 0.7, 0.2)")
    if isinstance(history, str | bytes) or not isinstance(history, Sequence):
        raise DataError(f"history of type {type(history).__name__}: pass a list of score rows")
    if len(history) < MIN_POINTS:
        raise DataError(
            f"history of {len(history)} points: find_phase_change needs at least {MIN_POINTS}; "
            "score the heads more often (a smaller eval_every)"
        )
    tokens = _column(history, "tokens", required=True)
    if any(b <= a for a, b in zip(tokens, tokens[1:], strict=False)):
        raise DataError("history tokens must strictly increase: pass the rows in training order, once each")
    raw = _column(history, "induction", required=True)
    icl = _column(history, "icl", required=False)
    smooth = _median3(raw)
    early, peak = smooth[0], max(smooth)
    rise = peak - early
    reached = next((int(t) for t, s in zip(tokens, raw, strict=True) if s >= threshold), None)
    if rise < min_rise:
        return PhaseChange(False, None, None, early, peak, threshold, reached, None)
    i10 = next(i for i, s in enumerate(smooth) if s >= early + 0.1 * rise)
    i90 = next(i for i, s in enumerate(smooth) if s >= early + 0.9 * rise)
    i_start = max(i10 - 1, 0)
    change = None if icl is None else icl[i90] - icl[i_start]
    return PhaseChange(True, int(tokens[i_start]), int(tokens[i90]), early, peak, threshold, reached, change)


__all__ = ["PhaseChange", "find_phase_change"]
