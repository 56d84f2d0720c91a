"""``circuitlab train transformer`` and ``circuitlab sample``: train, resume, sample, refuse bad input."""

from __future__ import annotations

import argparse
import json
import pickle
from pathlib import Path

import pytest
import torch

import circuitlab as cl
from circuitlab.cli import main as cli_main
from circuitlab.cli import sample, train_transformer
from circuitlab.training import read_meta

pytest.importorskip("circuitlab.transformer.model")
from circuitlab.transformer import Transformer  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="circuitlab")
    parser.add_argument("--debug", action="store_true")
    sub = parser.add_subparsers(dest="command")
    train_sub = sub.add_parser("train").add_subparsers(dest="what")
    train_transformer.add_parser(train_sub)
    sample.register(sub)
    return parser


@pytest.fixture(autouse=True)
def _cli(monkeypatch) -> None:
    monkeypatch.setattr(cli_main, "build_parser", build_parser)
    torch.set_num_threads(1)


MODEL = [
    "--n-layers",
    "1",
    "--attn-only",
    "--positional",
    "shortformer",
    "--d-model",
    "16",
    "--n-heads",
    "2",
    "--d-head",
    "8",
    "--n-ctx",
    "16",
]


def train_args(out: Path, cache: Path, *extra: str) -> list[str]:
    return [
        "train",
        "transformer",
        *MODEL,
        "--corpus",
        "stdlib",
        "--corpus-max-bytes",
        "40000",
        "--vocab-size",
        "300",
        "--steps",
        "4",
        "--batch-size",
        "4",
        "--lr",
        "1e-2",
        "--eval-every",
        "2",
        "--eval-batches",
        "1",
        "--checkpoint-every",
        "2",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--cache-dir",
        str(cache),
        "--no-progress",
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    mp = pytest.MonkeyPatch()
    mp.setattr(cli_main, "build_parser", build_parser)
    try:
        assert cli_main.main(train_args(root / "run", root / "cache")) == 0
    finally:
        mp.undo()
    return root / "run", root / "cache"


def test_train_writes_a_loadable_transformer_with_its_tokenizer_and_metrics(trained) -> None:
    out, _ = trained
    model = cl.load(out)
    assert isinstance(model, Transformer)
    cfg = model.cfg
    assert (cfg.n_layers, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.n_ctx, cfg.attn_only, cfg.positional) == (
        1,
        16,
        2,
        8,
        16,
        True,
        "shortformer",
    )
    meta = read_meta(out)
    assert meta["step"] == 4 and meta["kind"] == "transformer"
    assert cfg.d_vocab == 300 and meta["files"]["tokenizer"]["name"] == "tokenizer.json"
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == [1, 2, 3, 4]
    assert [r["step"] for r in records if "val_loss" in r] == [2, 4]


def test_train_prints_a_one_line_summary(tmp_path, capsys) -> None:
    assert cli_main.main(train_args(tmp_path / "run", tmp_path / "cache", "--steps", "2")) == 0
    out = capsys.readouterr().out
    assert out.startswith("trained 2 steps: loss ") and "val loss" in out


def test_sample_continues_the_prompt(trained, capsys) -> None:
    out, _ = trained
    args = [
        "sample",
        str(out),
        "--prompt",
        "def ",
        "--max-new-tokens",
        "8",
        "--temperature",
        "0.8",
        "--top-k",
        "20",
        "--seed",
        "3",
    ]
    assert cli_main.main(args) == 0
    first = capsys.readouterr().out
    assert first.startswith("def ") and len(first) > len("def \n")
    assert cli_main.main(args) == 0
    assert capsys.readouterr().out == first


def test_resume_of_a_finished_run_changes_nothing(trained, capsys) -> None:
    out, cache = trained
    before = (out / "checkpoint.json").read_bytes()
    assert cli_main.main(train_args(out, cache, "--resume")) == 0
    assert (out / "checkpoint.json").read_bytes() == before


def _copy_run(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for p in src.iterdir():
        (dst / p.name).write_bytes(p.read_bytes())
    return dst


def _evil(tmp_path: Path) -> Path:
    class Evil:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    (tmp_path / "model.pt").write_bytes(pickle.dumps(Evil()))
    return tmp_path / "model.pt"


BAD = {
    "corpus-missing": (
        lambda t, r, c: train_args(t / "fresh", c, "--corpus", str(t / "nope")),
        "does not exist",
    ),
    "corpus-empty": (
        lambda t, r, c: train_args(t / "fresh", c, "--corpus", str(_mk(t, {"e.txt": b""}))),
        "is empty",
    ),
    "corpus-binary": (
        lambda t, r, c: train_args(t / "fresh", c, "--corpus", str(_mk(t, {"b.bin": b"\x00\xff"}))),
        "binary or not UTF-8",
    ),
    "lr-zero": (lambda t, r, c: train_args(t / "fresh", c, "--lr", "0"), "lr=0.0"),
    "n-ctx-zero": (lambda t, r, c: train_args(t / "fresh", c, "--n-ctx", "0"), "n_ctx=0"),
    "negative-steps": (lambda t, r, c: train_args(t / "fresh", c, "--steps", "-3"), "steps=-3"),
    "out-is-a-file": (lambda t, r, c: train_args(_file(t), c), "is a file"),
    "checkpoint-exists": (lambda t, r, c: train_args(r, c), "already holds a checkpoint"),
    "resume-other-config": (
        lambda t, r, c: train_args(r, c, "--resume", "--d-model", "32"),
        "different config",
    ),
    "sample-missing": (lambda t, r, c: ["sample", str(t / "nope")], "does not exist"),
    "sample-pickle": (lambda t, r, c: ["sample", str(_evil(t))], "refusing a pickle"),
    "sample-bit-flip": (lambda t, r, c: ["sample", str(_flip(r))], "sha256 checksum"),
}


def _mk(folder: Path, files: dict[str, bytes]) -> Path:
    corpus = folder / "corpus"
    corpus.mkdir()
    for name, data in files.items():
        (corpus / name).write_bytes(data)
    return corpus


def _file(folder: Path) -> Path:
    (folder / "afile").write_text("x")
    return folder / "afile"


def _flip(run: Path) -> Path:
    path = run / read_meta(run)["files"]["model"]["name"]
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x10
    path.write_bytes(bytes(data))
    return run


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_exits_2_with_one_line_and_changes_nothing(tmp_path, trained, capsys, case) -> None:
    make_args, message = BAD[case]
    run = _copy_run(trained[0], tmp_path / "run")
    before = {p.name: p.read_bytes() for p in run.iterdir()} if case != "sample-bit-flip" else None
    assert cli_main.main(make_args(tmp_path, run, trained[1])) == 2
    err = capsys.readouterr().err
    assert err.startswith("circuitlab: error: ") and err.count("\n") == 1, err
    assert message in err and "Traceback" not in err
    if before is not None:
        assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert not (tmp_path / "pwned").exists()
