"""Checkpoints: exact round trips, checksums, atomic writes, and no code execution on load."""

from __future__ import annotations

import errno
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_lm import TinyConfig, TinyLM, batches

import circuitlab as cl
import circuitlab.files as atomic_files
from circuitlab.data import CharTokenizer, Corpus, Document
from circuitlab.errors import CheckpointError
from circuitlab.training import (
    TrainConfig,
    load_checkpoint,
    make_optimizer,
    next_token_loss,
    read_tokenizer,
    restore_training_state,
    save_checkpoint,
)
from circuitlab.training import checkpoint as ckpt_mod
from circuitlab.training import checkpoint_files as files_mod

TOKENIZER = CharTokenizer.train(Corpus("t", (Document("a", "abcdefg hij\n"),)))


def trained(seed: int = 0, steps: int = 3) -> tuple[TinyLM, torch.optim.Optimizer]:
    model = TinyLM(TinyConfig(seed=seed))
    opt = make_optimizer(model, TrainConfig())
    for step in range(steps):
        opt.zero_grad()
        next_token_loss(model, batches()(step)).backward()
        opt.step()
    return model, opt


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_save_then_load_gives_the_same_model_bitwise(tmp_path) -> None:
    model, _ = trained()
    cl.save(model, tmp_path / "m", tokenizer=TOKENIZER)
    back = cl.load(tmp_path / "m")
    assert isinstance(back, TinyLM) and back.cfg == model.cfg and same_weights(back, model)
    tokens = batches()(0).inputs
    assert torch.equal(back(tokens), model(tokens))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "checkpoint.json",
        "model.safetensors",
        "tokenizer.json",
    ]
    assert read_tokenizer(tmp_path / "m").to_str() == TOKENIZER.to_str()


def test_transformer_round_trips_through_cl_save_and_cl_load(tmp_path) -> None:
    transformer = pytest.importorskip("circuitlab.transformer")
    cfg = transformer.TransformerConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=20, n_ctx=8)
    model = transformer.Transformer(cfg)
    cl.save(model, tmp_path / "t")
    back = cl.load(tmp_path / "t")
    tokens = torch.randint(0, 20, (2, 8))
    assert back.cfg == cfg and same_weights(back, model) and torch.equal(back(tokens), model(tokens))


def test_optimizer_and_rng_state_are_restored_exactly(tmp_path) -> None:
    model, opt = trained()
    torch.manual_seed(123)
    save_checkpoint(tmp_path, model, step=3, optimizer=opt)
    expected_draw = torch.rand(3)
    fresh = TinyLM(TinyConfig())
    fresh_opt = make_optimizer(fresh, TrainConfig())
    torch.manual_seed(999)
    meta = restore_training_state(tmp_path, fresh, fresh_opt)
    assert meta["step"] == 3 and same_weights(fresh, model)
    assert torch.equal(torch.rand(3), expected_draw)
    for p, q in zip(model.parameters(), fresh.parameters(), strict=True):
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(opt.state[p][key], fresh_opt.state[q][key]), key


def test_unregistered_model_cannot_be_saved_with_cl_save(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="register_model"):
        cl.save(torch.nn.Linear(2, 2), tmp_path / "x")


def _flip_byte(path: Path, offset: int = -5) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_json(path: Path) -> None:
    meta = json.loads(path.read_text())
    meta["config"]["d_model"] = 9
    path.write_text(json.dumps(meta))


DAMAGE = {
    "missing-path": (lambda d: d / "nope", None, "does not exist"),
    "no-checkpoint-json": (
        lambda d: d,
        lambda d: (d / "checkpoint.json").unlink(),
        "holds no checkpoint.json",
    ),
    "truncated-weights": (lambda d: d, lambda d: _truncate(d / "model.safetensors"), "sha256 checksum"),
    "bit-flipped-weights": (lambda d: d, lambda d: _flip_byte(d / "model.safetensors"), "sha256 checksum"),
    "missing-weights": (lambda d: d, lambda d: (d / "model.safetensors").unlink(), "is missing"),
    "truncated-json": (lambda d: d, lambda d: _truncate(d / "checkpoint.json"), "not valid JSON"),
    "bit-flipped-json": (lambda d: d, lambda d: _flip_byte(d / "checkpoint.json", 30), "checkpoint.json"),
    "edited-json": (lambda d: d, lambda d: _edit_json(d / "checkpoint.json"), "fails its checksum"),
    "bit-flipped-tokenizer": (lambda d: d, lambda d: _flip_byte(d / "tokenizer.json"), "sha256 checksum"),
}


