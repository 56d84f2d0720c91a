"""train_or_load: a finished checkpoint of the same config is loaded, an unfinished one resumed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from circuitlab.data import WindowBatches
from circuitlab.errors import CheckpointError
from circuitlab.training import TrainConfig, next_token_loss
from circuitlab.training.cached import finished_model, train_or_load
from circuitlab.transformer import Transformer, TransformerConfig

MODEL = TransformerConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=13, n_ctx=8, seed=0)
STREAM = np.random.default_rng(0).integers(0, 13, 2000).astype(np.uint16)
CFG = TrainConfig(steps=4, warmup=1, batch_size=4, eval_every=0, checkpoint_every=2, progress=False)


def run(out: Path, config: TransformerConfig = MODEL, **kwargs):
    batches = WindowBatches(STREAM, CFG.batch_size, config.n_ctx, seed=0)
    return train_or_load(Transformer, config, next_token_loss, batches, CFG, out, **kwargs)


class CrashAt:
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, state) -> None:
        if state.step == self.step:
            raise RuntimeError("crash")


def test_a_finished_run_is_loaded_with_its_weights_instead_of_trained_again(tmp_path: Path) -> None:
    first = run(tmp_path)
    second = run(tmp_path)
    assert not first.reloaded and first.result.step == 4
    assert second.reloaded and second.result is None and not second.model.training
    assert torch.equal(first.model.W_E, second.model.W_E)
    assert finished_model(tmp_path, MODEL, 4) is not None and finished_model(tmp_path, MODEL, 5) is None


def test_an_unfinished_checkpoint_is_resumed_not_restarted(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="crash"):
        run(tmp_path, callbacks=[CrashAt(3)])
    assert finished_model(tmp_path, MODEL, 4) is None
    resumed = run(tmp_path)
    assert not resumed.reloaded and resumed.result.start_step >= 2 and resumed.result.step == 4


@pytest.mark.parametrize(
    "change", [dict(fresh=True), dict(config=MODEL.replace(seed=1))], ids=["fresh", "other-config"]
)
def test_a_checkpoint_that_cannot_be_reused_is_never_overwritten(tmp_path: Path, change: dict) -> None:
    first = run(tmp_path)
    with pytest.raises(CheckpointError):
        run(tmp_path, **change)
    assert torch.equal(finished_model(tmp_path, MODEL, 4).W_E, first.model.W_E)


def test_fresh_trains_in_an_empty_folder_and_an_unreadable_checkpoint_is_no_model(tmp_path: Path) -> None:
    assert not run(tmp_path, fresh=True).reloaded
    for weights in tmp_path.glob("*.safetensors"):
        weights.write_bytes(b"broken")
    assert finished_model(tmp_path, MODEL, 4) is None
