"""Ratio benchmarks for ``circuitlab.Transformer`` against a bare PyTorch model of the same shapes.

The reference is ``reference_models.BareTransformer`` (nn.Embedding, nn.LayerNorm, one fused
nn.Linear for Q/K/V, F.scaled_dot_product_attention, nn.Linear out and unembed): the ratio
ours / bare is what circuitlab's names, hook points and input checks cost. Headline shape
(issue 3): 2 layers, attention only, d_model 256, 8 heads of 32, vocab 4096, context 256,
batch 16, shortformer positions (the config defaults); the learned-position rows compare the
more common GPT-2 layout. ``quick`` uses a small shape and few repetitions (a smoke test).

Rows (ours and ref alternate within every repetition; medians of wall time):
  forward[...]              no-grad forward, idle hooks, vs the bare forward       goal <= 1.05
  train_step[...]           forward + cross-entropy + backward + AdamW step         goal <= 1.05
  run_with_cache_all[...]   every activation cached (explicit attention path) vs
                            the bare forward                                        goal <= 1.8
  cache_one_hook_memory[h]  peak memory of run_with_cache(names_filter=h) vs a plain
                            forward's peak plus the size of that activation         goal <= 1.0
                            (on CPU within one 256 KiB pymalloc arena: RSS_SLACK)
Each timing row also carries the medians of process CPU time (``ours_cpu_s``, ``ref_cpu_s``,
``cpu_ratio``): on a machine shared with other jobs they are steadier than wall time. On CPU the
peak memory of each mode is the kernel's high-water mark (VmHWM, reset through
/proc/self/clear_refs) of the second of two identical calls in a fresh process (so that lazy
initialisation is not counted), with glibc's mmap threshold fixed at 128 KiB so that freed
tensors go back to the kernel at once and the mark is the peak of live memory; the median of
``MEMORY_RUNS`` processes. On CUDA, ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable

import torch
from bench_interop import train_step
from reference_models import BareTransformer
from shapes import HEADLINE, QUICK
from timing import Timing, interleaved

from circuitlab.transformer import Transformer, TransformerConfig

MEMORY_HOOKS = ("blocks.0.attn.hook_pattern", "blocks.1.hook_resid_post")


def _timing_row(name: str, ours: Timing, ref: Timing, goal: float) -> dict:
    ratio = ours.wall / ref.wall
    return {
        "name": name,
        "ours_s": round(ours.wall, 5),
        "ref_s": round(ref.wall, 5),
        "ratio": round(ratio, 3),
        "goal": f"<= {goal}",
        "met": ratio <= goal,
        "ours_cpu_s": round(ours.cpu, 5),
        "ref_cpu_s": round(ref.cpu, 5),
        "cpu_ratio": round(ours.cpu / ref.cpu, 3),
    }


def _models(cfg: TransformerConfig, device: str) -> tuple[Transformer, BareTransformer]:
    torch.manual_seed(0)
    return Transformer(cfg).to(device), BareTransformer.from_config(cfg).to(device)


def _timings(cfg: TransformerConfig, batch: int, reps: int, device: str, tag: str) -> list[dict]:
    ours, bare = _models(cfg, device)
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, cfg.d_vocab, (batch, cfg.n_ctx), generator=gen).to(device)

    def forward(model) -> Callable[[], object]:
        def go() -> object:
            with torch.no_grad():
                return model(tokens)

        return go

    def cache_all() -> object:
        with torch.no_grad():
            return ours.run_with_cache(tokens)

    fwd = interleaved({"ours": forward(ours), "ref": forward(bare)}, reps, device)
    step = interleaved({"ours": train_step(ours, tokens), "ref": train_step(bare, tokens)}, reps, device)
    cache = interleaved({"ours": cache_all, "ref": forward(bare)}, reps, device)
    return [
        _timing_row(f"forward[{tag}]", fwd["ours"], fwd["ref"], 1.05),
        _timing_row(f"train_step[{tag}]", step["ours"], step["ref"], 1.05),
        _timing_row(f"run_with_cache_all[{tag}]", cache["ours"], cache["ref"], 1.8),
    ]


_PEAK_SCRIPT = r"""
import json, re, sys, torch
from circuitlab.transformer import Transformer, TransformerConfig
cfg_dict, batch, hook, device = json.loads(sys.argv[1])
torch.set_num_threads(2)
cfg = TransformerConfig(**cfg_dict)
model = Transformer(cfg).to(device)
tokens = torch.randint(0, cfg.d_vocab, (batch, cfg.n_ctx), generator=torch.Generator().manual_seed(0))
tokens = tokens.to(device)
def run():
    if hook:
        logits, cache = model.run_with_cache(tokens, names_filter=hook)
        act = cache[hook]
        return act.numel() * act.element_size()
    model(tokens)
    return 0

