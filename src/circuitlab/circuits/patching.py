"""Ablation and activation patching, built on the hook system (``run_with_hooks``).

Ablating head (l, h) replaces its z^{l,h} (``blocks.{l}.attn.hook_z``) so its write
r^{l,h} = z^{l,h} W_O^{l,h} becomes 0 (zero ablation) or the write of its mean z (mean ablation).
Activation patching (Meng et al. 2022; Wang et al. 2022) runs the model on corrupted tokens with
one activation taken from the clean run, and measures how much of the clean behaviour that
single activation restores.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from circuitlab.circuits.heads import per_token_loss
from circuitlab.circuits.qk_ov import check_head
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import ActivationCache
from circuitlab.typing import Float, Int, Tensor

Head = tuple[int, int]
Metric = Callable[[Tensor], Tensor | float]


@dataclass(frozen=True)
class AblationResult:
    """Per-token losses [batch, pos - 1] of the clean and the ablated model on the same tokens."""

    heads: tuple[Head, ...]
    kind: str
    clean_loss: Float[Tensor, "batch pos_minus_1"]
    ablated_loss: Float[Tensor, "batch pos_minus_1"]
    ablated_logits: Float[Tensor, "batch pos d_vocab"]

    @property
    def loss_increase(self) -> float:
        """Mean ablated loss minus mean clean loss."""
        return float(self.ablated_loss.mean() - self.clean_loss.mean())


@dataclass(frozen=True)
class PatchingResult:
    """metric(logits) after patching each location; ``axes`` names the dims of ``scores``."""

    scores: Float[Tensor, "..."]
    axes: tuple[str, ...]
    clean_metric: float
    corrupted_metric: float

    @property
    def normalized(self) -> Float[Tensor, "..."]:
        """(score - corrupted) / (clean - corrupted): 1 = patching restores the clean behaviour."""
        return (self.scores - self.corrupted_metric) / (self.clean_metric - self.corrupted_metric)


def _group_heads(model, heads: Sequence[Head]) -> dict[int, list[int]]:
    by_layer: dict[int, list[int]] = {}
    for item in heads:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise ConfigError(f"head {item!r}: give heads as (layer, head) pairs")
        check_head(model, item[0], item[1])
        by_layer.setdefault(item[0], []).append(item[1])
    return by_layer


@torch.no_grad()
def head_ablation_hooks(
    model,
    heads: Sequence[Head],
    kind: Literal["zero", "mean"] = "zero",
    reference_tokens: Int[Tensor, "batch pos"] | None = None,
) -> list[tuple[str, Callable]]:
    """Forward hooks that ablate ``heads``; use with ``model.run_with_hooks`` or ``model.hooks``.

    Mean ablation replaces z^{l,h} at position p by its mean over the batch of ``reference_tokens``
    at p (which must be at least as long as the ablated run).
    """
    if kind not in ("zero", "mean"):
        raise ConfigError(f"ablation kind {kind!r}: choose 'zero' or 'mean'")
    by_layer = _group_heads(model, heads)
    means: dict[int, Tensor] = {}
    if kind == "mean":
        if reference_tokens is None:
            raise ConfigError("mean ablation needs reference_tokens to average z over")
        names = [f"blocks.{l}.attn.hook_z" for l in by_layer]
        _, cache = model.run_with_cache(reference_tokens, names_filter=names)
        means = {l: cache["z", l].mean(0) for l in by_layer}  # [pos, n_heads, d_head]

    def make(layer: int) -> Callable:
        idx = by_layer[layer]

        def hook(z: Tensor, hook) -> Tensor:
            z = z.clone()
            if kind == "zero":
                z[:, :, idx] = 0
            else:
                ref = means[layer]
                if ref.shape[0] < z.shape[1]:
                    raise ShapeError(
                        f"mean ablation: reference_tokens have {ref.shape[0]} positions, the run has "
                        f"{z.shape[1]}; give reference sequences at least as long"
                    )
                z[:, :, idx] = ref[: z.shape[1], idx]
            return z

        return hook

    return [(f"blocks.{l}.attn.hook_z", make(l)) for l in by_layer]


@torch.no_grad()
def ablate_heads(
    model,
    tokens: Int[Tensor, "batch pos"],
    heads: Sequence[Head],
    kind: Literal["zero", "mean"] = "zero",
    reference_tokens: Int[Tensor, "batch pos"] | None = None,
) -> AblationResult:
    """Run ``tokens`` with and without ``heads`` (zero or mean ablated); per-token losses of both.

    Mean ablation averages over ``reference_tokens`` (default: ``tokens`` themselves).
    """
    tokens = model.check_tokens(tokens)
    ref = tokens if reference_tokens is None else reference_tokens
    hooks = head_ablation_hooks(model, heads, kind, ref if kind == "mean" else None)
    logits = model.run_with_hooks(tokens, fwd_hooks=hooks)
    logp = logits[:, :-1].log_softmax(-1)
    ablated = -logp.gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return AblationResult(
        tuple(tuple(h) for h in heads), kind, per_token_loss(model, tokens), ablated, logits
    )


def _as_float(value: Tensor | float) -> float:
    return float(value.item() if isinstance(value, Tensor) else value)


@torch.no_grad()
def patch_activation(
    model,
    corrupted_tokens: Int[Tensor, "batch pos"],
    clean_cache: ActivationCache,
    hook_name: str,
    index: tuple = (),
) -> Float[Tensor, "batch pos d_vocab"]:
    """Logits of the corrupted run with ``activation[index]`` taken from ``clean_cache``.

    ``index`` addresses the activation after its batch dim, e.g. ``(slice(None), head)`` for one
    head of ``hook_z`` [batch, pos, n_heads, d_head], or ``(pos,)`` for one position of a resid.
    """
    clean = clean_cache[hook_name]

    def hook(act: Tensor, hook) -> Tensor:
        if act.shape != clean.shape:
            raise ShapeError(
                f"patch {hook_name}: corrupted activation {tuple(act.shape)} != clean {tuple(clean.shape)}; "
                "use clean and corrupted tokens of the same shape"
            )
        act = act.clone()
        act[(slice(None), *index)] = clean[(slice(None), *index)]
        return act

    return model.run_with_hooks(corrupted_tokens, fwd_hooks=[(hook_name, hook)])


def _clean_and_corrupted(
    model, clean_tokens: Tensor, corrupted_tokens: Tensor, names: list[str], metric: Metric
):
    clean_tokens = model.check_tokens(clean_tokens)
    corrupted_tokens = model.check_tokens(corrupted_tokens)
    if clean_tokens.shape != corrupted_tokens.shape:
        raise ShapeError(
            f"clean tokens {tuple(clean_tokens.shape)} and corrupted {tuple(corrupted_tokens.shape)} differ; "
            "activation patching needs prompts of the same shape"
        )
    clean_logits, cache = model.run_with_cache(clean_tokens, names_filter=names)
    return (
        corrupted_tokens,
        cache,
        _as_float(metric(clean_logits)),
        _as_float(metric(model(corrupted_tokens))),
    )


@torch.no_grad()
def patch_heads(model, clean_tokens: Tensor, corrupted_tokens: Tensor, metric: Metric) -> PatchingResult:
    """scores[l, h] = metric(logits of the corrupted run with head (l, h)'s clean z patched in)."""
    L, H = model.cfg.n_layers, model.cfg.n_heads
    names = [f"blocks.{l}.attn.hook_z" for l in range(L)]
    corrupted, cache, clean_m, corrupted_m = _clean_and_corrupted(
        model, clean_tokens, corrupted_tokens, names, metric
    )
    scores = torch.zeros(L, H)
    for l in range(L):
        for h in range(H):
            logits = patch_activation(model, corrupted, cache, names[l], (slice(None), h))
            scores[l, h] = _as_float(metric(logits))
    return PatchingResult(scores, ("layer", "head"), clean_m, corrupted_m)


@torch.no_grad()
def patch_resid(model, clean_tokens: Tensor, corrupted_tokens: Tensor, metric: Metric) -> PatchingResult:
    """scores[l, p] = metric(logits of the corrupted run with clean ``resid_pre`` of layer l at position p)."""
    L = model.cfg.n_layers
    if L < 1:
        raise ConfigError("patch_resid needs a model with layers; this one has n_layers=0")
    names = [f"blocks.{l}.hook_resid_pre" for l in range(L)]
    corrupted, cache, clean_m, corrupted_m = _clean_and_corrupted(
        model, clean_tokens, corrupted_tokens, names, metric
    )
    n_pos = corrupted.shape[1]
    scores = torch.zeros(L, n_pos)
    for l in range(L):
        for p in range(n_pos):
            scores[l, p] = _as_float(metric(patch_activation(model, corrupted, cache, names[l], (p,))))
    return PatchingResult(scores, ("layer", "pos"), clean_m, corrupted_m)


__all__ = [
    "AblationResult",
    "PatchingResult",
    "ablate_heads",
    "head_ablation_hooks",
    "patch_activation",
    "patch_heads",
    "patch_resid",
]
