"""torchrun with 2 CPU processes (gloo) computes what one process computes with the global batch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from circuitlab.training import read_meta

SCRIPT = Path(__file__).with_name("tiny_lm.py")
STEPS = 6


def run(cmd: list[str], out: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [*cmd, str(SCRIPT), str(out), str(STEPS), "--losses", str(out) + ".json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(Path(str(out) + ".json").read_text())


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path) -> None:
    single = run([sys.executable], tmp_path / "single")
    ddp = run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"],
        tmp_path / "ddp",
    )
    assert len(ddp["losses"]) == STEPS
    assert ddp["losses"] == pytest.approx(single["losses"], rel=1e-5)
    assert [e["val_loss"] for e in ddp["evals"]] == pytest.approx(
        [e["val_loss"] for e in single["evals"]], rel=1e-5
    )
    weights = {}
    for name in ("single", "ddp"):
        meta = read_meta(tmp_path / name)
        assert meta["step"] == STEPS
        weights[name] = load_file(tmp_path / name / meta["files"]["model"]["name"])
    assert read_meta(tmp_path / "ddp")["train"]["world_size"] == 2
    for key, value in weights["single"].items():
        torch.testing.assert_close(weights["ddp"][key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads through Linux /proc")
def test_closing_the_group_stops_its_threads_even_after_torch_optim_was_imported() -> None:
    # A group kept alive past destroy_process_group leaves gloo threads running into interpreter
    # shutdown, where a rank could abort ("terminate called without an active exception").
    script = Path(__file__).with_name("close_group.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = dict(re.findall(r"rank (\d): (\d+) gloo threads after close", proc.stdout))  # ranks share stdout
    assert counts == {"0": "0", "1": "0"}, proc.stdout
