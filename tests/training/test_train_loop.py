"""The training loop: equal to a hand-written AdamW loop, resumable bitwise, stops on NaN."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_lm import TinyConfig, TinyLM, batches

from circuitlab.errors import CheckpointError, TrainingError
from circuitlab.training import TrainConfig, load, next_token_loss, read_meta, train

CFG = TrainConfig(
    steps=12,
    lr=3e-2,
    min_lr=3e-3,
    warmup=3,
    batch_size=8,
    grad_accum=1,
    eval_every=4,
    eval_batches=2,
    checkpoint_every=2,
    progress=False,
    grad_clip=0.5,
)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_loop_matches_a_hand_written_adamw_warmup_cosine_clip_loop() -> None:
    model, ref = TinyLM(TinyConfig()), TinyLM(TinyConfig())
    result = train(model, next_token_loss, batches(), CFG)
    decay = [p for p in ref.parameters() if p.ndim >= 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": CFG.weight_decay}, {"params": [ref.b_U], "weight_decay": 0.0}],
        lr=CFG.lr,
        betas=CFG.betas,
    )
    losses = []
    for step in range(CFG.steps):
        for g in opt.param_groups:
            g["lr"] = CFG.lr_at(step)
        opt.zero_grad()
        loss = next_token_loss(ref, batches()(step))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), CFG.grad_clip)
        opt.step()
        losses.append(loss.item())
    assert result.losses == pytest.approx(losses, rel=1e-6)
    for k, v in weights(ref).items():
        torch.testing.assert_close(weights(model)[k], v)


def test_training_lowers_the_loss() -> None:
    result = train(TinyLM(TinyConfig()), next_token_loss, batches(), CFG.replace(steps=40))
    assert result.final_loss < 0.8 * result.losses[0]


def test_gradient_accumulation_matches_one_big_batch() -> None:
    one, four = TinyLM(TinyConfig()), TinyLM(TinyConfig())
    r1 = train(one, next_token_loss, batches(), CFG)
    r4 = train(four, next_token_loss, batches(), CFG.replace(grad_accum=4))
    assert r4.losses == pytest.approx(r1.losses, rel=1e-5)
    for k, v in weights(one).items():
        torch.testing.assert_close(weights(four)[k], v, rtol=1e-5, atol=1e-6)


def test_callbacks_see_every_step_and_every_evaluation() -> None:
    seen, evals = [], []

    class Recorder:
        def on_step(self, state) -> None:
            seen.append((state.step, state.lr, state.is_main))

        def on_eval(self, state, metrics) -> None:
            evals.append((state.step, metrics["val_loss"]))

    result = train(
        TinyLM(TinyConfig()),
        next_token_loss,
        batches(),
        CFG,
        val_batches=batches(stream=1),
        callbacks=[Recorder()],
    )
    assert [s for s, _, _ in seen] == list(range(1, 13)) and all(m for _, _, m in seen)
    assert [s for s, _ in evals] == [4, 8, 12] == [e["step"] for e in result.evals]
    assert seen[0][1] == pytest.approx(CFG.lr_at(0))


def test_metrics_are_json_lines_of_every_step_and_evaluation(tmp_path) -> None:
    train(
        TinyLM(TinyConfig()), next_token_loss, batches(), CFG, val_batches=batches(stream=1), out_dir=tmp_path
    )
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in records if "loss" in r]
    assert steps == list(range(1, 13))
    assert [r["step"] for r in records if "val_loss" in r] == [4, 8, 12]
    assert all(r["tokens_per_s"] > 0 for r in records if "loss" in r)


def test_resume_after_a_crash_equals_an_uninterrupted_run_bitwise(tmp_path) -> None:
    full = TinyLM(TinyConfig())
    train(full, next_token_loss, batches(), CFG, out_dir=tmp_path / "full")

    class Crash:
        def on_step(self, state) -> None:
            if state.step == 7:
                raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        train(
            TinyLM(TinyConfig()),
            next_token_loss,
            batches(),
            CFG,
            callbacks=[Crash()],
            out_dir=tmp_path / "crash",
        )
    assert read_meta(tmp_path / "crash")["step"] == 6
    resumed = TinyLM(TinyConfig())
    result = train(resumed, next_token_loss, batches(), CFG, out_dir=tmp_path / "crash", resume=True)
    assert (result.start_step, result.step) == (6, 12)
    assert_bitwise_equal(weights(resumed), weights(full))
    assert_bitwise_equal(weights(load(tmp_path / "crash")), weights(full))
    lines = (tmp_path / "crash" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == list(range(1, 13))


def test_nan_loss_stops_training_naming_the_step_and_keeps_the_last_checkpoint(tmp_path) -> None:
    good = {}

    def loss_fn(model, batch):
        loss = next_token_loss(model, batch)
        if calls.append(1) or len(calls) == 5:
            return loss * float("nan")
        return loss

    calls: list[int] = []

    class Keep:
        def on_step(self, state) -> None:
            good[state.step] = weights(state.model)

    with pytest.raises(TrainingError, match=r"loss is nan at step 5; the last good checkpoint \(step 4\)"):
        train(
            TinyLM(TinyConfig()),
            loss_fn,
            batches(),
            CFG.replace(checkpoint_every=1),
            callbacks=[Keep()],
            out_dir=tmp_path,
        )
    assert read_meta(tmp_path)["step"] == 4
    assert_bitwise_equal(weights(load(tmp_path)), good[4])


def test_existing_checkpoint_is_never_overwritten_without_resume(tmp_path) -> None:
    train(TinyLM(TinyConfig()), next_token_loss, batches(), CFG.replace(steps=2), out_dir=tmp_path)
    before = (tmp_path / "checkpoint.json").read_bytes()
    with pytest.raises(CheckpointError, match="already holds a checkpoint \\(step 2\\)"):
        train(TinyLM(TinyConfig()), next_token_loss, batches(), CFG.replace(steps=2), out_dir=tmp_path)
    assert (tmp_path / "checkpoint.json").read_bytes() == before


def test_resume_with_a_different_training_config_is_refused(tmp_path) -> None:
    train(TinyLM(TinyConfig()), next_token_loss, batches(), CFG.replace(steps=2), out_dir=tmp_path)
    with pytest.raises(CheckpointError, match="different training config \\(lr: 0.03 -> 0.1\\)"):
        train(
            TinyLM(TinyConfig()),
            next_token_loss,
            batches(),
            CFG.replace(steps=2, lr=0.1),
            out_dir=tmp_path,
            resume=True,
        )


def test_resume_into_a_model_of_another_config_is_refused(tmp_path) -> None:
    train(TinyLM(TinyConfig()), next_token_loss, batches(), CFG.replace(steps=2), out_dir=tmp_path)
    with pytest.raises(CheckpointError, match="different config \\(d_model: checkpoint 8 vs model 4"):
        train(
            TinyLM(TinyConfig(d_model=4)),
            next_token_loss,
            batches(),
            CFG.replace(steps=2),
            out_dir=tmp_path,
            resume=True,
        )


def test_out_dir_that_is_a_file_is_refused(tmp_path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="is a file"):
        train(TinyLM(TinyConfig()), next_token_loss, batches(), CFG, out_dir=tmp_path / "file")
