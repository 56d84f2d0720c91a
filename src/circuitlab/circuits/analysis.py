"""One survey of any transformer: the measurements behind ``circuitlab analyze``.

``analyze(model, prompt)`` returns plain JSON-able results (the report renders them; it never
sees the model):

    heads        per head: previous-token, duplicate and induction scores on BOS + R + R random
                 tokens (``head_scores``), the OV copying score (``copying_scores``), and a
                 classification: the pattern whose score is highest, when it is >= CLASS_AT
    composition  the strongest K-, Q- and V-composition pairs (``composition_scores``) with the
                 random-weights baseline of each mode (``composition_baseline``)
    viewers      attention patterns on the prompt and on BOS + R + R, in the viewer's schema
    logit_lens   at the prompt's last position, each layer's residual stream read through
                 ln_final and W_U: the top tokens and the probability and rank of the model's
                 final next-token prediction
    attribution  direct logit attribution of that prediction to the embedding, each layer's
                 attention and each MLP (``logit_attrs``)
    ablation     loss on the repeated half of BOS + R + R with the top induction heads zeroed
                 (``ablate_heads``), next to the clean loss
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from circuitlab.circuits.attribution import accumulated_resid, decompose_resid, logit_attrs
from circuitlab.circuits.composition import composition_baseline, composition_scores, copying_scores
from circuitlab.circuits.heads import KINDS, head_scores, repeated_random_tokens
from circuitlab.circuits.patching import ablate_heads
from circuitlab.errors import ConfigError

CLASS_AT = 0.4  # a head is "induction", "previous_token" or "duplicate" when that score is >= this
N_EDGES, N_ABLATE, TOP_K = 12, 3, 5
Progress = Callable[[str], None]


def token_strings(model, ids: list[int]) -> list[str]:
    tok = getattr(model, "tokenizer", None)
    return [tok.decode([i]) for i in ids] if tok is not None else [f"<{i}>" for i in ids]


def prompt_tokens(model, prompt: str | None) -> torch.Tensor:
    """[1, pos] ids of ``prompt`` (text with a tokenizer, else space-separated ids), at most n_ctx."""
    if prompt is None:
        prompt = "When Mary and John went to the store, John gave a drink to Mary. When Mary and John"
        if getattr(model, "tokenizer", None) is None:
            prompt = " ".join(
                str(i) for i in repeated_random_tokens(model.cfg.d_vocab, 12, batch=1, seed=1)[0].tolist()
            )
    if getattr(model, "tokenizer", None) is not None:
        ids = model.to_tokens(prompt).cpu()
    else:
        try:
            ids = torch.tensor([[int(t) for t in prompt.replace(",", " ").split()]])
        except ValueError:
            raise ConfigError(
                "this model has no tokenizer: give --prompt as token ids, e.g. '5 17 3'"
            ) from None
    return model.check_tokens(ids[:, -model.cfg.n_ctx :])


def classify(scores: dict[str, float]) -> str:
    best = max(KINDS, key=lambda k: scores[k])
    return best if scores[best] >= CLASS_AT else "-"


def head_table(model, rep: torch.Tensor) -> list[dict[str, Any]]:
    per_kind = {kind: head_scores(model, kind, tokens=rep).cpu() for kind in KINDS}
    copying = copying_scores(model).float().cpu().nan_to_num(0.0)  # a zero head: 0/0
    rows = []
    for l in range(model.cfg.n_layers):
        for h in range(model.cfg.n_heads):
            row = {kind: round(float(per_kind[kind][l, h]), 4) for kind in KINDS}
            rows.append(
                {
                    "layer": l,
                    "head": h,
                    **row,
                    "copying": round(float(copying[l, h]), 4),
                    "class": classify(row),
                }
            )
    return rows


def composition(model) -> dict[str, Any]:
    """The N_EDGES strongest (mode, earlier head, later head) pairs, and each mode's baseline."""
    if model.cfg.n_layers < 2:
        return {"baseline": {}, "edges": []}
    baseline, edges = {}, []
    for mode in "QKV":
        baseline[mode] = composition_baseline(model, mode, n_samples=64)
        scores = composition_scores(model, mode).float().cpu().nan_to_num(0.0)  # zero heads: 0/0
        for idx in scores.flatten().topk(min(N_EDGES, scores.numel())).indices.tolist():
            l1, h1, l2, h2 = torch.unravel_index(torch.tensor(idx), scores.shape)
            s = float(scores[l1, h1, l2, h2])
            edges.append({"mode": mode, "src": [int(l1), int(h1)], "dst": [int(l2), int(h2)], "score": round(s, 4),
                          "vs_baseline": round(s / baseline[mode], 3)})  # fmt: skip
    edges = sorted((e for e in edges if e["score"] > 0), key=lambda e: -e["vs_baseline"])  # no zero heads
    return {"baseline": {k: round(v, 4) for k, v in baseline.items()}, "edges": edges[:N_EDGES]}


