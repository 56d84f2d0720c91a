"""Wall time until the 2-layer model forms induction heads (issue 4, "Speed").

Trains the ``quick`` induction recipe (``circuitlab.experiments.induction.recipe``) from scratch
on the embedded corpus and reports the wall time, counted from the first optimizer step, to the
first evaluation whose max layer-1 induction score on repeated random tokens reaches 0.7. Goal:
<= 300 s on 2 CPU cores. The time includes the evaluations themselves (every ``eval_every``
steps); corpus loading and tokenization (cached after the first run) are not counted.

``quick=True`` is a smoke run: 20 steps, nothing asserted about speed.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from circuitlab.experiments.base import RunContext
from circuitlab.experiments.induction.recipe import INDUCTION_THRESHOLD, induction_recipe
from circuitlab.experiments.induction.train import train_induction

GOAL_S = 300.0


def run(device: str, quick: bool) -> list[dict]:
    recipe = induction_recipe("quick", steps=20 if quick else None, device=device)
    with tempfile.TemporaryDirectory() as tmp:
        trained = train_induction(RunContext(out_dir=Path(tmp), device=device, fresh=True), recipe)
    first = next((p for p in trained.history if p.induction >= INDUCTION_THRESHOLD), None)
    best = max(trained.history, key=lambda p: p.induction)
    common = {
        "recipe": recipe.describe(),
        "threads": torch.get_num_threads(),
        "tokens_per_s": round(trained.tokens_per_s),
        "best_induction": best.induction,
        "best_at_tokens": best.tokens,
        "train_seconds": round(trained.train_seconds, 1),
    }
    if quick:
        return [
            {
                "name": "induction_smoke_train_seconds",
                "seconds": round(trained.train_seconds, 2),
                "goal": None,
                "met": None,
                **common,
            }
        ]
    if first is None:
        return [
            {
                "name": "time_to_induction",
                "seconds": None,
                "goal": f"<= {GOAL_S:.0f} s",
                "met": False,
                "note": f"never reached {INDUCTION_THRESHOLD} in {trained.tokens_seen} tokens",
                **common,
            }
        ]
    return [
        {
            "name": "time_to_induction",
            "seconds": first.seconds,
            "goal": f"<= {GOAL_S:.0f} s",
            "met": bool(first.seconds <= GOAL_S),
            "tokens": first.tokens,
            "step": first.step,
            "induction": first.induction,
            **common,
        }
    ]


if __name__ == "__main__":
    import sys

    torch.set_num_threads(2)
    for row in run("cpu", quick="--quick" in sys.argv):
        print(row)
