"""`circuitlab train ...` parses, runs and prints one result line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from circuitlab.cli.main import build_parser, main


def test_train_perceptron_in_a_subprocess_prints_the_seeds_numbers(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "circuitlab", "train", "perceptron", "--out", str(tmp_path), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and "0.8176" in lines[0] and "0.6225" in lines[0] and "[pass]" in lines[0]
    assert (tmp_path / "result.json").exists()


@pytest.mark.parametrize("target", ["perceptron", "mlp", "rnn", "lstm", "vae"])
def test_every_target_has_help(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", target, "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--seed" in out and "--device" in out and "--out" in out
    assert ("--steps" in out) == (target != "perceptron")


def test_train_rnn_prints_accuracy_at_every_lag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "rnn", "--steps", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert all(f"lag {T}:" in out for T in (5, 10, 20, 50, 100))


def test_bad_steps_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "mlp", "--steps", "0"])
    assert "positive" in capsys.readouterr().err


def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert main(["train", "mlp", "--device", "cuda", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