# steady state: one full call first, so that lazy initialisation (thread pools, BLAS packing
# buffers, einops recipes) is not counted; what is measured is the peak of the second call
with torch.no_grad():
    run()

def kib(field):
    return int(re.search(field + r":\s+(\d+) kB", open("/proc/self/status").read()).group(1))

open("/proc/self/clear_refs", "w").write("5")
before = kib("VmRSS")
with torch.no_grad():
    act_bytes = run()
print(json.dumps({"peak_bytes": (kib("VmHWM") - before) * 1024, "act_bytes": act_bytes}))
"""


def _peak_cpu(cfg: TransformerConfig, batch: int, hook: str | None) -> dict:
    """Peak resident growth of one forward (or one cache of ``hook``), in a fresh process."""
    arg = json.dumps([cfg.to_dict(), batch, hook, "cpu"])
    # glibc's dynamic mmap threshold lets freed tensors linger in the heap in a pattern that
    # changes from process to process; a fixed threshold returns every tensor of 128 KiB or more
    # to the kernel when freed, so the high-water mark is the peak of live memory (what
    # torch.cuda.max_memory_allocated measures on a GPU), the same for both sides.
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}
    out = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, arg],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_cuda(cfg: TransformerConfig, batch: int, hook: str | None, device: str) -> dict:
    model = Transformer(cfg).to(device)
    tokens = torch.randint(0, cfg.d_vocab, (batch, cfg.n_ctx), device=device)

    def run() -> int:
        if hook:
            _, cache = model.run_with_cache(tokens, names_filter=hook)
            return cache[hook].numel() * cache[hook].element_size()
        model(tokens)
        return 0

    with torch.no_grad():
        run()  # steady state, as on CPU: the second call is measured
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        act_bytes = run()
        torch.cuda.synchronize(device)
    return {"peak_bytes": torch.cuda.max_memory_allocated(device) - base, "act_bytes": act_bytes}


MEMORY_RUNS = 3  # fresh processes per measurement on CPU (medians)
# On CPU the peak is a resident-set reading: besides tensors it holds the Python objects a call
# creates, which grow in pymalloc arenas of 256 KiB; differences below one arena are not memory
# that caching costs (the same call measured +-100 KiB around the budget from run to run).
RSS_SLACK = 256 * 1024


def _memory_rows(cfg: TransformerConfig, batch: int, device: str, runs: int = MEMORY_RUNS) -> list[dict]:
    def peak(hook: str | None) -> dict:
        if device.startswith("cuda"):
            return _peak_cuda(cfg, batch, hook, device)
        measured = [_peak_cpu(cfg, batch, hook) for _ in range(runs)]
        return {
            "peak_bytes": statistics.median(m["peak_bytes"] for m in measured),
            "act_bytes": measured[0]["act_bytes"],
        }

    plain = peak(None)["peak_bytes"]
    rows = []
    for hook in MEMORY_HOOKS:
        cached = peak(hook)
        budget = plain + cached["act_bytes"]
        ratio = cached["peak_bytes"] / budget
        slack = 0 if device.startswith("cuda") else RSS_SLACK
        rows.append(
            {
                "name": f"cache_one_hook_memory[{hook}]",
                "ratio": round(ratio, 3),
                "goal": "<= 1.0",
                "met": cached["peak_bytes"] <= budget + slack,
                "excess_kib": round((cached["peak_bytes"] - budget) / 1024),
                "ours_mb": round(cached["peak_bytes"] / 2**20, 1),
                "ref_mb": round(budget / 2**20, 1),
                "forward_peak_mb": round(plain / 2**20, 1),
                "activation_mb": round(cached["act_bytes"] / 2**20, 1),
                "peak_rss_mb": round(cached["peak_bytes"] / 2**20, 1),
            }
        )
    return rows


def run(device: str = "cpu", quick: bool = False) -> list[dict]:
    shape, batch, reps = (QUICK, 4, 3) if quick else (HEADLINE, 16, 15)
    rows: list[dict] = []
    for positional in ("shortformer",) if quick else ("shortformer", "learned"):
        cfg = TransformerConfig(**{**shape, "positional": positional})
        rows += _timings(cfg, batch, reps, device, positional)
    rows += _memory_rows(TransformerConfig(**shape), batch, device, runs=1 if quick else MEMORY_RUNS)
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.device == "cpu":
        torch.set_num_threads(2)
    for row in run(args.device, args.quick):
        print(json.dumps(row))
