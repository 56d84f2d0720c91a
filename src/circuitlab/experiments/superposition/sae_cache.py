"""SAEs trained once per run folder: the same activations and config reload the same SAE.

``cached_train(ctx, name)`` returns a function with ``train_sae_on_activations``'s signature that
first looks in ``<run>/checkpoints/sae_<name>_<key>`` (key: sha256 of the activations' bytes and
the config's JSON) and otherwise trains and saves there (``cl.save`` plus ``train.json`` with the
loss history). Two claims that train the same SAE (sae_transformer and sae_topk_vs_relu) train it
once; ``ctx.fresh`` trains again. A reloaded SAE's metrics are recomputed on the activations,
which is what training reports, so a claim's numbers do not depend on the cache.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

import torch
from torch import Tensor

from circuitlab.errors import CheckpointError
from circuitlab.experiments.base import RunContext
from circuitlab.files import atomic_write_json
from circuitlab.superposition.sae import SAEConfig, SAETrainResult, evaluate_sae, train_sae_on_activations
from circuitlab.training import load, save

Train = Callable[[Tensor, SAEConfig, str | None], SAETrainResult]


def _key(acts: Tensor, cfg: SAEConfig) -> str:
    h = hashlib.sha256(acts.detach().cpu().contiguous().numpy().tobytes())
    h.update(json.dumps(cfg.to_dict(), sort_keys=True).encode())
    return h.hexdigest()[:16]


def cached_train(ctx: RunContext, name: str) -> Train:
    def train(acts: Tensor, cfg: SAEConfig, hook_name: str | None = None) -> SAETrainResult:
        folder = ctx.path("checkpoints", f"sae_{name}_{_key(acts, cfg)}")
        if not ctx.fresh and (folder / "train.json").is_file():
            try:
                sae = load(folder, device=acts.device)
                doc = json.loads((folder / "train.json").read_text())
                with torch.no_grad():
                    metrics = evaluate_sae(sae, acts)
                return SAETrainResult(sae, metrics, doc["loss_history"], doc["resampled"], 0.0, hook_name)
            except (CheckpointError, ValueError, KeyError):
                pass  # a damaged cache is trained again
        result = train_sae_on_activations(acts, cfg, hook_name=hook_name)
        save(result.sae, folder)
        atomic_write_json(
            folder / "train.json", {"loss_history": result.loss_history, "resampled": result.resampled}
        )
        return result

    return train
