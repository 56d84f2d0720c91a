"""bench_induction's row: tokens and seconds to an induction score of 0.7, the machine named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from circuitlab.experiments.induction import train as induction_train
from circuitlab.experiments.run.machine import cpu_model
from circuitlab.training.induction_tracker import ScorePoint

ROOT = Path(__file__).resolve().parents[2]


def load(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_under_test", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_trained(scores: list[float]):
    """What train_induction returns, with a tracked history of ``scores`` every 1M tokens."""
    history = [
        ScorePoint(50 * (i + 1), 1_000_000 * (i + 1), 10.0 * (i + 1), 4.0, s, 0, 0.5, 0.1 - s)
        for i, s in enumerate(scores)
    ]
    return type("T", (), {"history": history, "tokens_seen": history[-1].tokens, "tokens_per_s": 1e5,
                          "train_seconds": history[-1].seconds})()  # fmt: skip


@pytest.mark.parametrize(
    "scores, tokens, met",
    [([0.01, 0.02, 0.3, 0.75, 0.9, 0.92], 4_000_000, True), ([0.01] * 16 + [0.8], 17_000_000, False),
     ([0.01] * 5, None, False)],
    ids=["reached-within-goal", "reached-past-goal", "never"],
)  # fmt: skip
def test_the_row_reports_tokens_and_seconds_to_0_7_against_the_15m_goal_and_names_the_machine(
    monkeypatch: pytest.MonkeyPatch, scores, tokens, met
) -> None:
    bench = load("bench_induction")
    recipes = []
    monkeypatch.setattr(
        bench, "train_induction", lambda ctx, recipe: recipes.append(recipe) or fake_trained(scores)
    )
    (row,) = bench.run("cpu", quick=False)
    assert (row["tokens"], row["met"], row["goal"]) == (tokens, met, "<= 15M tokens")
    assert row["seconds"] == (None if tokens is None else 10.0 * tokens / 1e6)
    assert cpu_model() in row["machine"] and "cores" in row["machine"] and row["machine"].endswith("cpu")
    (recipe,) = recipes
    assert recipe.corpus == "stdlib" and recipe.train.seed == 0 and row["corpus"] == "stdlib"
    assert row["phase_change_tokens"] is None or row["phase_change_tokens"][1] <= row["tokens_seen"]
    assert load("run").check_rows([row]) == [row]


def test_quick_smoke_trains_only_a_few_steps_and_claims_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load("bench_induction")
    steps = []
    monkeypatch.setattr(
        bench,
        "train_induction",
        lambda ctx, recipe: steps.append(recipe.train.steps) or fake_trained([0.01] * 4),
    )
    (row,) = bench.run("cpu", quick=True)
    assert steps == [bench.SMOKE_STEPS] and bench.SMOKE_STEPS <= 20
    assert row["goal"] is None and row["met"] is None and row["tokens"] is None


def test_the_table_shows_tokens_and_seconds_for_a_token_count_row() -> None:
    run = load("run")
    row = {
        "name": "tokens_to_induction",
        "tokens": 12_300_000,
        "seconds": 194.0,
        "goal": "<= 15M",
        "met": True,
    }
    assert run._fmt_measured(row) == "12.30M tokens, 194 s"
    assert run._fmt_measured({**row, "tokens": None, "seconds": None}) == "-"


def test_train_induction_is_what_the_benchmark_trains_with() -> None:
    assert load("bench_induction").train_induction is induction_train.train_induction
