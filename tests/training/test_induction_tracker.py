"""InductionTracker: head scores every n steps from the training loop, training flag left alone."""

from __future__ import annotations

import pytest
import torch

from circuitlab.circuits import repeated_random_tokens
from circuitlab.training import TrainConfig, train
from circuitlab.training.batches import next_token_loss
from circuitlab.training.induction_tracker import InductionTracker, ScorePoint
from circuitlab.transformer import Transformer, TransformerConfig


def _model() -> Transformer:
    cfg = TransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=20, n_ctx=16, seed=0)
    return Transformer(cfg)


def test_tracker_records_scores_every_n_steps_from_the_training_callback() -> None:
    model = _model()
    data = repeated_random_tokens(20, half_len=7, batch=4, seed=0, bos=0)
    tracker = InductionTracker(data, data, every=3, threshold=-1.0)
    batches = lambda step: (data[:, :-1], data[:, 1:])  # noqa: E731
    loss = lambda m, b: next_token_loss(m, type("B", (), {"inputs": b[0], "targets": b[1]})())  # noqa: E731
    cfg = TrainConfig(steps=7, warmup=1, progress=False, eval_every=0, checkpoint_every=0)
    train(model, loss, batches, cfg, callbacks=[tracker])
    assert [p.step for p in tracker.history] == [3, 6]
    assert [p.tokens for p in tracker.history] == [3 * 4 * 14, 6 * 4 * 14]
    for p in tracker.history:
        assert 0 <= p.induction <= 1 and 0 <= p.previous_token <= 1 and 0 <= p.induction_head < 2
    assert tracker.first_past is tracker.history[0]
    assert [row["step"] for row in tracker.to_rows()] == [3, 6]


@pytest.mark.parametrize("training", [True, False], ids=["train-mode", "eval-mode"])
def test_record_scores_in_eval_mode_and_restores_the_training_flag(training: bool) -> None:
    model = _model().train(training)
    data = repeated_random_tokens(20, half_len=7, batch=2, seed=1)
    tracker = InductionTracker(data, data, every=1)
    point = tracker.record(model, step=5, tokens=70, loss=2.5)
    assert model.training is training
    assert (point.step, point.tokens, point.loss) == (5, 70, 2.5) and tracker.history == [point]
    assert tracker.first_past is None or tracker.first_past.induction >= 0.7


def test_record_adds_the_top_heads_copying_score_and_the_per_token_loss_the_icl_score_reads() -> None:
    from circuitlab.circuits import copying_scores, in_context_learning_score, per_token_loss

    model = _model().eval()
    repeated = repeated_random_tokens(20, half_len=7, batch=3, seed=2, bos=0)
    text = torch.randint(0, 20, (5, 16), generator=torch.Generator().manual_seed(3))
    point = InductionTracker(repeated, text, every=1).record(model, step=1, tokens=10, loss=3.0)
    assert point.copying == round(float(copying_scores(model)[-1, point.induction_head]), 4)
    assert -1 <= point.copying <= 1
    expected = per_token_loss(model, text).mean(0)
    assert len(point.token_losses) == 15
    assert point.token_losses == pytest.approx(expected.tolist(), abs=5e-4)
    assert point.icl == pytest.approx(in_context_learning_score(model, text), abs=1e-4)


def test_a_history_row_saved_before_copying_and_token_losses_still_loads() -> None:
    old = {"step": 50, "tokens": 204800, "seconds": 3.2, "loss": 4.1, "induction": 0.02,
           "induction_head": 1, "previous_token": 0.2, "icl": 0.3}  # fmt: skip
    point = ScorePoint(**old)
    assert (point.copying, point.token_losses) == (None, None) and point.induction == 0.02


@pytest.mark.parametrize("measure", ["second_copy", "rows_with_target"])
def test_the_induction_score_is_the_trackers_measure_of_the_last_layer(measure: str) -> None:
    from circuitlab.circuits import head_scores

    model = _model().eval()
    repeated = repeated_random_tokens(6, half_len=7, batch=4, seed=5, bos=0)  # 6 ids: chance repeats in R
    point = InductionTracker(repeated, repeated, every=1, measure=measure).record(model, 1, 10, 3.0)
    scores = head_scores(model, "induction", repeated, denominator=measure)[-1]
    assert point.induction == round(float(scores.max()), 4) and point.induction_head == int(scores.argmax())


def test_the_default_measure_is_olssons_second_copy_score() -> None:
    from circuitlab.circuits import head_scores

    model = _model().eval()
    repeated = repeated_random_tokens(6, half_len=7, batch=4, seed=5, bos=0)
    second = head_scores(model, "induction", repeated, denominator="second_copy")[-1].max()
    every = head_scores(model, "induction", repeated)[-1].max()
    assert abs(float(second - every)) > 1e-3  # the two measures differ on this draw
    assert InductionTracker(repeated, repeated, every=1).record(model, 1, 10, 3.0).induction == round(
        float(second), 4
    )
