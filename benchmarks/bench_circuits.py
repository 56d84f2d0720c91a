"""circuitlab.circuits vs TransformerLens 3.9 on the same weights: composition scores and head detectors.

Model: the headline shape (2 layers, attention only, shortformer, LayerNorm, d_model 256, 8 heads
of 32, vocab 4096, n_ctx 256); TransformerLens's model is ``to_transformer_lens(ours)``.

Rows (contenders interleaved in each repetition, medians; ratio = TL time / our time):
    composition_scores_speedup_vs_tl  ``composition_scores(model, m)`` for m in Q, K, V vs
                                      ``HookedTransformer.all_composition_scores(m)``   goal >= 1
    head_scores_speedup_vs_tl         ``head_scores(model, kind, tokens, denominator="all")`` for the
                                      three kinds vs TL's ``detect_head`` (one call per sequence, as
                                      TL's list path does) on BOS + R + R tokens            goal >= 1
Each row also records the largest absolute difference between the two results (they compute
the same definition, so it should sit at float rounding).
"""

from __future__ import annotations

import warnings

import torch
from shapes import HEADLINE, QUICK
from timing import interleaved_medians

from circuitlab.circuits import composition_scores, head_scores, repeated_random_tokens
from circuitlab.transformer import Transformer, TransformerConfig

KINDS = {
    "previous_token": "previous_token_head",
    "duplicate": "duplicate_token_head",
    "induction": "induction_head",
}


def build(device: str, quick: bool):
    from circuitlab.interop import to_transformer_lens

    cfg = TransformerConfig(**(QUICK if quick else HEADLINE))
    ours = Transformer(cfg).to(device).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = to_transformer_lens(ours).eval()
    # token ids in, as for ours (no tokenizer); a list of [1, pos] prompts is concatenated
    theirs.to_tokens = lambda seq, **kwargs: torch.cat(seq) if isinstance(seq, list) else seq
    tokens = repeated_random_tokens(cfg.d_vocab, half_len=(cfg.n_ctx - 2) // 2, batch=4 if quick else 8)
    return cfg, ours, theirs, tokens.to(device)


def _row(name: str, ours_s: float, ref_s: float, max_abs_diff: float, shape: str, reps: int) -> dict:
    ratio = ref_s / ours_s
    return {
        "name": name,
        "ours_s": round(ours_s, 6),
        "ref_s": round(ref_s, 6),
        "ratio": round(ratio, 3),
        "ratio_is": "TL time / our time",
        "goal": ">= 1",
        "met": bool(ratio >= 1),
        "max_abs_diff": max_abs_diff,
        "shape": shape,
        "reps": reps,
    }


def run(device: str, quick: bool) -> list[dict]:
    from transformer_lens.head_detector import detect_head

    cfg, ours, theirs, tokens = build(device, quick)
    reps = 3 if quick else 9
    seqs = [tokens[b : b + 1] for b in range(tokens.shape[0])]

    def ours_comp():
        return [composition_scores(ours, m) for m in "QKV"]

    def tl_comp():
        return [theirs.all_composition_scores(m) for m in "QKV"]

    def ours_heads():
        return [head_scores(ours, kind, tokens, denominator="all") for kind in KINDS]

    def tl_heads():
        return [detect_head(theirs, seqs, name) for name in KINDS.values()]

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comp = interleaved_medians({"ours": ours_comp, "tl": tl_comp}, reps, device)
        heads = interleaved_medians({"ours": ours_heads, "tl": tl_heads}, reps, device)
        comp_diff = max((a - b).abs().max().item() for a, b in zip(ours_comp(), tl_comp(), strict=True))
        head_diff = max(
            (a.cpu() - b.float().cpu()).abs().max().item()
            for a, b in zip(ours_heads(), tl_heads(), strict=True)
        )
    shape = (
        f"{cfg.n_layers}L d_model {cfg.d_model} {cfg.n_heads}x{cfg.d_head} vocab {cfg.d_vocab}; "
        f"tokens {tokens.shape[0]}x{tokens.shape[1]}"
    )
    return [
        _row("composition_scores_speedup_vs_tl", comp["ours"], comp["tl"], comp_diff, shape, reps),
        _row("head_scores_speedup_vs_tl", heads["ours"], heads["tl"], head_diff, shape, reps),
    ]


if __name__ == "__main__":
    import sys

    torch.set_num_threads(2)
    for row in run("cpu", quick="--quick" in sys.argv):
        print(row)
