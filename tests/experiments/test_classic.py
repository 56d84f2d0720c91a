"""The classic-net claims run, return typed results with a verdict, and write their figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from circuitlab.experiments import classic
from circuitlab.experiments.base import ClaimResult, RunContext
from circuitlab.experiments.classic_memory import RecallNet, RecallTask, matched_rnn_hidden, n_params


@pytest.fixture
def ctx(tmp_path: Path) -> RunContext:
    return RunContext(out_dir=tmp_path, profile="quick", seed=0)


def _check_schema(result: ClaimResult, ctx: RunContext, claim_id: str) -> None:
    assert isinstance(result, ClaimResult) and result.id == claim_id
    assert result.verdict in ("pass", "fail") and result.seed and result.threshold and result.ran
    assert result.seconds > 0 or claim_id == "perceptron"
    for rel in result.figures.values():
        path = ctx.out_dir / rel
        assert path.suffix == ".png" and path.read_bytes()[:4] == b"\x89PNG"
    result.to_json()


def test_perceptron_claim_passes_with_the_seeds_numbers(ctx: RunContext) -> None:
    result = classic.perceptron(ctx)
    _check_schema(result, ctx, "perceptron")
    assert result.passed and result.measured["printed_1"] == 0.8176 and result.measured["printed_2"] == 0.6225


def test_mlp_on_digits_reaches_95_percent_held_out(ctx: RunContext) -> None:
    seen: list[float] = []
    result = classic.mlp(RunContext(out_dir=ctx.out_dir, progress=lambda f, m: seen.append(f)))
    _check_schema(result, ctx, "mlp")
    assert result.passed and result.test_accuracy >= 0.95
    assert seen and seen[-1] == 1.0


def test_memory_runs_at_a_tiny_size_and_reports_every_lag(ctx: RunContext) -> None:
    task = RecallTask(n_symbols=3, lags=(1, 2))
    result = classic.lstm_memory(ctx, steps=4, task=task, lstm_hidden=4)
    _check_schema(result, ctx, "lstm_memory")
    assert result.tables["accuracy by lag"][0] == ["lag T", "RNN accuracy", "LSTM accuracy"]
    assert [row[0] for row in result.tables["accuracy by lag"][1:]] == [1, 2]
    assert result.rnn.steps == result.lstm.steps == 4


def test_rnn_gets_the_lstms_parameter_budget() -> None:
    task = RecallTask()
    lstm = n_params(RecallNet("lstm", task.d_in, 32, task.n_symbols))
    rnn = n_params(RecallNet("rnn", task.d_in, matched_rnn_hidden(task, 32), task.n_symbols))
    assert abs(rnn - lstm) / lstm < 0.02


def test_recall_batches_put_the_symbol_first_and_the_cue_last() -> None:
    import torch

    task = RecallTask(n_symbols=4, lags=(3,))
    x, y = task.batch(6, 3, torch.Generator().manual_seed(0))
    assert x.shape == (6, 5, 5)
    assert (x[:, 0].argmax(-1) == y).all() and (x[:, -1].argmax(-1) == 4).all()


def test_vae_runs_at_a_tiny_size_and_writes_four_figures(ctx: RunContext) -> None:
    result = classic.vae(ctx, steps=20, d_hidden=16)
    _check_schema(result, ctx, "vae")
    assert len(result.figures) == 4
    assert result.test_neg_elbo < result.untrained_neg_elbo


@pytest.mark.slow
def test_quick_memory_lstm_holds_where_the_rnn_is_near_chance(ctx: RunContext) -> None:
    result = classic.memory(ctx)
    assert result.passed, result.tables
