"""repeat_flags against a brute-force reference; RepetitionRichWindows draws only selected windows."""

from __future__ import annotations

import numpy as np
import pytest

from circuitlab.data import RepetitionRichWindows, WindowBatches, repeat_flags
from circuitlab.data.selection import ngram_ids
from circuitlab.errors import ConfigError, DataError


def reference_flags(x: list[int], n: int, max_distance: int, max_count: int | None) -> list[bool]:
    """The definition, one position at a time."""
    grams = [tuple(x[p - n + 1 : p + 1]) for p in range(n - 1, len(x))]
    counts = {g: grams.count(g) for g in grams}
    flags = [False] * len(x)
    for p in range(n - 1, len(x)):
        g = tuple(x[p - n + 1 : p + 1])
        earlier = any(tuple(x[q - n + 1 : q + 1]) == g for q in range(max(n - 1, p - max_distance), p))
        flags[p] = earlier and (max_count is None or counts[g] <= max_count)
    return flags


@pytest.mark.parametrize(
    "n, max_distance, max_count", [(1, 5, None), (2, 10, 3), (3, 40, 2), (4, 7, None), (7, 60, None)]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_repeat_flags_match_the_definition(
    n: int, max_distance: int, max_count: int | None, seed: int
) -> None:
    x = np.random.default_rng(seed).integers(0, 4, size=300)
    assert repeat_flags(x, n, max_distance, max_count).tolist() == reference_flags(
        x.tolist(), n, max_distance, max_count
    )


def test_repeat_flags_mark_a_copied_passage_and_skip_common_ngrams() -> None:
    rng = np.random.default_rng(0)
    passage = rng.integers(10, 1000, size=20)
    x = np.concatenate([passage, rng.integers(10, 1000, size=30), passage])
    flags = repeat_flags(x, n=4, max_distance=100, max_count=None)
    assert flags[53:70].all() and not flags[:50].any()  # from the 4th token of the copy on
    common = np.tile([1, 2, 3, 4, 5], 40)  # every 4-gram occurs ~40 times
    assert not repeat_flags(common, n=4, max_distance=100, max_count=10).any()
    assert repeat_flags(common, n=4, max_distance=100, max_count=None)[10:].all()


def test_ngram_ids_are_equal_exactly_when_the_ngrams_are_equal() -> None:
    x = np.random.default_rng(2).integers(0, 3, size=400) * 40_000  # ids too large for base^n keys
    for n in (1, 2, 3, 5, 8, 13):
        ids = ngram_ids(x, n)
        grams = [tuple(x[p : p + n]) for p in range(len(x) - n + 1)]
        assert len(ids) == len(grams)
        # a bijection between ids and n-grams: equal ids exactly when the n-grams are equal
        assert len(set(zip(ids.tolist(), grams, strict=True))) == len(set(ids.tolist())) == len(set(grams))


def test_repeat_flags_reject_a_bad_n() -> None:
    with pytest.raises(ConfigError, match="n=0"):
        repeat_flags(np.arange(10), n=0)


def windows_corpus() -> np.ndarray:
    rng = np.random.default_rng(3)
    parts = [rng.integers(0, 500, size=200) for _ in range(20)]
    parts[7] = np.tile(parts[7][:25], 8)  # one stretch of repeats
    return np.concatenate(parts)


def test_repetition_rich_windows_draw_only_the_top_windows_and_are_deterministic() -> None:
    tokens = windows_corpus()
    sel = RepetitionRichWindows(tokens, 8, 64, seed=5, fraction=0.05, n=4, max_count=None, stride=4)
    flags = repeat_flags(tokens, 4, 63, None)
    for step in range(5):
        w = sel.windows(step)
        assert w.shape == (8, 65)
        for row in w.numpy():
            start = next(s for s in sel.starts if np.array_equal(tokens[s : s + 65], row))
            assert flags[start + 1 : start + 65].sum() >= sel.cut > 0
    assert all(1400 - 64 <= s <= 1600 for s in sel.starts)  # inside or overlapping the repeats
    again = RepetitionRichWindows(tokens, 8, 64, seed=5, fraction=0.05, n=4, max_count=None, stride=4)
    assert (again(3).inputs == sel(3).inputs).all() and (sel(3).targets == sel.windows(3)[:, 1:]).all()


def test_repetition_rich_windows_with_fraction_one_keep_every_candidate() -> None:
    tokens = windows_corpus()
    sel = RepetitionRichWindows(tokens, 2, 32, fraction=1.0, stride=10)
    assert sel.starts.tolist() == list(range(0, len(tokens) - 32, 10))


@pytest.mark.parametrize(
    "bad, error",
    [
        (dict(fraction=0.0), ConfigError),
        (dict(fraction="0.1"), ConfigError),
        (dict(stride=0), ConfigError),
        (dict(stride=2.0), ConfigError),
        (dict(n_ctx=5000), DataError),
    ],
)
def test_repetition_rich_windows_reject_bad_settings(bad: dict, error: type) -> None:
    kwargs = dict(tokens=windows_corpus(), batch_size=2, n_ctx=32) | bad
    with pytest.raises(error):
        RepetitionRichWindows(**kwargs)


def test_window_batches_draw_the_same_windows_as_before_the_draw_starts_split() -> None:
    tokens = np.arange(1000)
    rng = np.random.default_rng([4, 2, 9])
    expected = rng.integers(0, 1000 - 16, size=3)
    assert WindowBatches(tokens, 3, 16, seed=4, stream=2).windows(9)[:, 0].tolist() == expected.tolist()
