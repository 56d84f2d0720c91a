"""Figures of the superposition reproductions (PNG), drawn from plain tensors; each returns its path."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from circuitlab.report.figures import pyplot
from circuitlab.superposition.metrics import FRACTIONS, feature_norms, gram, interference


def _save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return path


def gram_and_norms(W: Tensor, sparsities: Sequence[float], path: Path) -> Path:
    """Top row: W^T W per instance (red +, blue -). Bottom row: ||W_i|| bars, coloured by how much
    feature i shares its direction with the others (the paper's figure 3 layout)."""
    n = W.shape[0]
    fig, axes = pyplot().subplots(2, n, figsize=(1.6 * n + 1, 3.6), squeeze=False)
    G, norms, inter = gram(W), feature_norms(W), interference(W)
    for k in range(n):
        top, bottom = axes[0][k], axes[1][k]
        top.imshow(G[k].cpu().numpy(), cmap="RdBu_r", vmin=-1, vmax=1)
        top.set_title(f"S={sparsities[k]:.3g}", fontsize=8)
        top.set_xticks([])
        top.set_yticks([])
        colors = pyplot().cm.viridis(inter[k].clamp(0, 1).cpu().numpy())  # sum_j!=i (W_i_hat . W_j)^2
        bottom.barh(range(W.shape[-1]), norms[k].cpu().numpy(), color=colors)
        bottom.invert_yaxis()
        bottom.set_xlim(0, 1.3)
        bottom.set_yticks([])
        bottom.tick_params(labelsize=6)
    axes[0][0].set_ylabel("W^T W", fontsize=8)
    axes[1][0].set_ylabel("||W_i|| (yellow: superposed)", fontsize=7)
    return _save(fig, path)


def directions_in_plane(W: Tensor, sparsities: Sequence[float], path: Path) -> Path:
    """For d_hidden = 2: each feature's column W_i drawn from the origin, one panel per instance."""
    n, n_features = W.shape[0], W.shape[-1]
    fig, axes = pyplot().subplots(1, n, figsize=(1.7 * n + 1, 2.2), squeeze=False)
    cmap = pyplot().cm.viridis
    for k in range(n):
        ax = axes[0][k]
        for i in range(n_features):
            x, y = (float(v) for v in W[k, :, i])
            ax.plot([0, x], [0, y], color=cmap(i / max(n_features - 1, 1)), lw=1.5)
            ax.scatter([x], [y], color=cmap(i / max(n_features - 1, 1)), s=8)
        ax.set_xlim(-1.3, 1.3)
        ax.set_ylim(-1.3, 1.3)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"1-S={1 - sparsities[k]:.2g}", fontsize=8)
    return _save(fig, path)


def represented_vs_sparsity(
    inv_sparsity: Sequence[float], curves: dict[str, Sequence[int]], d_hidden: int, path: Path
) -> Path:
    """Number of features with ||W_i|| > 0.5 against 1/(1-S), one line per model."""
    fig, ax = pyplot().subplots(figsize=(4.5, 3))
    for label, counts in curves.items():
        ax.plot(inv_sparsity, counts, marker="o", label=label)
    ax.axhline(d_hidden, color="gray", ls="--", lw=1, label=f"d_hidden = {d_hidden}")
    ax.set_xscale("log")
    ax.set_xlabel("1 / (1 - S)")
    ax.set_ylabel("features represented")
    ax.legend(fontsize=8)
    return _save(fig, path)


def dimensionality_scatter(
    D: Tensor,
    inv_sparsity: Sequence[float],
    dims_per_feature: Tensor,
    fractions_found: dict[str, float],
    path: Path,
) -> Path:
    """Left: D_i of every feature against 1/(1-S), with the sticky fractions as lines and
    d_hidden/||W||_F^2 as a black curve. Right: histogram of D_i with the fractions marked."""
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(9, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    xs = torch.tensor(list(inv_sparsity))[:, None].expand_as(D)
    jitter = torch.exp(0.04 * torch.randn(D.shape, generator=torch.Generator().manual_seed(0)))
    left.scatter(
        (xs * jitter).flatten().numpy(), D.flatten().cpu().numpy(), s=3, alpha=0.35, color="tab:blue"
    )
    left.plot(
        list(inv_sparsity),
        dims_per_feature.cpu().numpy(),
        color="black",
        lw=1.5,
        label="d_hidden / ||W||_F^2",
    )
    for name, value in FRACTIONS:
        share = fractions_found.get(name, 0.0)
        left.axhline(value, color="tab:red", lw=0.6, ls=":")
        right.axvline(value, color="tab:red", lw=0.6, ls=":")
        left.text(max(inv_sparsity) * 1.15, value, f"{name} ({share:.0%})", fontsize=7, va="center")
    left.set_xscale("log")
    left.set_xlabel("1 / (1 - S)")
    left.set_ylabel("feature dimensionality D_i")
    left.set_ylim(-0.05, 1.1)
    left.legend(fontsize=7, loc="upper left")
    right.hist(D[D > 0.05].flatten().cpu().numpy(), bins=80, range=(0, 1.1), color="tab:blue")
    right.set_xlabel("D_i (represented features)")
    right.set_ylabel("count")
    return _save(fig, path)


def sae_recovery(cos: Tensor, truth: Tensor, directions: Tensor, path: Path) -> Path:
    """Left: max cosine similarity of each true feature with any decoder direction. Right:
    |cos| between every true feature (rows) and every decoder direction (columns)."""
    fig, (left, right) = pyplot().subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [2, 3]})
    left.bar(range(len(cos)), cos.cpu().numpy(), color="tab:green")
    left.axhline(0.9, color="gray", ls="--", lw=1)
    left.set_ylim(0, 1.05)
    left.set_xlabel("true feature")
    left.set_ylabel("max cos(decoder, feature)")
    a = truth / truth.norm(dim=-1, keepdim=True)
    b = directions / directions.norm(dim=-1, keepdim=True)
    sims = a @ b.T
    order = sims.argmax(0).argsort()
    right.imshow(sims[:, order].cpu().numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    right.set_xlabel("SAE latent (sorted by best feature)")
    right.set_ylabel("true feature")
    return _save(fig, path)


def angle_degrees(u: Tensor, v: Tensor) -> float:
    """The angle between two vectors, in degrees."""
    cos = float(u @ v / (u.norm() * v.norm()).clamp_min(1e-12))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))
