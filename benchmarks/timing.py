"""Interleaved timing shared by the benchmarks: each repetition times every function in turn."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import NamedTuple

import torch


class Timing(NamedTuple):
    """Medians over the repetitions: wall-clock seconds and process CPU seconds per call."""

    wall: float
    cpu: float


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def interleaved(
    fns: dict[str, Callable[[], object]], reps: int, device: str, warmup: int = 1
) -> dict[str, Timing]:
    """Median wall and CPU time per call of each function, timing them in turn within every
    repetition (so that a slow phase of the machine hits every contender alike)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            sync(device)
            w, c = time.perf_counter(), time.process_time()
            fn()
            sync(device)
            wall[name].append(time.perf_counter() - w)
            cpu[name].append(time.process_time() - c)
    return {name: Timing(statistics.median(wall[name]), statistics.median(cpu[name])) for name in fns}


def interleaved_medians(
    fns: dict[str, Callable[[], object]], reps: int, device: str, warmup: int = 1
) -> dict[str, float]:
    """Median wall seconds per call of each function (``interleaved`` without the CPU times)."""
    return {name: t.wall for name, t in interleaved(fns, reps, device, warmup).items()}
