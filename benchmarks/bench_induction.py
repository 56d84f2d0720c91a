"""Tokens and seconds until the 2-layer model forms induction heads (issues 4 and 18).

Trains the ``quick`` induction recipe (``circuitlab.experiments.induction.recipe``) from scratch
on the embedded corpus (the Python standard library) at seed 0 and reports the tokens seen and
the wall time, counted from the first optimizer step, at the first evaluation whose max layer-1
induction score on repeated random tokens reaches 0.7, with the phase-change window of
``circuitlab.circuits.find_phase_change``. Goal (issue 18): <= 15M tokens. Tokens are the goal;
seconds depend on the machine, which the row names (CPU model, cores, torch threads, device). The
time includes the evaluations themselves (every ``eval_every`` steps); corpus loading and
tokenization (cached after the first run) are not counted. The row says whether the recipe
used its repeated-passage curriculum.

``quick=True`` is a smoke run: 20 steps, nothing asserted about speed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from circuitlab.experiments.base import RunContext
from circuitlab.experiments.induction.phase import phase_window
from circuitlab.experiments.induction.recipe import INDUCTION_THRESHOLD, induction_recipe
from circuitlab.experiments.induction.train import train_induction
from circuitlab.experiments.run.machine import machine_info

GOAL_TOKENS = 15_000_000
SMOKE_STEPS = 20


def machine_name(device: str) -> str:
    """``CPU model (N cores, T torch threads), device``: where the seconds were measured."""
    info = machine_info(device)
    where = info.get("gpu") or device
    return f"{info['cpu']} ({info['cpu_count']} cores, {info['torch_threads']} torch threads), {where}"


def run(device: str, quick: bool) -> list[dict[str, Any]]:
    recipe = induction_recipe("quick", seed=0, steps=SMOKE_STEPS if quick else None, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_induction(RunContext(out_dir=Path(tmp), device=device, fresh=True), recipe)
    history = trained.history
    first = next((p for p in history if p.induction >= INDUCTION_THRESHOLD), None)
    best = max(history, key=lambda p: p.induction)
    phase = phase_window(history)
    found = phase is not None and phase.found
    return [
        {
            "name": "induction_smoke_tokens_to_0.7" if quick else "tokens_to_induction",
            "tokens": first.tokens if first else None,
            "seconds": first.seconds if first else None,
            "goal": None if quick else f"<= {GOAL_TOKENS / 1e6:.0f}M tokens",
            "met": None if quick else bool(first is not None and first.tokens <= GOAL_TOKENS),
            "machine": machine_name(device),
            "corpus": recipe.corpus,
            "seed": recipe.train.seed,
            "curriculum": recipe.repeat_fraction > 0,
            "recipe": recipe.describe(),
            "step": first.step if first else None,
            "induction": first.induction if first else None,
            "note": None if first else f"never reached {INDUCTION_THRESHOLD} in {trained.tokens_seen} tokens",
            "phase_change_tokens": [phase.start_tokens, phase.end_tokens] if found else None,
            "best_induction": best.induction,
            "best_at_tokens": best.tokens,
            "tokens_seen": trained.tokens_seen,
            "tokens_per_s": round(trained.tokens_per_s),
            "train_seconds": round(trained.train_seconds, 1),
            "threads": torch.get_num_threads(),
        }
    ]


if __name__ == "__main__":
    import sys

    torch.set_num_threads(2)
    for row in run("cpu", quick="--quick" in sys.argv):
        print(row)
