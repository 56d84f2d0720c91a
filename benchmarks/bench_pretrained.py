"""A GPT-2-small-shaped checkpoint: circuitlab vs transformers (sdpa) and TransformerLens 3.9.

Shape: 12 layers, d_model 768, 12 heads, vocab 50257, n_ctx 1024 (124M parameters), random
weights from ``GPT2LMHeadModel(GPT2Config())`` saved with ``save_pretrained`` (safetensors); a
forward is a batch of 4 x 256 tokens. circuitlab loads the folder with ``cl.from_pretrained``,
TransformerLens builds its model from the same transformers model (no weight processing).

Rows (one run, contenders interleaved in each repetition, medians):
    forward_vs_transformers        our forward / transformers' forward         goal <= 1.0
    forward_speedup_vs_tl          TL forward / our forward                    goal > 1.0
    run_with_cache_vs_forward      our run_with_cache (every hook) / our forward   goal <= 2.0
    load_vs_transformers           our from_pretrained / transformers' from_pretrained  goal <= 1.5
    load_peak_rss_vs_weights       (peak RSS - RSS before) of a fresh process that loads the folder
                                   with cl.from_pretrained and runs one 16-token forward (so every
                                   mapped weight page is resident) / the weights' bytes   goal <= 1.3
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import torch
from timing import interleaved_medians

import circuitlab as cl

FULL = dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024)
QUICK = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=500, n_positions=64)

RSS_PROBE = """
import sys, torch
torch.set_num_threads(int(sys.argv[2]))
import circuitlab as cl
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")  # reset the high-water mark to the current RSS
model = cl.from_pretrained(sys.argv[1])
with torch.no_grad():  # touch every weight once: mapped file pages count from here on
    model(torch.arange(16)[None])
print(status("VmHWM:") - before)
"""


def save_model(folder: Path, quick: bool):
    import transformers

    cfg = transformers.GPT2Config(
        **(QUICK if quick else FULL), n_ctx=(QUICK if quick else FULL)["n_positions"]
    )
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = transformers.GPT2LMHeadModel(cfg).eval()
        model.save_pretrained(folder)
    return model


def tl_model(folder: Path, hf):
    import transformer_lens as tl
    from transformer_lens import loading_from_pretrained as lp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = lp.get_pretrained_model_config(str(folder), hf_cfg=hf.config.to_dict(), device="cpu")
        cfg.tokenizer_name = None
        hooked = tl.HookedTransformer(cfg, tokenizer=None)
        state = lp.get_pretrained_state_dict(str(folder), cfg, hf_model=hf)
        hooked.load_and_process_state_dict(
            state, fold_ln=False, center_writing_weights=False, center_unembed=False, fold_value_biases=False
        )
    return hooked.eval()


def row(name: str, ratio: float, goal: str, met: bool, what: str, **extra) -> dict:
    return {"name": name, "ratio": round(ratio, 3), "goal": goal, "met": met, "ratio_is": what, **extra}


def peak_rss_ratio(folder: Path) -> tuple[float, int]:
    weights = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
    threads = str(torch.get_num_threads())
    out = subprocess.run(
        [sys.executable, "-c", RSS_PROBE, str(folder), threads], capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(out.stderr.strip().splitlines()[-1])
    return int(out.stdout.strip().splitlines()[-1]) / weights, weights


def run(device: str, quick: bool) -> list[dict]:
    import transformers

    reps = 2 if quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "gpt2-small-shaped"
        hf = save_model(folder, quick).to(device)
        hf.config._attn_implementation = "sdpa"
        ours = cl.from_pretrained(folder, device=device)
        theirs = tl_model(folder, hf).to(device)
        batch, n = (2, 32) if quick else (4, 256)
        tokens = torch.randint(
            0, hf.config.vocab_size, (batch, n), generator=torch.Generator().manual_seed(0)
        )
        tokens = tokens.to(device)
        with torch.no_grad():
            fwd = interleaved_medians(
                {
                    "ours": lambda: ours(tokens),
                    "transformers": lambda: hf(tokens).logits,
                    "tl": lambda: theirs(tokens),
                    "ours_cache": lambda: ours.run_with_cache(tokens),
                },
                reps,
                device,
            )
        load = interleaved_medians(
            {
                "ours": lambda: cl.from_pretrained(folder, device=device),
                "transformers": lambda: transformers.GPT2LMHeadModel.from_pretrained(folder).to(device),
            },
            reps,
            device,
        )
        rss, weights = peak_rss_ratio(folder)
    shape = f"{hf.config.n_layer}L d_model {hf.config.n_embd} vocab {hf.config.vocab_size} batch {batch}x{n}"
    r_fwd = fwd["ours"] / fwd["transformers"]
    r_tl = fwd["tl"] / fwd["ours"]
    r_cache = fwd["ours_cache"] / fwd["ours"]
    r_load = load["ours"] / load["transformers"]
    rows = [
        row("forward_vs_transformers", r_fwd, "<= 1.0", r_fwd <= 1.0, "our time / transformers' (sdpa)"),
        row("forward_speedup_vs_tl", r_tl, "> 1.0", r_tl > 1.0, "TL time / our time"),
        row("run_with_cache_vs_forward", r_cache, "<= 2.0", r_cache <= 2.0, "run_with_cache / forward"),
        row("load_vs_transformers", r_load, "<= 1.5", r_load <= 1.5, "our load time / transformers'"),
        row("load_peak_rss_vs_weights", rss, "<= 1.3", rss <= 1.3, "peak RSS of load + forward / weights"),
    ]
    seconds = {f"{k}_forward_s": round(v, 4) for k, v in fwd.items()} | {
        f"{k}_load_s": round(v, 4) for k, v in load.items()
    }
    for r in rows:
        r.update(shape=shape, reps=reps, weights_bytes=weights, **seconds)
    return rows
