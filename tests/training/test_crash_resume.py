"""Training survives SIGKILL at random moments and Ctrl-C, ending bitwise equal to a clean run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from circuitlab.training import read_meta

SCRIPT = Path(__file__).with_name("tiny_lm.py")
STEPS = 30


def start(out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent)}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(out), str(STEPS), *extra],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_step(proc: subprocess.Popen) -> int:
    line = proc.stdout.readline()
    if not line.startswith("step "):
        raise AssertionError(f"child printed {line!r}; stderr: {proc.stderr.read()[-2000:]}")
    return int(line.split()[1])


def final_weights(folder: Path) -> dict[str, torch.Tensor]:
    meta = read_meta(folder)
    assert meta["step"] == STEPS
    return load_file(folder / meta["files"]["model"]["name"])


def assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _uninterrupted_run(out: Path) -> None:
    proc = start(out)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr


@pytest.fixture(scope="module")
def reference(build_once) -> dict[str, torch.Tensor]:
    """The uninterrupted run's final weights; trained once per run even when xdist splits the tests."""
    return final_weights(build_once(f"tiny-lm-reference-{STEPS}", _uninterrupted_run))


@pytest.mark.slow
def test_sigkill_at_five_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path, reference) -> None:
    rng = random.Random(20240607)
    out, kills, attempts = tmp_path / "run", 0, 0
    while kills < 5:
        attempts += 1
        assert attempts <= 12, "training finished before five kills landed"
        proc = start(out, "--resume", "--slow", "0.02")
        wait_for_step(proc)
        time.sleep(rng.uniform(0.0, 0.12))
        alive = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        kills += alive
    step_after_kills = read_meta(out)["step"]
    assert 0 < step_after_kills < STEPS
    proc = start(out, "--resume")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert_bitwise_equal(final_weights(out), reference)


@pytest.mark.slow
def test_sigint_saves_a_checkpoint_exits_cleanly_and_resume_finishes_bitwise(tmp_path, reference) -> None:
    out = tmp_path / "run"
    proc = start(out, "--slow", "0.1")
    while wait_for_step(proc) < 3:
        pass
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted=True" in stdout and "Traceback" not in stderr
    saved = read_meta(out)["step"]
    assert 3 <= saved < STEPS and f"done {saved} interrupted=True" in stdout
    proc = start(out, "--resume")
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert_bitwise_equal(final_weights(out), reference)
