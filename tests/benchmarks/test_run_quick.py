"""``benchmarks/run.py --quick`` runs, writes the results JSON schema and survives broken benchmarks."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN_PY = ROOT / "benchmarks" / "run.py"

ENTRY_KEYS = {"benchmark", "status", "rows", "error", "seconds", "peak_rss_mb", "peak_cuda_mb"}
MACHINE_KEYS = {"hostname", "cpu", "cores", "torch", "device", "device_name"}


def load_run_module():
    spec = importlib.util.spec_from_file_location("bench_run_under_test", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_result_schema(result: dict) -> None:
    assert result["schema"] == "circuitlab.bench/1"
    assert MACHINE_KEYS <= set(result["machine"])
    for entry in result["benchmarks"]:
        assert ENTRY_KEYS <= set(entry), entry
        assert entry["status"] in ("ok", "missing", "error")
        for row in entry["rows"]:
            assert {"name", "goal", "met"} <= set(row) and ("ratio" in row or "seconds" in row), row
            assert row["met"] in (True, False, None)


@pytest.mark.interop
@pytest.mark.slow  # ~15 s alone (two imports of torch and TransformerLens); near 60 s on a loaded machine
def test_quick_run_writes_results_json_and_prints_the_table(tmp_path: Path) -> None:
    pytest.importorskip("transformer_lens", reason="bench_interop needs transformer-lens")
    proc = subprocess.run(
        [sys.executable, str(RUN_PY), "--quick", "--only", "interop", "--results-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (path,) = tmp_path.glob("*-quick.json")
    result = json.loads(path.read_text())
    check_result_schema(result)
    assert result["quick"] is True and result["device"] == "cpu"
    (entry,) = result["benchmarks"]
    assert entry["status"] == "ok" and entry["peak_rss_mb"] > 0 and entry["peak_cuda_mb"] is None
    names = {row["name"] for row in entry["rows"]}
    assert {"run_with_cache_speedup_vs_tl", "train_tokens_per_s_vs_tl"} <= names
    assert "measured" in proc.stdout and "run_with_cache_speedup_vs_tl" in proc.stdout


def test_missing_and_failing_benchmarks_become_entries_not_crashes(tmp_path: Path, monkeypatch) -> None:
    run = load_run_module()
    (tmp_path / "bench_boom.py").write_text("def run(device, quick):\n    raise RuntimeError('kaboom')\n")
    (tmp_path / "bench_badrows.py").write_text("def run(device, quick):\n    return [{'name': 'x'}]\n")
    (tmp_path / "bench_fine.py").write_text(
        "def run(device, quick):\n    return [{'name': 'x', 'seconds': 0.5, 'goal': None, 'met': None}]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    boom = run.run_one("boom", "cpu", True)
    assert boom["status"] == "error" and "kaboom" in boom["error"]
    assert run.run_one("badrows", "cpu", True)["status"] == "error"
    assert run.run_one("not_there", "cpu", True)["status"] == "missing"
    fine = run.run_one("fine", "cpu", True)
    assert fine["status"] == "ok" and fine["peak_rss_mb"] > 0
    table = run.format_table([boom, fine])
    assert "ERROR: RuntimeError: kaboom" in table and "0.5 s" in table
    check_result_schema(
        {"schema": run.SCHEMA, "machine": run.machine_info("cpu"), "benchmarks": [boom, fine]}
    )


def test_peak_rss_sees_a_temporary_allocation() -> None:
    run = load_run_module()
    with run.PeakRSS() as rss:
        before = run._rss_bytes()
        block = bytearray(b"\x01") * (64 * 2**20)  # written, so 64 MiB resident
        del block
    assert rss.peak - before >= 48 * 2**20
