"""SAELens's folder layout, read and written without importing SAELens.

A folder holds ``cfg.json`` (``architecture`` "standard" | "topk" | "jumprelu", ``d_in``,
``d_sae``, ``k``, ``apply_b_dec_to_input``, ``normalize_activations``, ``metadata.hook_name`` ...),
``sae_weights.safetensors`` (``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``, ``b_enc [d_sae]``,
``b_dec [d_in]``, and ``threshold [d_sae]`` for JumpReLU) and optionally
``sparsity.safetensors`` (``sparsity``: log10 of each latent's firing frequency). SAELens's
"standard" SAE is circuitlab's ReLU SAE; the weights mean the same on both sides, so latents agree.

Reading also folds two SAELens options into the weights: ``apply_b_dec_to_input = false``
(b_enc += b_dec W_enc) and a TopK SAE's ``rescale_acts_by_decoder_norm`` (W_enc, b_enc scaled
by ||W_dec[j]||, W_dec rows normalised), as SAELens itself folds them. ``normalize_activations``
other than "none" and ``hook_z`` reshaping are refused by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load, save
from torch import Tensor

from circuitlab.errors import CheckpointError, ConfigError
from circuitlab.files import atomic_write, atomic_write_json
from circuitlab.superposition.sae import SAEConfig, SparseAutoencoder

CFG, WEIGHTS, SPARSITY = "cfg.json", "sae_weights.safetensors", "sparsity.safetensors"
TO_SAELENS = {"relu": "standard", "topk": "topk", "jumprelu": "jumprelu"}
FROM_SAELENS = {v: k for k, v in TO_SAELENS.items()}
LAYOUT_VERSION = "6.0.0"  # SAELens >= 6 reads this layout without converting it


def save_saelens(sae: SparseAutoencoder, folder: str | Path, density: Tensor | None = None) -> Path:
    """Write ``sae`` as a SAELens folder; ``density`` ([d_sae] firing frequencies) becomes
    ``sparsity.safetensors`` as log10(density + 1e-10), SAELens's convention."""
    folder, cfg = Path(folder), sae.cfg
    doc = {
        "architecture": TO_SAELENS[cfg.architecture],
        "d_in": cfg.d_in,
        "d_sae": cfg.n_latents,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        "metadata": {
            "sae_lens_version": LAYOUT_VERSION,
            "hook_name": cfg.hook_name,
            "circuitlab": cfg.to_dict(),
        },
    }
    if cfg.architecture == "topk":
        doc.update(k=cfg.k, rescale_acts_by_decoder_norm=False)
    weights = {
        name: getattr(sae, name).detach().float().cpu().contiguous()
        for name in ("W_enc", "W_dec", "b_enc", "b_dec")
    }
    if cfg.architecture == "jumprelu":
        weights["threshold"] = sae.threshold.detach().float().cpu().contiguous()
    atomic_write(folder / WEIGHTS, save(weights))
    if density is not None:
        log_density = torch.log10(density.detach().float().cpu() + 1e-10).contiguous()
        atomic_write(folder / SPARSITY, save({"sparsity": log_density}))
    atomic_write_json(folder / CFG, doc)
    return folder


def _read(folder: Path) -> tuple[dict, dict[str, Tensor]]:
    try:
        doc = json.loads((folder / CFG).read_text())
        weights = load((folder / WEIGHTS).read_bytes())
    except FileNotFoundError as err:
        raise CheckpointError(
            f"{err.filename} is missing; a SAELens folder holds {CFG} and {WEIGHTS}"
        ) from None
    except (ValueError, OSError) as err:
        raise CheckpointError(f"{folder} is not a readable SAELens folder ({err}); save it again") from None
    arch = doc.get("architecture", "standard")
    if arch not in FROM_SAELENS:
        raise ConfigError(
            f"{folder / CFG}: architecture {arch!r} has no circuitlab counterpart; circuitlab reads "
            f"{', '.join(FROM_SAELENS)}"
        )
    for key, ok in (("normalize_activations", "none"), ("reshape_activations", "none")):
        if doc.get(key, "none") not in (ok, None, False):
            raise ConfigError(
                f"{folder / CFG}: {key}={doc[key]!r} is not supported; fold it into the weights first"
            )
    return doc, {k: v.float() for k, v in weights.items()}


def _config(doc: dict) -> SAEConfig:
    arch, d_in, d_sae = FROM_SAELENS[doc.get("architecture", "standard")], int(doc["d_in"]), int(doc["d_sae"])
    meta = doc.get("metadata") or {}
    ours = meta.get("circuitlab")
    if isinstance(ours, dict):
        cfg = SAEConfig.from_dict(ours)
        if (cfg.architecture, cfg.d_in, cfg.n_latents) == (arch, d_in, d_sae):
            return cfg
    size = {"expansion": d_sae // d_in} if d_sae % d_in == 0 else {"d_sae": d_sae}
    extra = {"k": int(doc["k"])} if arch == "topk" else {}
    return SAEConfig(d_in=d_in, architecture=arch, hook_name=meta.get("hook_name") or None, **size, **extra)


def _fold(doc: dict, w: dict[str, Tensor]) -> None:
    """SAELens options as plain weights (in place)."""
    if doc.get("apply_b_dec_to_input", True) is False:
        w["b_enc"] = w["b_enc"] + w["b_dec"] @ w["W_enc"]
    if doc.get("architecture") == "topk" and doc.get("rescale_acts_by_decoder_norm", False):
        norm = w["W_dec"].norm(dim=-1).clamp_min(1e-8)
        w["W_enc"], w["b_enc"], w["W_dec"] = w["W_enc"] * norm, w["b_enc"] * norm, w["W_dec"] / norm[:, None]


def load_saelens(folder: str | Path) -> SparseAutoencoder:
    """A circuitlab SparseAutoencoder from a SAELens folder (float32, on the CPU)."""
    folder = Path(folder)
    doc, w = _read(folder)
    _fold(doc, w)
    sae = SparseAutoencoder(_config(doc))
    if sae.cfg.architecture == "jumprelu":
        if "threshold" not in w:
            raise CheckpointError(f"{folder / WEIGHTS} has no 'threshold'; a JumpReLU SAE needs one")
        w["log_threshold"] = w.pop("threshold").log()
    try:
        sae.load_state_dict(w, strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"{folder / WEIGHTS} does not fit its cfg.json ({str(err).splitlines()[0]})"
        ) from None
    return sae.eval()


def load_saelens_sparsity(folder: str | Path) -> Tensor | None:
    """``sparsity.safetensors``'s log10 firing frequencies [d_sae], or None when the folder has none."""
    path = Path(folder) / SPARSITY
    return load(path.read_bytes())["sparsity"] if path.is_file() else None
