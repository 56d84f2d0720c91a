"""What a feature dashboard shows about one SAE latent, computed from a model, an SAE and tokens.

For latent j (as in Bricken et al. 2023's and SAELens/Neuronpedia's dashboards):

    contexts    the positions where f_j is largest (no two in one window), each with the tokens
                around it and f_j at each
    histogram   counts of the nonzero f_j over all positions (``bins`` equal bins up to the max)
    frequency   the fraction of positions where f_j > 0
    promoted / suppressed   the tokens with the largest and smallest W_dec[j] W_U (the direct effect
                of the latent's direction on the logits; only for a hook of width d_model)
    neighbours  the latents whose decoder rows have the largest cosine with W_dec[j]

``latent_dashboards`` returns plain data (dataclasses of lists and numbers); circuitlab.report
renders it as HTML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import HookedModule
from circuitlab.superposition.sae.model import SparseAutoencoder
from circuitlab.superposition.sae.store import read_hook


@dataclass
class Context:
    """Tokens around one position (``peak`` indexes it in ``tokens``) and f_j at each of them."""

    tokens: list[str]
    acts: list[float]
    peak: int


@dataclass
class LatentDashboard:
    latent: int
    frequency: float
    max_activation: float
    contexts: list[Context]
    histogram: list[int]
    edges: list[float]
    promoted: list[tuple[str, float]]
    suppressed: list[tuple[str, float]]
    neighbours: list[tuple[int, float]]

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict) -> LatentDashboard:
        doc = dict(doc)
        doc["contexts"] = [Context(**c) for c in doc["contexts"]]
        for key in ("promoted", "suppressed", "neighbours"):
            doc[key] = [tuple(pair) for pair in doc[key]]
        return cls(**doc)


@torch.no_grad()
def latent_activations(
    model: HookedModule, sae: SparseAutoencoder, tokens: Tensor, hook_name: str, batch_size: int = 32
) -> Tensor:
    """f for every position of ``tokens`` [batch, pos] -> [batch, pos, d_sae]."""
    parts = []
    for chunk in tokens.split(batch_size):
        acts = read_hook(model, hook_name, chunk)
        if acts.shape[-1] != sae.cfg.d_in:
            raise ShapeError(
                f"{hook_name!r} gives vectors of width {acts.shape[-1]} but the SAE has d_in={sae.cfg.d_in}; "
                "analyze the SAE with the model and hook it was trained on"
            )
        parts.append(sae.encode(acts).reshape(*chunk.shape, -1))
    return torch.cat(parts)


def _contexts(
    f: Tensor, tokens: Tensor, n: int, window: tuple[int, int], name: Callable[[int], str]
) -> list[Context]:
    """The ``n`` positions with the largest f [batch, pos], ``window`` = (before, after) tokens; a
    position inside the window of one already shown (same row) is skipped, so contexts differ."""
    values, flat = f.flatten().topk(min(4 * n, f.numel()))
    out: list[Context] = []
    taken: list[tuple[int, int]] = []
    for v, i in zip(values.tolist(), flat.tolist(), strict=True):
        if v <= 0 or len(out) == n:
            break
        row, pos = divmod(i, f.shape[1])
        if any(r == row and -window[1] <= pos - p <= window[0] for r, p in taken):
            continue
        taken.append((row, pos))
        lo, hi = max(0, pos - window[0]), min(f.shape[1], pos + window[1] + 1)
        ids = tokens[row, lo:hi].tolist()
        acts = [round(float(a), 4) for a in f[row, lo:hi]]
        out.append(Context([name(t) for t in ids], acts, pos - lo))
    return out


def _logits(sae: SparseAutoencoder, model: HookedModule, j: int, n: int, name: Callable[[int], str]):
    W_U = getattr(model, "W_U", None)
    if W_U is None or W_U.shape[0] != sae.cfg.d_in:
        return [], []
    effect = sae.W_dec[j].detach() @ W_U.detach()
    top, bottom = effect.topk(min(n, effect.numel())), (-effect).topk(min(n, effect.numel()))
    promoted = [(name(int(t)), round(float(v), 4)) for v, t in zip(top.values, top.indices, strict=True)]
    suppressed = [
        (name(int(t)), round(-float(v), 4)) for v, t in zip(bottom.values, bottom.indices, strict=True)
    ]
    return promoted, suppressed


def _neighbours(sae: SparseAutoencoder, j: int, n: int) -> list[tuple[int, float]]:
    rows = sae.W_dec.detach()
    rows = rows / rows.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    cos = rows @ rows[j]
    cos[j] = -2.0
    values, idx = cos.topk(min(n, cos.numel() - 1))
    return [(int(i), round(float(v), 4)) for v, i in zip(values, idx, strict=True)]


def latent_dashboards(
    model: HookedModule,
    sae: SparseAutoencoder,
    tokens: Tensor,
    latents: list[int] | None = None,
    hook_name: str | None = None,
    decode: Callable[[list[int]], str] | None = None,
    n_latents: int = 8,
    n_contexts: int = 8,
    window: tuple[int, int] = (10, 3),
    n_logits: int = 8,
    bins: int = 20,
) -> list[LatentDashboard]:
    """Dashboards for ``latents`` (default: the ``n_latents`` most frequent live latents) of ``sae``
    at ``hook_name`` (default ``sae.cfg.hook_name``) over ``tokens`` [batch, pos]."""
    hook_name = hook_name or sae.cfg.hook_name
    if hook_name is None:
        raise ConfigError(
            "latent_dashboards needs a hook: pass hook_name= or build the SAE with SAEConfig(hook_name=...)"
        )
    if tokens.ndim != 2 or tokens.is_floating_point():
        raise ShapeError(f"tokens: expected int64 [batch, pos], got {tuple(tokens.shape)} ({tokens.dtype})")
    f = latent_activations(model, sae, tokens, hook_name)
    fired = (f > 0).flatten(0, 1).float().mean(0)
    if latents is None:
        latents = [int(j) for j in fired.topk(min(n_latents, fired.numel())).indices if fired[j] > 0]
    bad = [j for j in latents if not 0 <= j < sae.cfg.n_latents]
    if bad:
        raise ConfigError(f"latents {bad} are out of range; the SAE has latents 0..{sae.cfg.n_latents - 1}")
    name = (lambda t: decode([t])) if decode is not None else str
    out = []
    for j in latents:
        fj = f[..., j]
        live = fj[fj > 0]
        top = float(live.max()) if live.numel() else 0.0
        hist = torch.histc(live, bins=bins, min=0.0, max=top) if live.numel() else torch.zeros(bins)
        promoted, suppressed = _logits(sae, model, j, n_logits, name)
        out.append(LatentDashboard(
            latent=j, frequency=round(float(fired[j]), 6), max_activation=round(top, 4),
            contexts=_contexts(fj, tokens, n_contexts, window, name),
            histogram=[int(c) for c in hist], edges=[round(top * i / bins, 4) for i in range(bins + 1)],
            promoted=promoted, suppressed=suppressed, neighbours=_neighbours(sae, j, 5),
        ))  # fmt: skip
    return out