@pytest.mark.parametrize("case", list(DAMAGE), ids=list(DAMAGE))
def test_damaged_checkpoint_is_a_checkpoint_error_naming_the_path(tmp_path, case) -> None:
    model, _ = trained()
    folder = tmp_path / "ck"
    cl.save(model, folder, tokenizer=TOKENIZER)
    target, damage, message = DAMAGE[case]
    if damage:
        damage(folder)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(target(folder))
    assert str(folder) in str(err.value)


def test_checkpoint_of_a_different_config_is_refused_naming_the_keys(tmp_path) -> None:
    cl.save(TinyLM(TinyConfig()), tmp_path)
    with pytest.raises(CheckpointError, match="different config \\(d_vocab: checkpoint 17 vs model 5"):
        restore_training_state(tmp_path, TinyLM(TinyConfig(d_vocab=5)))


def test_full_disk_during_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch) -> None:
    old, _ = trained(seed=0)
    save_checkpoint(tmp_path, old, step=1)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def full_disk(f, data: bytes) -> None:
        f.write(data[: len(data) // 3])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic_files, "_write_bytes", full_disk)
    new, _ = trained(seed=1)
    with pytest.raises(
        CheckpointError, match="No space left on device.*previous checkpoint there is unchanged"
    ):
        save_checkpoint(tmp_path, new, step=2)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert same_weights(cl.load(tmp_path), old)


def test_crash_before_the_commit_keeps_the_previous_checkpoint_and_later_saves_clean_up(
    tmp_path, monkeypatch
) -> None:
    old, _ = trained(seed=0)
    save_checkpoint(tmp_path, old, step=1)
    real = ckpt_mod._write_file

    def die_at_commit(folder, name, data):
        if name == "checkpoint.json":
            raise KeyboardInterrupt  # the process dies between payload and commit
        real(folder, name, data)

    monkeypatch.setattr(ckpt_mod, "_write_file", die_at_commit)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path, trained(seed=1)[0], step=2)
    assert len(list(tmp_path.glob("model*.safetensors"))) == 2
    assert same_weights(cl.load(tmp_path), old)
    monkeypatch.setattr(ckpt_mod, "_write_file", real)
    newest, _ = trained(seed=2)
    save_checkpoint(tmp_path, newest, step=3)
    assert len(list(tmp_path.glob("model*.safetensors"))) == 1
    assert same_weights(cl.load(tmp_path), newest)


class _Evil:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _evil_bytes(marker: Path) -> bytes:
    data = pickle.dumps(_Evil(marker))
    assert not marker.exists()
    return data


@pytest.mark.parametrize("name", ["model.pt", "weights.pkl", "model.pth", "disguised.txt"])
def test_pickle_files_are_refused_and_never_unpickled(tmp_path, name) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / name
    path.write_bytes(_evil_bytes(marker))
    with pytest.raises(CheckpointError, match="refusing a pickle"):
        cl.load(path)
    assert not marker.exists()


def test_a_pickle_posing_as_safetensors_with_a_valid_checksum_is_not_executed(tmp_path) -> None:
    marker = tmp_path / "pwned"
    cl.save(TinyLM(TinyConfig()), tmp_path / "ck")
    evil = _evil_bytes(marker)
    (tmp_path / "ck" / "model.safetensors").write_bytes(evil)
    meta = json.loads((tmp_path / "ck" / "checkpoint.json").read_text())
    meta["files"]["model"]["sha256"] = files_mod._sha256(evil)
    (tmp_path / "ck" / "checkpoint.json").write_text(json.dumps(ckpt_mod._with_checksum(meta)))
    with pytest.raises(CheckpointError, match="not a valid safetensors file"):
        cl.load(tmp_path / "ck")
    assert not marker.exists()


def test_loading_never_calls_torch_load_or_pickle(tmp_path, monkeypatch) -> None:
    model, opt = trained()
    save_checkpoint(tmp_path, model, tokenizer=TOKENIZER, step=3, optimizer=opt)

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling was attempted")

    for target, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(target, name, forbidden)
    assert same_weights(cl.load(tmp_path), model)
    restore_training_state(
        tmp_path, TinyLM(TinyConfig()), make_optimizer(TinyLM(TinyConfig()), TrainConfig())
    )


def test_circuitlab_sample_refuses_a_malicious_pickle(tmp_path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    path.write_bytes(_evil_bytes(marker))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "circuitlab", "sample", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "refusing a pickle" in proc.stderr and "Traceback" not in proc.stderr
    assert not marker.exists()
