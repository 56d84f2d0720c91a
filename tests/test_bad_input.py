"""Bad input, one table: every mistake a user can make is answered in one line naming the value and the fix.

Each row of LIB_CASES and CLI_CASES is one row of ``docs/bad_input.md``. A library case must
raise a ``CircuitlabError`` (or ``ValueError``) whose message is one line holding the bad value
and the fix. A CLI case (run in-process through ``circuitlab.cli.main.main``) must exit 2 with
exactly one stderr line starting ``circuitlab: error:`` and no traceback. In every case the
files of a saved checkpoint and of a trained run folder hash the same before and after.
Two subprocess tests prove that no traceback reaches a real terminal unless ``--debug``.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

import circuitlab as cl
import circuitlab.files as atomic_files
from circuitlab.cli import main as cli_main
from circuitlab.data import WindowBatches, load_corpus, train_tokenizer
from circuitlab.errors import (
    CheckpointError,
    CircuitlabError,
    ConfigError,
    DataError,
    HookNameError,
    ShapeError,
)
from circuitlab.experiments.induction.recipe import induction_recipe
from circuitlab.nets import LSTM, MLP, RNN, Perceptron
from circuitlab.superposition import SAEConfig, SparseAutoencoder, run_with_saes
from circuitlab.superposition.sae import ActivationStore
from circuitlab.training import TrainConfig, read_meta, restore_training_state
from circuitlab.training import checkpoint_files as files_mod
from circuitlab.transformer import Transformer, TransformerConfig

ROOT = Path(__file__).resolve().parents[1]
SAE_HOOK = "blocks.0.hook_resid_post"
TINY = dict(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=11, n_ctx=6)
TRAIN = [
    "--tokenizer",
    "char",
    "--n-layers",
    "1",
    "--d-model",
    "8",
    "--n-heads",
    "2",
    "--d-head",
    "4",
    "--n-ctx",
    "8",
    "--steps",
    "2",
    "--batch-size",
    "2",
    "--eval-every",
    "0",
    "--eval-batches",
    "1",
    "--checkpoint-every",
    "0",
    "--seed",
    "0",
    "--no-progress",
]
WORDS = "def class return import self for in if else while lambda yield print pass".split()


def _corpus_text() -> str:
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, len(WORDS), (120, 6), generator=gen)
    return "\n".join(" ".join(WORDS[i] for i in row) for row in idx.tolist()) + "\n"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """A trained run (``circuitlab train transformer``) and a ``cl.save`` checkpoint, made once."""
    root = tmp_path_factory.mktemp("bad-input")
    (root / "corpus.txt").write_text(_corpus_text())
    argv = [
        "train",
        "transformer",
        *TRAIN,
        "--corpus",
        str(root / "corpus.txt"),
        "--out",
        str(root / "run"),
        "--cache-dir",
        str(root / "cache"),
    ]
    assert cli_main.main(argv) == 0
    cl.save(Transformer(TransformerConfig(**TINY)), root / "ckpt")
    return root


@dataclass
class Env:
    """What one case may use: a private copy of the saved run and checkpoint, and a tiny model."""

    tmp: Path
    run: Path  # trained by the CLI: checkpoint.json, model/optimizer.safetensors, tokenizer.json
    ckpt: Path  # written by cl.save from Transformer(TransformerConfig(**TINY))
    cache: Path
    corpus: Path
    monkeypatch: pytest.MonkeyPatch
    model: Transformer
    snapshot: dict[str, str] | None = None  # set by full_disk_after_first_checkpoint

    def file(self, name: str = "afile", data: bytes = b"x") -> Path:
        (self.tmp / name).write_bytes(data)
        return self.tmp / name

    def folder(self, files: dict[str, bytes], name: str = "corpus") -> Path:
        (self.tmp / name).mkdir()
        for fname, data in files.items():
            (self.tmp / name / fname).write_bytes(data)
        return self.tmp / name

    def evil_pickle(self, name: str = "model.pt") -> Path:
        """A pickle that would create ``pwned`` when unpickled."""
        (self.tmp / name).write_bytes(pickle.dumps(_Evil(str(self.tmp / "pwned"))))
        return self.tmp / name

    def unwritable(self) -> Path:
        """A folder nobody may write in: chmod 0o555, or (as root, who ignores modes) a refused os.open."""
        folder = self.tmp / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        if os.access(folder, os.W_OK):
            real_open = os.open

            def refusing_open(path, flags, *args, **kwargs):
                writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
                if writes and Path(path).resolve().is_relative_to(folder.resolve()):
                    raise PermissionError(errno.EACCES, "Permission denied", str(path))
                return real_open(path, flags, *args, **kwargs)

            self.monkeypatch.setattr(os, "open", refusing_open)
            self.monkeypatch.setattr(Path, "mkdir", _refusing_mkdir(Path.mkdir, folder))
        return folder

    def train_argv(self, *extra: str, out: Path | None = None, corpus: Path | None = None) -> list[str]:
        return [
            "train",
            "transformer",
            *TRAIN,
            "--corpus",
            str(corpus or self.corpus),
            "--out",
            str(out or self.tmp / "fresh"),
            "--cache-dir",
            str(self.cache),
            *extra,
        ]


class _Evil:
    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def _refusing_mkdir(real: Callable, folder: Path) -> Callable:
    def mkdir(self, *args, **kwargs):
        if self.resolve().is_relative_to(folder.resolve()) and self.resolve() != folder.resolve():
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    return mkdir


def flip_byte(path: Path, offset: int = -3) -> Path:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x10
    path.write_bytes(bytes(data))
    return path


def truncate(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def weights(folder: Path) -> Path:
    return folder / read_meta(folder)["files"]["model"]["name"]


def full_disk_after_first_checkpoint(env: Env) -> Path:
    """Every write fails with ENOSPC once a checkpoint exists in ``env.tmp/fresh``; returns that folder.

    The first failing write records the checkpoint's hashes in ``env.snapshot`` (the state a crash
    must not change); metrics.jsonl is a log, not part of the checkpoint, and is left out.
    """
    out = env.tmp / "fresh"
    real = atomic_files._write_bytes

    def write(f, data: bytes) -> None:
        if (out / "checkpoint.json").is_file():
            if env.snapshot is None:
                env.snapshot = {
                    k: v for k, v in hashes(out).items() if k != "metrics.jsonl" and not k.endswith(".tmp")
                }  # the file being written
            f.write(data[: len(data) // 3])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(f, data)

    env.monkeypatch.setattr(atomic_files, "_write_bytes", write)
    return out


def config_of_wrong_type(folder: Path) -> Path:
    """Set ``ln_eps`` to a string in checkpoint.json and re-seal its checksum (a crafted file)."""
    meta = read_meta(folder)
    meta["config"]["ln_eps"] = "1e-5"
    (folder / "checkpoint.json").write_text(json.dumps(files_mod._with_checksum(meta)))
    return folder


def full_disk_save(env: Env) -> None:
    def write(f, data: bytes) -> None:
        f.write(data[:7])
        raise OSError(errno.ENOSPC, "No space left on device")

    env.monkeypatch.setattr(atomic_files, "_write_bytes", write)
    cl.save(Transformer(TransformerConfig(**{**TINY, "seed": 1})), env.ckpt)


def hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class Case:
    """One row of the table: the call, a fragment naming the bad value and one naming the fix."""

    id: str
    call: Callable[[Env], Any]  # library: makes the call; CLI: returns argv
    value: str  # regex that must occur in the message
    fix: str  # regex that must occur in the message
    damage: Callable[[Env], Any] | None = None  # done before the files are hashed


def tok(*shape: int, high: int = 11, dtype=torch.long) -> torch.Tensor:
    return torch.randint(0, high, shape, generator=torch.Generator().manual_seed(0)).to(dtype)


SKIPPED_WARNING = (
    "data/corpora.py logs 'corpus X: skipped N file(s) that are not UTF-8 text' at WARNING before "
    "raising DataError; with no logging set up that is a second stderr line in a terminal"
)


def xfail(case, reason: str, raises: type[BaseException] | None = None):
    """A case whose answer breaks the one-line contract today: a strict xfail naming the culprit."""
    name = case.id if isinstance(case, Case) else case[0]
    return pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=reason, raises=raises), id=name)


WRONG_TYPE = (
    "transformer/config.py checks ln_eps/init_range/pos_init_range with `> 0` but not their type: "
    "a string raises TypeError, not ConfigError"
)


LIB_CASES = [
    Case("corpus-missing", lambda e: load_corpus(e.tmp / "nope.txt"), "nope.txt", "stdlib"),
    Case(
        "corpus-empty-file", lambda e: load_corpus(e.file("empty.txt", b"")), "empty.txt", "UTF-8 text files"
    ),
    Case(
        "corpus-binary-only",
        lambda e: load_corpus(e.folder({"a.bin": b"\x00\x01\xff", "b.png": b"\x89PNG\x00"})),
        "binary or not UTF-8",
        "UTF-8 text files",
    ),
    Case(
        "corpus-not-utf8",
        lambda e: load_corpus(e.file("latin1.txt", "café crème\n".encode("latin-1"))),
        "latin1.txt.*not UTF-8",
        "UTF-8 text files",
    ),
    Case(
        "tokenizer-unknown-kind",
        lambda e: train_tokenizer(load_corpus(e.corpus), "wordpiece"),
        "'wordpiece'",
        "bpe, char or printable",
    ),
    Case(
        "windows-longer-than-corpus",
        lambda e: WindowBatches(tok(5).numpy(), 2, 8),
        "5 tokens.*n_ctx\\+1=9",
        "smaller n_ctx",
    ),
    Case("checkpoint-missing", lambda e: cl.load(e.tmp / "nope"), "nope", "cl.save"),
    Case("checkpoint-pickle", lambda e: cl.load(e.evil_pickle()), "model.pt.*pickle", "safetensors"),
    Case(
        "checkpoint-truncated",
        lambda e: cl.load(e.ckpt),
        "model.safetensors.*checksum",
        "restore it",
        damage=lambda e: truncate(weights(e.ckpt)),
    ),
    Case(
        "checkpoint-bit-flipped",
        lambda e: cl.load(e.ckpt),
        "model.safetensors.*checksum",
        "restore it",
        damage=lambda e: flip_byte(weights(e.ckpt)),
    ),
    Case(
        "checkpoint-json-truncated",
        lambda e: cl.load(e.ckpt),
        "checkpoint.json.*not valid JSON",
        "restore the folder",
        damage=lambda e: truncate(e.ckpt / "checkpoint.json"),
    ),
    Case(
        "checkpoint-config-wrong-type",
        lambda e: cl.load(e.ckpt),
        "ln_eps='1e-5'",
        "a number > 0",
        damage=lambda e: config_of_wrong_type(e.ckpt),
    ),
    Case(
        "checkpoint-other-config",
        lambda e: restore_training_state(e.ckpt, Transformer(TransformerConfig(**{**TINY, "d_model": 12}))),
        "d_model: checkpoint 8 vs model 12",
        "build the model with the checkpoint's config",
    ),
    Case(
        "save-over-a-file",
        lambda e: cl.save(e.model, e.file("weights.bin")),
        "weights.bin.*is a file",
        "choose a folder",
    ),
    Case("save-full-disk", full_disk_save, "No space left on device", "free disk space"),
    Case(
        "save-not-writable", lambda e: cl.save(e.model, e.unwritable() / "ck"), "readonly", "another folder"
    ),
    Case("tokens-out-of-range", lambda e: e.model(torch.tensor([[1, 11]])), "token id 11", "d_vocab=11"),
    Case("tokens-negative", lambda e: e.model(torch.tensor([[-1, 3]])), "token id -1", "\\[0, 10\\]"),
    Case(
        "tokens-float-dtype",
        lambda e: e.model(tok(2, 3, dtype=torch.float32)),
        "torch.float32",
        "\\.long\\(\\)",
    ),
    Case("tokens-3d", lambda e: e.model(tok(2, 3, 4)), "\\(2, 3, 4\\)", "\\[batch, pos\\]"),
    Case("tokens-not-a-tensor", lambda e: e.model([[1, 2]]), "list", "torch.Tensor"),
    Case("n-ctx-overflow", lambda e: e.model(tok(1, 7)), "length 7.*n_ctx=6", "crop to the last n_ctx"),
    Case(
        "loss-one-token", lambda e: e.model(tok(2, 1), return_type="loss"), "\\(2, 1\\)", "longer sequences"
    ),
    Case(
        "loss-targets-shape",
        lambda e: e.model(tok(2, 5), return_type="loss", targets=tok(2, 4)),
        "\\(2, 4\\)",
        "one target per token",
    ),
    Case(
        "return-type-unknown",
        lambda e: e.model(tok(2, 5), return_type="logprobs"),
        "logprobs",
        "logits, loss",
    ),
    Case(
        "return-type-targets-with-logits",
        lambda e: e.model(tok(2, 5), targets=tok(2, 5)),
        "targets",
        "pass one of them",
    ),
    Case(
        "lstm-missing-batch-axis", lambda e: LSTM(3, 4)(torch.randn(5, 3)), "\\(5, 3\\)", "unsqueeze\\(0\\)"
    ),
    Case(
        "lstm-wrong-width", lambda e: LSTM(3, 4)(torch.randn(2, 5, 7)), "\\(2, 5, 7\\)", "\\[batch, pos, 3\\]"
    ),
    Case(
        "lstm-integer-input",
        lambda e: LSTM(3, 4)(torch.ones(2, 5, 3, dtype=torch.long)),
        "torch.int64",
        "one-hot",
    ),
    Case(
        "lstm-state-wrong-shape",
        lambda e: LSTM(3, 4)(torch.randn(2, 5, 3), (torch.zeros(1, 3, 4),) * 2),
        "\\(1, 3, 4\\)",
        "\\[1, 2, 4\\]",
    ),
    Case("perceptron-wrong-length", lambda e: Perceptron.seed()(torch.ones(4)), "\\(4,\\)", "same length"),
    Case(
        "perceptron-integer-input",
        lambda e: Perceptron.seed()(torch.ones(5, dtype=torch.long)),
        "torch.int64",
        "floating point",
    ),
    Case("perceptron-2d-weights", lambda e: Perceptron(torch.ones(2, 5)), "\\(2, 5\\)", "1-D float tensor"),
    Case("config-negative-d-model", lambda e: TransformerConfig(d_model=-4), "d_model=-4", ">= 1"),
    Case(
        "config-induction-recipe-plain-and-curriculum",
        lambda e: induction_recipe("quick", plain=True, curriculum=True),
        "plain=True and curriculum=True",
        "pass one",
    ),
    Case("config-ln-eps-string", lambda e: TransformerConfig(ln_eps="1e-5"), "ln_eps='1e-5'", "> 0"),
    Case(
        "config-unknown-positional",
        lambda e: TransformerConfig(positional="alibi"),
        "'alibi'",
        "sinusoidal, learned",
    ),
    Case(
        "config-unknown-key",
        lambda e: TransformerConfig.from_dict({**TINY, "d_modle": 8}),
        "d_modle",
        "known keys",
    ),
    Case("config-lr-zero", lambda e: TrainConfig(lr=0.0), "lr=0.0", "> 0"),
    Case("config-lr-negative", lambda e: TrainConfig(lr=-1e-3), "lr=-0.001", "> 0"),
    Case(
        "config-mlp-unknown-activation", lambda e: MLP(sizes=[5, 3], activation="swish"), "'swish'", "one of"
    ),
    Case("config-rnn-negative-size", lambda e: RNN(3, -2), "d_hidden=-2", ">= 1"),
    Case(
        "hook-name-unknown",
        lambda e: e.model.run_with_hooks(
            tok(1, 3), fwd_hooks=[("blocks.0.attn.hook_patern", lambda a, h: None)]
        ),
        "hook_patern",
        "did you mean blocks.0.attn.hook_pattern",
    ),
    Case(
        "cache-filter-unknown",
        lambda e: e.model.run_with_cache(tok(1, 3), names_filter="resid_post"),
        "'resid_post'",
        "hook_names",
    ),
    Case(
        "hook-sae-store-unknown",
        lambda e: ActivationStore(e.model, "blocks.0.hook_resid_psot", tok(4, 6), 32, 8).next_batch(),
        "hook_resid_psot",
        "did you mean blocks.0.hook_resid_post",
    ),
    Case(
        "sae-width-mismatch",
        lambda e: run_with_saes(
            e.model, tok(2, 6), saes=[SparseAutoencoder(SAEConfig(d_in=16, hook_name=SAE_HOOK))]
        ),
        "width 8 but the SAE has d_in=16",
        "d_in=8 for this hook",
    ),
    Case(
        "config-sae-k-over-d-sae",
        lambda e: SAEConfig(d_in=8, expansion=2, architecture="topk", k=32),
        "k=32 > d_sae=16",
        "lower k or raise expansion",
    ),
    Case(
        "sae-nan-activations",
        lambda e: ActivationStore(e.model, SAE_HOOK, tok(4, 6), 32, 8).next_batch(),
        "NaN",
        "check the model's weights and inputs",
        damage=lambda e: e.model.embed.W_E.data.fill_(float("nan")),
    ),
]


def sae_argv(e: Env, *extra: str) -> list[str]:
    return ["train", "sae", "--model", str(e.run), "--out", str(e.tmp / "sae"), "--corpus", str(e.corpus),
            "--cache-dir", str(e.cache), "--no-progress", *extra]  # fmt: skip


CLI_CASES = [
    Case(
        "sae-hook-unknown",
        lambda e: sae_argv(e, "--hook", "blocks.0.hook_resid_psot"),
        "hook_resid_psot",
        "did you mean blocks.0.hook_resid_post",
    ),
    Case(
        "sae-k-over-d-sae",
        lambda e: sae_argv(e, "--hook", SAE_HOOK, "--k", "100"),
        "k=100 > d_sae=64",
        "lower k",
    ),
    Case("corpus-missing", lambda e: e.train_argv(corpus=e.tmp / "nope.txt"), "nope.txt", "--corpus stdlib"),
    Case("corpus-empty-folder", lambda e: e.train_argv(corpus=e.folder({})), "corpus", "UTF-8 text files"),
    Case(
        "corpus-binary-only",
        lambda e: e.train_argv(corpus=e.folder({"a.bin": b"\x00\xff", "b.png": b"\x89PNG"})),
        "binary or not UTF-8",
        "UTF-8 text files",
    ),
    Case(
        "corpus-not-utf8",
        lambda e: e.train_argv(corpus=e.file("latin1.txt", b"caf\xe9\n")),
        "latin1.txt",
        "UTF-8 text files",
    ),
    Case("lr-zero", lambda e: e.train_argv("--lr", "0"), "lr=0.0", "> 0"),
    Case("negative-d-model", lambda e: e.train_argv("--d-model", "-4"), "d_model=-4", ">= 1"),
    Case("n-ctx-zero", lambda e: e.train_argv("--n-ctx", "0"), "n_ctx=0", ">= 1"),
    Case("negative-steps", lambda e: e.train_argv("--steps", "-3"), "steps=-3", ">= 1"),
    Case("unknown-positional", lambda e: e.train_argv("--positional", "alibi"), "'alibi'", "choose from"),
    Case("out-is-a-file", lambda e: e.train_argv(out=e.file()), "afile.*is a file", "choose a folder"),
    Case(
        "out-not-writable", lambda e: e.train_argv(out=e.unwritable() / "run"), "readonly", "choose another"
    ),
    Case(
        "out-holds-a-checkpoint", lambda e: e.train_argv(out=e.run), "already holds a checkpoint", "--resume"
    ),
    Case(
        "resume-other-config",
        lambda e: e.train_argv("--resume", "--d-model", "16", out=e.run),
        "d_model: checkpoint 8 vs model 16",
        "checkpoint's config",
    ),
    Case(
        "full-disk-during-training",
        lambda e: e.train_argv("--checkpoint-every", "1", out=full_disk_after_first_checkpoint(e)),
        "No space left on device",
        "free disk space.*previous checkpoint there is unchanged",
    ),
    Case("cuda-without-gpu", lambda e: e.train_argv("--device", "cuda"), "cuda", "cpu"),
    Case(
        "sample-checkpoint-missing",
        lambda e: ["sample", str(e.tmp / "nope")],
        "nope",
        "circuitlab train --out",
    ),
    Case("sample-pickle", lambda e: ["sample", str(e.evil_pickle())], "model.pt.*pickle", "safetensors"),
    Case(
        "sample-truncated",
        lambda e: ["sample", str(truncate(weights(e.run)).parent)],
        "checksum",
        "restore it",
    ),
    Case(
        "sample-bit-flipped",
        lambda e: ["sample", str(flip_byte(weights(e.run)).parent)],
        "checksum",
        "restore it",
    ),
    Case(
        "sample-bit-flipped-tokenizer",
        lambda e: ["sample", str(flip_byte(e.run / "tokenizer.json", 20).parent)],
        "tokenizer.json.*checksum",
        "restore it",
    ),
    Case(
        "sample-config-wrong-type",
        lambda e: ["sample", str(config_of_wrong_type(e.run))],
        "ln_eps='1e-5'",
        "a number > 0",
    ),
    Case(
        "sample-empty-prompt",
        lambda e: ["sample", str(e.run), "--prompt", ""],
        "--prompt",
        "non-empty prompt",
    ),
    Case(
        "sample-negative-max-new-tokens",
        lambda e: ["sample", str(e.run), "--max-new-tokens", "-1"],
        "max_new_tokens=-1",
        ">= 0",
    ),
    Case(
        "export-checkpoint-missing",
        lambda e: ["export", str(e.tmp / "nope"), "--to", "transformer-lens", str(e.tmp / "tl")],
        "nope",
        "cl.save",
    ),
    Case(
        "export-pickle",
        lambda e: ["export", str(e.evil_pickle("w.pth")), "--to", "transformer-lens", str(e.tmp / "tl")],
        "w.pth.*pickle",
        "safetensors",
    ),
    Case(
        "train-mlp-out-is-a-file",
        lambda e: ["train", "mlp", "--out", str(e.file()), "--steps", "1", "--no-progress"],
        "afile",
        "folder|directory",
    ),
    Case(
        "train-mlp-steps-zero", lambda e: ["train", "mlp", "--steps", "0"], "--steps: 0", "positive integer"
    ),
    Case("unknown-command", lambda e: ["trian", "mlp"], "'trian'", "choose from 'train'"),
    Case(
        "reproduce-out-is-a-file",
        lambda e: ["reproduce", "--out", str(e.file())],
        "afile.*is a file",
        "name a folder",
    ),
    Case(
        "reproduce-unknown-claim",
        lambda e: ["reproduce", "--out", str(e.tmp / "r"), "--only", "perceptrons"],
        "perceptrons",
        "choose from",
    ),
    Case("report-missing-run", lambda e: ["report", str(e.tmp / "nope")], "nope", "circuitlab reproduce"),
    Case(
        "reproduce-curriculum-and-plain-text",
        lambda e: ["reproduce", "--out", str(e.tmp / "r"), "--curriculum", "--plain-text"],
        "--plain-text",
        "not allowed with argument --curriculum",
    ),
]


ERROR_BY_PREFIX = {
    ("corpus-", "tokenizer-", "windows-", "sae-nan-"): DataError,
    ("checkpoint-", "save-"): CheckpointError,
    ("tokens-", "n-ctx-", "loss-", "lstm-", "perceptron-", "sae-width-"): ShapeError,
    ("config-", "return-type-"): ConfigError,
    ("hook-", "cache-"): HookNameError,
}


@pytest.fixture
def env(saved: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    shutil.copytree(saved / "run", tmp_path / "run")
    shutil.copytree(saved / "ckpt", tmp_path / "ckpt")
    return Env(
        tmp_path,
        tmp_path / "run",
        tmp_path / "ckpt",
        saved / "cache",
        saved / "corpus.txt",
        monkeypatch,
        cl.load(tmp_path / "ckpt"),
    )


def assert_names_value_and_fix(message: str, case: Case) -> None:
    assert "\n" not in message, f"message spans lines: {message!r}"
    assert re.search(case.value, message), f"{case.value!r} not in {message!r}"
    assert re.search(case.fix, message), f"{case.fix!r} not in {message!r}"


def _snapshot(env: Env) -> dict[str, dict[str, str]]:
    return {"run": hashes(env.run), "ckpt": hashes(env.ckpt)}


@pytest.mark.parametrize("case", LIB_CASES, ids=lambda c: c.id)
def test_library_bad_input_raises_one_line_naming_the_value_and_the_fix(env: Env, case: Case) -> None:
    if case.damage:
        case.damage(env)
    before = _snapshot(env)
    with pytest.raises((CircuitlabError, ValueError)) as err:
        case.call(env)
    expected = next(cls for prefix, cls in ERROR_BY_PREFIX.items() if case.id.startswith(prefix))
    assert isinstance(err.value, expected), f"{type(err.value).__name__}, expected {expected.__name__}"
    assert_names_value_and_fix(str(err.value), case)
    env.monkeypatch.undo()
    assert _snapshot(env) == before
    assert not (env.tmp / "pwned").exists()
    assert not any(p.name.endswith(".tmp") for p in env.ckpt.iterdir())


def _case(param) -> Case:
    return param.values[0] if hasattr(param, "values") else param


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_cli_bad_input_exits_2_with_one_stderr_line_and_changes_nothing(
    env: Env, case: Case, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    argv = case.call(env)  # damage done by the case (a flipped byte) happens here, before the snapshot
    before = _snapshot(env)
    try:
        code = cli_main.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("circuitlab: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    # The CLI sets up no logging, so in a terminal every WARNING record is one more stderr line.
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert_names_value_and_fix(err.removeprefix("circuitlab: error: ").rstrip("\n"), case)
    env.monkeypatch.undo()
    assert _snapshot(env) == before
    assert not (env.tmp / "pwned").exists()
    if env.snapshot is not None:  # the checkpoint written before the disk filled up is intact
        out = env.tmp / "fresh"
        assert {k: v for k, v in hashes(out).items() if k != "metrics.jsonl"} == env.snapshot
        assert read_meta(out)["step"] == 1 and isinstance(cl.load(out), Transformer)


def test_debug_raises_instead_of_printing_one_line(env: Env) -> None:
    with pytest.raises(CircuitlabError, match="does not exist"):
        cli_main.main(["--debug", "sample", str(env.tmp / "nope")])


def test_every_case_is_a_row_of_the_docs_table() -> None:
    doc = (ROOT / "docs" / "bad_input.md").read_text()
    rows = set(re.findall(r"^\| `((?:lib|cli)/[a-z0-9-]+)` \|", doc, flags=re.M))
    expected = {f"lib/{_case(c).id}" for c in LIB_CASES} | {f"cli/{_case(c).id}" for c in CLI_CASES}
    assert rows == expected, (sorted(expected - rows), sorted(rows - expected))


TERMINAL = [
    ("sample-checkpoint-missing", lambda t: ["sample", str(t / "nope")], "does not exist"),
    (
        "corpus-binary-only",
        lambda t: ["train", "transformer", "--corpus", str(_binary(t)), "--out", str(t / "o")],
        "binary or not UTF-8",
    ),
]


def _binary(tmp: Path) -> Path:
    (tmp / "c").mkdir()
    (tmp / "c" / "a.bin").write_bytes(b"\x00\xff")
    return tmp / "c"


@pytest.mark.parametrize("case", TERMINAL, ids=lambda c: c[0])
def test_a_real_terminal_sees_one_line_and_no_traceback(tmp_path: Path, case) -> None:
    _, argv, message = case
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "src"),
        "OMP_NUM_THREADS": "1",
        "CIRCUITLAB_CACHE": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "circuitlab", *argv(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("circuitlab: error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr and done.stdout == ""
