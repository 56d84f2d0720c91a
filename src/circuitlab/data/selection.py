"""Windows of unmodified text chosen for in-context repetition.

``repeat_flags(tokens, n, max_distance, max_count)[p]`` is True when the n-gram ending at token p
also ends at some earlier position p' with ``p - p' <= max_distance`` and occurs at most
``max_count`` times in ``tokens``: an induction head reading the context could have predicted
token p, and the n-gram is rare enough (not indentation, not a common keyword) that only the
context tells it. A window's score is its number of flagged target positions.

``RepetitionRichWindows`` draws training windows uniformly from the top ``fraction`` of
candidate windows (one every ``stride`` tokens) by that score. Every window is a slice of the
corpus: no token is added, copied or changed; only which slices are read changes. Aoyama et al.
(2025) and Zucchet et al. (2025) found that in-context repetition decides when induction heads
form; docs/induction-recipe.md holds what this selection measured (2026-12-03).
"""

from __future__ import annotations

import numpy as np

from circuitlab.config import is_int, is_number
from circuitlab.data.datasets import WindowBatches
from circuitlab.errors import ConfigError


def ngram_ids(tokens: np.ndarray, n: int) -> np.ndarray:
    """``ids[p]`` for each of the ``len(tokens) - n + 1`` n-grams ``tokens[p : p + n]``: equal ids
    exactly when the n-grams are equal. Built by doubling (ids of 2k-grams from pairs of k-gram
    ids, as in suffix-array construction), so any n and any vocabulary are exact."""
    _, ids = np.unique(np.asarray(tokens), return_inverse=True)
    ids = ids.reshape(-1)
    result, length, power = None, 0, 1
    while n:
        if n & 1:
            result = ids if result is None else _join(result, ids, length)
            length += power
        n >>= 1
        if n:
            ids, power = _join(ids, ids, power), 2 * power
    return result


def _join(a: np.ndarray, b: np.ndarray, shift: int) -> np.ndarray:
    """Ids of the grams ``a``'s gram at p followed by ``b``'s gram at ``p + shift``."""
    count = len(b) - shift
    key = a[:count].astype(np.int64) * (int(b.max()) + 1) + b[shift : shift + count]
    return np.unique(key, return_inverse=True)[1].reshape(-1)


def repeat_flags(
    tokens: np.ndarray, n: int = 8, max_distance: int = 255, max_count: int | None = 300
) -> np.ndarray:
    """bool ``[len(tokens)]``: the n-gram ending here occurred earlier within ``max_distance``
    tokens and occurs at most ``max_count`` times in ``tokens`` (None: no cap)."""
    if not is_int(n, 1):
        raise ConfigError(f"repeat_flags n={n!r}: must be an integer >= 1")
    if not is_int(max_distance, 1):
        raise ConfigError(f"repeat_flags max_distance={max_distance!r}: must be an integer >= 1")
    flags = np.zeros(len(tokens), dtype=bool)
    if len(tokens) < n + 1:
        return flags
    keys = ngram_ids(tokens, n)
    starts = np.arange(len(keys))
    order = np.lexsort((starts, keys))  # by n-gram, then by position
    key, start = keys[order], starts[order]
    same = np.r_[False, key[1:] == key[:-1]]  # the previous row is the same n-gram, earlier
    near = same & (np.r_[0, start[1:] - start[:-1]] <= max_distance)
    if max_count is not None:
        group = np.cumsum(~same) - 1
        near &= np.bincount(group)[group] <= max_count
    flags[start[near] + n - 1] = True
    return flags


class RepetitionRichWindows(WindowBatches):
    """Windows of ``n_ctx + 1`` tokens drawn from the top ``fraction`` by ``repeat_flags`` count.

    ``batches(step) -> Batch`` as :class:`~circuitlab.data.WindowBatches`, a pure function of
    ``(seed, stream, step)``. ``starts`` holds the candidate window starts it draws from and
    ``cut`` the least score among them.
    """

    def __init__(
        self,
        tokens: np.ndarray,
        batch_size: int,
        n_ctx: int,
        seed: int = 0,
        stream: int = 0,
        fraction: float = 0.1,
        n: int = 8,
        max_count: int | None = 300,
        stride: int = 16,
    ) -> None:
        super().__init__(tokens, batch_size, n_ctx, seed, stream)
        if not (is_number(fraction) and 0 < fraction <= 1):
            raise ConfigError(f"RepetitionRichWindows fraction={fraction!r}: must be in (0, 1]")
        if not is_int(stride, 1):
            raise ConfigError(f"RepetitionRichWindows stride={stride!r}: must be an integer >= 1")
        flagged = np.r_[0, np.cumsum(repeat_flags(tokens, n, n_ctx - 1, max_count))]
        candidates = np.arange(0, len(tokens) - n_ctx, stride)
        score = flagged[candidates + n_ctx + 1] - flagged[candidates + 1]  # flags on the targets
        self.cut = float(np.quantile(score, 1 - fraction))
        self.starts = candidates[score >= self.cut]

    def draw_starts(self, rng: np.random.Generator) -> np.ndarray:
        """``batch_size`` starts, uniform over the selected windows."""
        return rng.choice(self.starts, size=self.batch_size)
