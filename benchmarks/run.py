"""The one benchmark command (``make bench``): every ratio benchmark, one table, one JSON file.

    python benchmarks/run.py [--quick] [--device cpu|cuda] [--only NAME ...] [--results-dir DIR]

Each module ``benchmarks/bench_<name>.py`` exposes ``run(device: str, quick: bool) -> list[dict]``;
a row is ``{"name", "ratio" or "seconds", "goal", "met", ...}`` where ``goal`` is a string such as
``">= 1.5"`` (or None for a number shown for reference) and ``met`` a bool (or None). Modules run
one after another in this process; a missing module is noted, a failing one becomes an error
entry, and neither stops the others. For each benchmark the peak resident set (and, on a GPU,
``torch.cuda.max_memory_allocated``) is recorded. The results go to
``benchmarks/results/<date>-<machine>.json`` (``-quick`` appended for smoke runs) with the
machine named: hostname, CPU model, cores, torch version, device.

``--quick`` is the CI smoke run: tiny shapes, few repetitions, nothing asserted about speed
(exit status 1 only when a benchmark raised). On CPU torch uses 2 threads.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import re
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BENCHMARKS = ("transformer", "interop", "circuits", "nets", "superposition", "induction", "pretrained")
SCHEMA = "circuitlab.bench/1"
CPU_THREADS = 2


# --- peak memory -------------------------------------------------------------------------------


def _rss_bytes() -> int:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:  # Linux fallback: resident pages from /proc
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Peak resident set while a ``with`` block runs: the kernel's high-water mark (VmHWM, reset
    through /proc/self/clear_refs) where Linux allows it, else a 5 ms sampling thread."""

    def __enter__(self) -> PeakRSS:
        self.peak = _rss_bytes()
        self._kernel = self._reset_hwm()
        if not self._kernel:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._kernel:
            self.peak = max(self.peak, self._read_hwm() or 0)
        else:
            self._stop.set()
            self._thread.join()
        self.peak = max(self.peak, _rss_bytes())

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss_bytes())

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return PeakRSS._read_hwm() is not None
        except OSError:
            return False

    @staticmethod
    def _read_hwm() -> int | None:
        try:
            with open("/proc/self/status") as f:
                match = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
        except OSError:
            return None
        return int(match.group(1)) * 1024 if match else None


# --- the machine -------------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> dict[str, Any]:
    import torch

    info = {
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": device,
        "device_name": cpu_model(),
    }
    if device.startswith("cuda"):
        info["device_name"] = torch.cuda.get_device_name(torch.device(device))
    return info


def machine_slug(info: dict[str, Any]) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{info['hostname']}-{info['device']}").strip("-")


# --- running -----------------------------------------------------------------------------------


def check_rows(rows: Any) -> list[dict[str, Any]]:
    """Rows must be a list of dicts with name, ratio or seconds, goal and met."""
    if not isinstance(rows, list):
        raise TypeError(f"run() returned {type(rows).__name__}; it must return a list of row dicts")
    for row in rows:
        missing = [k for k in ("name", "goal", "met") if not isinstance(row, dict) or k not in row]
        if missing or not ("ratio" in row or "seconds" in row):
            raise TypeError(f"benchmark row {row!r} lacks {missing or ['ratio or seconds']}")
    return rows


def run_one(name: str, device: str, quick: bool) -> dict[str, Any]:
    """Import and run ``bench_<name>``; never raises."""
    import torch

    entry: dict[str, Any] = {
        "benchmark": name,
        "status": "ok",
        "rows": [],
        "error": None,
        "seconds": None,
        "peak_rss_mb": None,
        "peak_cuda_mb": None,
    }
    try:
        module = importlib.import_module(f"bench_{name}")
    except ModuleNotFoundError as err:
        if err.name != f"bench_{name}":
            entry.update(status="error", error=f"{type(err).__name__}: {err}")
        else:
            entry.update(status="missing", error=f"benchmarks/bench_{name}.py does not exist yet")
        return entry
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    with PeakRSS() as rss:
        try:
            entry["rows"] = check_rows(module.run(device, quick))
        except Exception as err:  # a failing benchmark is a row in the report, not a crash
            entry.update(
                status="error", error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc(limit=8)
            )
    entry["seconds"] = round(time.perf_counter() - start, 3)
    entry["peak_rss_mb"] = round(rss.peak / 2**20, 1)
    if cuda:
        entry["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return entry


def _fmt_measured(row: dict[str, Any]) -> str:
    if row.get("ratio") is not None:
        return f"{row['ratio']:.2f}x"
    if row.get("tokens") is not None:  # a count goal (tokens to a result), with its wall time
        seconds = f", {row['seconds']:.3g} s" if row.get("seconds") is not None else ""
        return f"{row['tokens'] / 1e6:.2f}M tokens{seconds}"
    if row.get("seconds") is not None:
        return f"{row['seconds']:.3g} s"
    return "-"


def format_table(entries: list[dict[str, Any]]) -> str:
    """benchmark | measurement | measured | goal | met | peak memory, one line per row."""
    lines = [("benchmark", "measurement", "measured", "goal", "met", "peak memory")]
    for e in entries:
        mem = "-" if e["peak_rss_mb"] is None else f"{e['peak_rss_mb']:.0f} MB RSS"
        if e["peak_cuda_mb"] is not None:
            mem += f", {e['peak_cuda_mb']:.0f} MB cuda"
        if e["status"] != "ok":
            lines.append((e["benchmark"], f"{e['status'].upper()}: {e['error']}"[:70], "-", "-", "-", mem))
        for row in e["rows"]:
            met = "yes" if row["met"] is True else "NO" if row["met"] is False else "-"
            lines.append(
                (e["benchmark"], str(row["name"]), _fmt_measured(row), str(row["goal"] or "-"), met, mem)
            )
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="benchmarks/run.py", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: tiny shapes, no speed claims")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--only", nargs="+", metavar="NAME", choices=BENCHMARKS, help="run only these benchmarks")
    p.add_argument("--results-dir", type=Path, default=HERE / "results", help="where the JSON goes")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("benchmarks/run.py: --device cuda needs a CUDA GPU; none is available", file=sys.stderr)
        return 2
    if args.device == "cpu":
        torch.set_num_threads(CPU_THREADS)
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    entries = []
    for name in args.only or BENCHMARKS:
        print(f"[bench] {name} ...", flush=True)
        entries.append(run_one(name, args.device, args.quick))
        if entries[-1]["status"] != "ok":
            print(f"[bench] {name}: {entries[-1]['status']}: {entries[-1]['error']}", flush=True)
    info = machine_info(args.device)
    now = dt.datetime.now(dt.UTC)
    result = {
        "schema": SCHEMA,
        "date": now.isoformat(timespec="seconds"),
        "quick": args.quick,
        "device": args.device,
        "machine": info,
        "benchmarks": entries,
    }
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"{now:%Y-%m-%d}-{machine_slug(info)}{'-quick' if args.quick else ''}.json"
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print()
    print(format_table(entries))
    print(
        f"\nmachine: {info['cpu']} ({info['cores']} cores, {info['torch_threads']} torch threads), "
        f"torch {info['torch']}, device {info['device_name']}"
    )
    print(f"results: {path}")
    return 1 if any(e["status"] == "error" for e in entries) else 0


if __name__ == "__main__":
    sys.exit(main())