def viewer(model, tokens: torch.Tensor, heads: list[dict[str, Any]]) -> dict[str, Any]:
    """The attention viewer's data (``report.viewer`` schema) for one sequence."""
    names = lambda n: n.endswith("attn.hook_pattern")  # noqa: E731
    _, cache = model.run_with_cache(tokens, names_filter=names)
    patterns = torch.stack([cache[f"blocks.{l}.attn.hook_pattern"][0] for l in range(model.cfg.n_layers)])
    marks = {
        f"{r['layer']}.{r['head']}": r["class"]
        for r in heads
        if r["class"] in ("induction", "previous_token")
    }
    return {
        "tokens": token_strings(model, tokens[0].tolist()),
        "layers": model.cfg.n_layers,
        "heads": model.cfg.n_heads,
        "patterns": patterns.float().cpu().numpy().round(3).tolist(),
        "marks": marks,
    }


def logit_lens(model, cache, target: int) -> list[dict[str, Any]]:
    """Each layer's stream at the last position through ln_final and W_U (a fresh LN per layer)."""
    stack = accumulated_resid(cache)
    rows = []
    with torch.no_grad():
        for label, resid in zip(stack.labels, stack.resid.unbind(0), strict=True):
            probs = model.unembed(model.ln_final(resid[:, -1:]))[0, -1].float().softmax(-1)
            top = probs.topk(TOP_K)
            rows.append({
                "layer": label,
                "target_prob": round(float(probs[target]), 4),
                "target_rank": int((probs > probs[target]).sum()),
                "top": [[token_strings(model, [int(i)])[0], round(float(p), 4)] for p, i in zip(*top, strict=True)],
            })  # fmt: skip
    return rows


def attribution(model, cache, tokens: torch.Tensor, target: int) -> list[list[Any]]:
    """(component, its direct contribution to the target's logit at the last position)."""
    answer = torch.full_like(tokens, target)
    attrs = logit_attrs(cache, answer, components=decompose_resid(cache))
    return [[label, round(float(a[0, -1]), 4)] for label, a in zip(attrs.labels, attrs.attrs, strict=True)]


def induction_ablation(model, rep: torch.Tensor, heads: list[dict[str, Any]]) -> dict[str, Any]:
    top = sorted(heads, key=lambda r: -r["induction"])[:N_ABLATE]
    chosen = [(r["layer"], r["head"]) for r in top]
    result = ablate_heads(model, rep, chosen)
    half = (rep.shape[1] - 1) // 2  # BOS + R + R: the loss of predicting the second R
    return {
        "heads": [list(h) for h in chosen],
        "induction_scores": [r["induction"] for r in top],
        "clean_loss": round(float(result.clean_loss[:, half:].mean()), 4),
        "ablated_loss": round(float(result.ablated_loss[:, half:].mean()), 4),
        "first_half_loss": round(float(result.clean_loss[:, :half].mean()), 4),
    }


def describe(model) -> dict[str, Any]:
    cfg = model.cfg
    keys = ("n_layers", "d_model", "n_heads", "d_head", "d_vocab", "n_ctx", "positional", "normalization",
            "mlp", "activation", "n_key_value_heads", "parallel_attn_mlp", "tie_embeddings", "attn_only")  # fmt: skip
    return {k: getattr(cfg, k) for k in keys} | {"n_params": sum(p.numel() for p in model.parameters())}


@torch.no_grad()
def analyze(model, prompt: str | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """The survey of ``model`` described in the module docstring, as a JSON-able dict."""
    step = progress or (lambda what: None)
    if model.cfg.n_layers < 1:
        raise ConfigError("analyze needs a model with attention layers; this one has n_layers=0")
    model.eval()
    device = next(model.parameters()).device
    half = max(2, min(32, (model.cfg.n_ctx - 1) // 2))
    bos = getattr(model, "bos_token_id", None)  # the tokenizer's BOS; 0 for a model without one
    rep = repeated_random_tokens(model.cfg.d_vocab, half, batch=4, seed=0, bos=bos or 0).to(device)
    step("head scores")
    heads = head_table(model, rep)
    step("composition")
    comp = composition(model)
    step("attention on the prompt")
    tokens = prompt_tokens(model, prompt).to(device)
    viewers = {"prompt": viewer(model, tokens, heads), "repeated": viewer(model, rep[:1], heads)}
    step("logit lens and attribution")
    logits, cache = model.run_with_cache(tokens)
    target = int(logits[0, -1].argmax())
    lens, attrs = logit_lens(model, cache, target), attribution(model, cache, tokens, target)
    step("induction-head ablation")
    ablation = induction_ablation(model, rep, heads)
    return {
        "model": describe(model),
        "prompt": {
            "text": prompt or "".join(viewers["prompt"]["tokens"]),
            "tokens": viewers["prompt"]["tokens"],
        },
        "prediction": {"token": token_strings(model, [target])[0], "id": target},
        "heads": heads,
        "composition": comp,
        "viewers": viewers,
        "logit_lens": lens,
        "attribution": attrs,
        "ablation": ablation,
    }


__all__ = ["CLASS_AT", "analyze"]
