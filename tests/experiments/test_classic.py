"""The classic-net claims run, return typed results with a verdict, and write their figures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from claim_helpers import QuickRun, check_result, run_claim

from circuitlab.errors import ConfigError
from circuitlab.experiments.base import RunContext
from circuitlab.experiments.classic.memory import MemoryResult
from circuitlab.experiments.classic.mlp import MLPResult
from circuitlab.experiments.classic.perceptron import PerceptronResult
from circuitlab.experiments.classic.recall import RecallNet, RecallTask, matched_rnn_hidden, n_params
from circuitlab.experiments.classic.vae import VAEResult


@pytest.fixture
def ctx(tmp_path: Path) -> RunContext:
    return RunContext(out_dir=tmp_path, profile="quick", seed=0)


def test_perceptron_claim_passes_with_the_seeds_numbers(ctx: RunContext) -> None:
    result = run_claim("perceptron", ctx)
    check_result(result, ctx, "perceptron")
    assert isinstance(result, PerceptronResult) and result.passed
    assert result.measured["printed_1"] == 0.8176 and result.measured["printed_2"] == 0.6225


def test_mlp_on_digits_reaches_95_percent_held_out(ctx: RunContext) -> None:
    seen: list[float] = []
    result = run_claim("mlp", RunContext(out_dir=ctx.out_dir, progress=lambda f, m: seen.append(f)))
    check_result(result, ctx, "mlp")
    assert isinstance(result, MLPResult) and result.passed and result.test_accuracy >= 0.95
    assert result.seconds > 0 and seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert list(result.figures.values()) == ["classic/mlp_digits.png"]


def test_memory_runs_at_a_tiny_size_and_reports_every_lag(ctx: RunContext) -> None:
    task = RecallTask(n_symbols=3, lags=(1, 2))
    result = run_claim("lstm_memory", ctx, steps=4, task=task, lstm_hidden=4)
    check_result(result, ctx, "lstm_memory")
    assert isinstance(result, MemoryResult)
    assert result.tables["accuracy by lag"][0] == ["lag T", "RNN accuracy", "LSTM accuracy"]
    assert [row[0] for row in result.tables["accuracy by lag"][1:]] == [1, 2]
    assert result.rnn.steps == result.lstm.steps == 4
    assert set(result.measured["lstm_accuracy"]) == {"1", "2"}


def test_rnn_gets_the_lstms_parameter_budget() -> None:
    task = RecallTask()
    lstm = n_params(RecallNet("lstm", task.d_in, 32, task.n_symbols))
    rnn = n_params(RecallNet("rnn", task.d_in, matched_rnn_hidden(task, 32), task.n_symbols))
    assert abs(rnn - lstm) / lstm < 0.02


def test_recall_batches_mark_the_symbol_at_max_prefix_and_cue_last() -> None:
    task = RecallTask(n_symbols=4, lags=(3,), max_prefix=5)
    x, y = task.batch(64, 3, torch.Generator().manual_seed(0))
    assert x.shape == (64, 5 + 3 + 2, 6) and task.d_in == 6
    assert (x[:, 5, :4].argmax(-1) == y).all() and (x[:, 5, task.marker] == 1).all()
    assert x[:, :, task.marker].sum() == 64  # the marker flags only the stored symbol
    assert (x[:, -1].argmax(-1) == task.cue).all() and (x[:, -1].sum(-1) == 1).all()
    shown = x[:, :5].sum(-1)  # before the symbol: zero padding, then one-hot distractors
    assert ((shown == 0) | (shown == 1)).all() and (shown.diff(dim=1) >= 0).all()
    assert len(set(shown.sum(1).tolist())) > 1  # the prefix length varies between sequences


@pytest.mark.parametrize(
    "kwargs, message",
    [({"n_symbols": 1}, "n_symbols"), ({"lags": ()}, "lags"), ({"max_prefix": -1}, "max_prefix")],
)
def test_recall_task_rejects_a_bad_config(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RecallTask(**kwargs)


def test_vae_runs_at_a_tiny_size_and_writes_four_figures(ctx: RunContext) -> None:
    result = run_claim("vae", ctx, steps=20, d_hidden=16)
    check_result(result, ctx, "vae")
    assert isinstance(result, VAEResult) and len(result.figures) == 4
    assert result.test_neg_elbo < result.untrained_neg_elbo
    assert "VAE(64, 16, 2)" in result.ran


@pytest.mark.slow
def test_quick_memory_lstm_holds_where_the_rnn_is_near_chance(quick_run: QuickRun) -> None:
    claim = quick_run.claim("lstm_memory")  # the session's quick run (the same claim, profile and seed)
    assert claim["verdict"] == "pass", claim["tables"]
