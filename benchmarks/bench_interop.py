"""circuitlab vs TransformerLens 3.9 (and the bare SDPA model) at the headline shape.

Headline shape (DESIGN.md): 2 layers, attention only, shortformer positions, LayerNorm,
d_model 256, 8 heads of 32, vocab 4096, n_ctx 256, batch 16 (2 CPU threads set by run.py).
The three models hold the same weights shapes; TransformerLens's model is
``to_transformer_lens(ours)``, the bare one is ``reference_models.BareTransformer``.

Rows (all ratios from one run, contenders interleaved in each repetition, medians):
    tl_forward_vs_bare            TL forward time / bare forward time            (for reference)
    tl_train_step_vs_bare         TL train step time / bare train step time      (for reference)
    run_with_cache_speedup_vs_tl  TL run_with_cache (every hook) / ours          goal >= 1.5
    logit_lens_speedup_vs_tl      TL / ours for run_with_cache + accumulated_resid
                                  + logit_attrs of the last position (the logit lens
                                  a TransformerLens notebook runs)                  goal >= 1.5
    train_tokens_per_s_vs_tl      our training tokens/s / TL's                   goal >= 2
                                  (each library's own loss: return_type="loss")
    train_tokens_per_s_vs_tl_logits_loss   the same with logits + F.cross_entropy on both
                                  sides (what the model's layers alone give; for reference)
A train step is forward, next-token cross-entropy, backward and an AdamW step. circuitlab's
return_type="loss" (what its training loop uses) never materialises the logits; TL's computes
them and a log-softmax.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F
from reference_models import BareTransformer
from shapes import HEADLINE, QUICK
from timing import interleaved_medians

from circuitlab.transformer import Transformer, TransformerConfig


def train_step(model: torch.nn.Module, tokens: torch.Tensor, native_loss: bool = False) -> Callable[[], None]:
    """One step of next-token training: forward, cross-entropy, backward, AdamW.

    ``native_loss``: the library's own loss, ``model(tokens, return_type="loss")`` (the same
    next-token mean in circuitlab and TransformerLens); otherwise logits + ``F.cross_entropy``."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        if native_loss:
            loss = model(tokens, return_type="loss")
        else:
            logits = model(tokens)
            loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def build(device: str, quick: bool):
    from circuitlab.interop import to_transformer_lens

    cfg = TransformerConfig(**(QUICK if quick else HEADLINE))
    ours = Transformer(cfg).to(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TL 3.9 announces HookedTransformer's end
        theirs = to_transformer_lens(ours)
    bare = BareTransformer.from_config(cfg).to(device)
    batch = 2 if quick else 16
    gen = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, cfg.d_vocab, (batch, cfg.n_ctx), generator=gen).to(device)
    return cfg, ours, theirs, bare, tokens


def _row(name: str, goal: float | None, what: str, slow: tuple[str, float], fast: tuple[str, float]) -> dict:
    """A ratio row: ``slow`` time / ``fast`` time, each given as (label, seconds)."""
    ratio = slow[1] / fast[1]
    return {
        "name": name,
        "ratio": round(ratio, 3),
        "goal": None if goal is None else f">= {goal:g}",
        "met": None if goal is None else bool(ratio >= goal),
        "ratio_is": what,
        **{f"{label}_s": round(t, 6) for label, t in (slow, fast)},
    }


def logit_lens(model: torch.nn.Module, tokens: torch.Tensor) -> Callable[[], torch.Tensor]:
    """A notebook's logit lens: cache everything, stack the residual stream entering each layer
    at the last position, and attribute the last token's logit to each point."""

    def lens() -> torch.Tensor:
        _, cache = model.run_with_cache(tokens)
        stack = cache.accumulated_resid(layer=-1, pos_slice=-1)
        return cache.logit_attrs(stack, tokens[:, -1], pos_slice=-1)

    return lens


def run(device: str, quick: bool) -> list[dict]:
    cfg, ours, theirs, bare, tokens = build(device, quick)
    reps = 3 if quick else 7

    with torch.no_grad():
        fwd = interleaved_medians({"tl": lambda: theirs(tokens), "bare": lambda: bare(tokens)}, reps, device)
        cache = interleaved_medians(
            {"ours": lambda: ours.run_with_cache(tokens), "tl": lambda: theirs.run_with_cache(tokens)},
            reps,
            device,
        )
        lens = interleaved_medians(
            {"ours": logit_lens(ours, tokens), "tl": logit_lens(theirs, tokens)}, reps, device
        )
    step = interleaved_medians(
        {
            "ours": train_step(ours, tokens, native_loss=True),
            "tl": train_step(theirs, tokens, native_loss=True),
            "ours_logits": train_step(ours, tokens),
            "tl_logits": train_step(theirs, tokens),
            "bare": train_step(bare, tokens),
        },
        reps,
        device,
    )
    n_tokens = tokens.numel()
    shape = (
        f"{cfg.n_layers}L d_model {cfg.d_model} {cfg.n_heads}x{cfg.d_head} vocab {cfg.d_vocab} "
        f"batch {tokens.shape[0]}x{tokens.shape[1]}"
    )
    both_logits = "both taking logits + F.cross_entropy"
    # (name, goal, what the ratio is, (slower label, seconds), (faster label, seconds))
    specs = [
        ("tl_forward_vs_bare", None, "TL time / bare time", ("tl", fwd["tl"]), ("bare", fwd["bare"])),
        ("tl_train_step_vs_bare", None, f"TL time / bare time, {both_logits}", ("tl", step["tl_logits"]),
         ("bare", step["bare"])),
        ("run_with_cache_speedup_vs_tl", 1.5, "TL time / our time", ("tl", cache["tl"]), ("ours", cache["ours"])),
        ("logit_lens_speedup_vs_tl", 1.5, "TL time / our time: run_with_cache + accumulated_resid + logit_attrs",
         ("tl", lens["tl"]), ("ours", lens["ours"])),
        ("train_tokens_per_s_vs_tl", 2.0, "our tokens/s / TL tokens/s, each library's return_type='loss'",
         ("tl", step["tl"]), ("ours", step["ours"])),
        ("train_tokens_per_s_vs_tl_logits_loss", None, f"our tokens/s / TL tokens/s, {both_logits}",
         ("tl", step["tl_logits"]), ("ours", step["ours_logits"])),
    ]  # fmt: skip
    rows = [_row(*spec) for spec in specs]
    tokens_per_s = {f"{k}_tokens_per_s": round(n_tokens / step[k]) for k in ("ours", "tl")}
    next(r for r in rows if r["name"] == "train_tokens_per_s_vs_tl").update(tokens_per_s)
    for row in rows:
        row.update(shape=shape, reps=reps)
    return rows
