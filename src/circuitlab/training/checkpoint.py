"""Checkpoints that cannot run code and survive a crash.

A checkpoint is a folder: ``checkpoint.json`` (format, model kind, config, step, file names with
their sha256, training state, its own checksum) beside ``model.safetensors``, optionally
``optimizer.safetensors`` (optimizer tensors and RNG state) and ``tokenizer.json``. Only
safetensors and JSON are ever read: a ``.pt``/pickle file is refused and ``torch.load`` and
``pickle`` are never called. Payload files are written to temporary files, fsynced and renamed
under names the current ``checkpoint.json`` does not use; the new ``checkpoint.json`` then
replaces the old one with one atomic rename. Until that rename the previous checkpoint is
intact; after it the new one is complete. Every file's checksum is verified on load.

Every circuitlab model is registered under a kind (transformer, mlp, rnn, lstm, vae, perceptron,
toy_model, sae) and rebuilt on load as ``ModelClass(ConfigClass.from_dict(config))`` before its
weights are loaded, so ``cl.load(cl.save(model, path))`` gives the same class, config and tensors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from circuitlab.data.tokenizer import Tokenizer, tokenizer_from_str
from circuitlab.errors import CheckpointError, CircuitlabError, DataError
from circuitlab.training.checkpoint_files import (
    CHECKPOINT_JSON,
    FORMAT,
    VERSION,
    _bad,
    _fsync_dir,
    _place,
    _read_file,
    _read_meta_or_none,
    _remove_unused,
    _tensors,
    _with_checksum,
    _write_file,
    checkpoint_folder,
    read_meta,
    read_tensors,
)

# kind -> (model class, config class): every circuitlab model is built as ModelClass(ConfigClass)
_REGISTRY: dict[str, tuple[Any, Any]] = {
    "transformer": (
        "circuitlab.transformer.model:Transformer",
        "circuitlab.transformer.config:TransformerConfig",
    ),
    "mlp": ("circuitlab.nets.mlp:MLP", "circuitlab.nets.mlp:MLPConfig"),
    "rnn": ("circuitlab.nets.rnn:RNN", "circuitlab.nets.rnn:RecurrentConfig"),
    "lstm": ("circuitlab.nets.lstm:LSTM", "circuitlab.nets.rnn:RecurrentConfig"),
    "vae": ("circuitlab.nets.vae:VAE", "circuitlab.nets.vae:VAEConfig"),
    "perceptron": ("circuitlab.nets.perceptron:Perceptron", "circuitlab.nets.perceptron:PerceptronConfig"),
    "toy_model": (
        "circuitlab.superposition.toy_model:ToyModel",
        "circuitlab.superposition.toy_model:ToyModelConfig",
    ),
    "sae": (
        "circuitlab.superposition.sae.model:SparseAutoencoder",
        "circuitlab.superposition.sae.config:SAEConfig",
    ),
}


def register_model(kind: str, model_cls: Any, config_cls: Any) -> None:
    """Let ``cl.save``/``cl.load`` handle ``model_cls(config_cls)`` under the name ``kind``.

    Classes may be given as ``"module:Name"`` strings, imported only when first needed.
    The config class needs ``to_dict()`` and a validating ``from_dict``.
    """
    _REGISTRY[kind] = (model_cls, config_cls)


def _import(ref: Any) -> Any:
    if not isinstance(ref, str):
        return ref
    module, name = ref.split(":")
    return getattr(import_module(module), name)


def kind_of(model: nn.Module) -> str | None:
    """The registered kind name of ``model``'s class, or None."""
    cls = type(model)
    for kind, (model_ref, _) in _REGISTRY.items():
        if model_ref is cls or model_ref == f"{cls.__module__}:{cls.__qualname__}":
            return kind
    return None


@dataclass(frozen=True)
class Checkpoint:
    """A loaded checkpoint: the model (on ``device``, eval mode), its tokenizer and metadata."""

    path: Path
    kind: str
    model: nn.Module
    config: Any
    step: int | None
    tokenizer: Tokenizer | None
    meta: dict[str, Any]


def optimizer_payload(optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split ``optimizer.state_dict()`` into tensors (for safetensors) and JSON (the rest)."""
    sd = optimizer.state_dict()
    tensors: dict[str, Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, Tensor):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    *,
    tokenizer: Tokenizer | None = None,
    step: int | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    train: dict[str, Any] | None = None,
) -> Path:
    """Write ``model`` (and optionally tokenizer, optimizer, training state) as a checkpoint folder.

    The previous checkpoint in ``path`` stays loadable until the new one is complete.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"checkpoint path {str(folder)!r} is a file; choose a folder (e.g. runs/model)")
    cfg = getattr(model, "cfg", None)
    meta: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind_of(model),
        "config": cfg.to_dict() if hasattr(cfg, "to_dict") else None,
        "step": step,
        "files": {},
        "train": train,
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        old = _read_meta_or_none(folder)
        in_use = {f["name"] for f in old["files"].values()} if old else set()
        payload = {"model": ("model.safetensors", _tensors(model.state_dict()))}
        if optimizer is not None:
            tensors, state_json = optimizer_payload(optimizer)
            payload["optimizer"] = ("optimizer.safetensors", _tensors(tensors))
            meta["optimizer"] = state_json
        if tokenizer is not None:
            payload["tokenizer"] = ("tokenizer.json", tokenizer.to_str().encode("utf-8"))
        for role, (name, data) in payload.items():
            meta["files"][role] = _place(folder, name, data, in_use)
        _fsync_dir(folder)
        _write_file(folder, CHECKPOINT_JSON, json.dumps(_with_checksum(meta), indent=1).encode())
        _fsync_dir(folder)
    except OSError as err:
        raise CheckpointError(
            f"could not write checkpoint to {folder} ({err.strerror or err}); free disk space or "
            "choose another folder; the previous checkpoint there is unchanged"
        ) from err
    _remove_unused(folder, in_use, {f["name"] for f in meta["files"].values()})
    return folder


def save(model: nn.Module, path: str | Path, tokenizer: Tokenizer | None = None) -> Path:
    """``cl.save``: write a registered model (and its tokenizer) as a safetensors + JSON folder."""
    if kind_of(model) is None:
        raise CheckpointError(
            f"cl.save: {type(model).__name__} is not a registered model kind; call "
            "circuitlab.training.register_model(kind, ModelClass, ConfigClass) first"
        )
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)  # the model's own
    return save_checkpoint(path, model, tokenizer=tokenizer)


def _load_weights(model: nn.Module, folder: Path, meta: dict[str, Any]) -> None:
    cfg = getattr(model, "cfg", None)
    if hasattr(cfg, "to_dict") and meta.get("config") is not None and cfg.to_dict() != meta["config"]:
        diff = sorted(
            k
            for k in set(meta["config"]) | set(cfg.to_dict())
            if meta["config"].get(k) != cfg.to_dict().get(k)
        )
        shown = ", ".join(
            f"{k}: checkpoint {meta['config'].get(k)!r} vs model {cfg.to_dict().get(k)!r}" for k in diff[:4]
        )
        raise CheckpointError(
            f"checkpoint {folder} is of a different config ({shown}); build the model "
            "with the checkpoint's config, or use another folder"
        )
    try:
        model.load_state_dict(read_tensors(folder, meta, "model"), strict=True)
    except RuntimeError as err:
        raise CheckpointError(
            f"checkpoint {folder} does not fit {type(model).__name__} "
            f"({str(err).splitlines()[0]}); use a checkpoint of this model"
        ) from None


def _tokenizer(folder: Path, meta: dict[str, Any]) -> Tokenizer | None:
    if "tokenizer" not in meta["files"]:
        return None
    data = _read_file(folder, meta, "tokenizer")
    try:
        return tokenizer_from_str(data.decode("utf-8"), str(folder / meta["files"]["tokenizer"]["name"]))
    except (DataError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{err}; restore the tokenizer file or save the checkpoint again") from None


def read_tokenizer(path: str | Path) -> Tokenizer | None:
    """The tokenizer saved with a checkpoint (schema and checksum checked), or None."""
    folder = checkpoint_folder(path)
    return _tokenizer(folder, read_meta(folder))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild a registered model from a checkpoint folder, with its tokenizer when saved."""
    folder = checkpoint_folder(path)
    meta = read_meta(folder)
    kind = meta.get("kind")
    if kind not in _REGISTRY:
        raise CheckpointError(
            f"checkpoint {folder} holds model kind {kind!r}, which is not registered; "
            f"known kinds: {sorted(_REGISTRY)} (see register_model)"
        )
    model_cls, config_cls = (_import(ref) for ref in _REGISTRY[kind])
    try:
        config = config_cls.from_dict(meta.get("config"))
    except CircuitlabError as err:
        raise _bad(folder, f"holds an invalid config ({err})") from None
    model = model_cls(config)
    _load_weights(model, folder, meta)
    tokenizer = _tokenizer(folder, meta)
    if tokenizer is not None and hasattr(model, "tokenizer"):  # a Transformer reads and writes text with it
        model.tokenizer = tokenizer
    return Checkpoint(folder, kind, model.to(device).eval(), config, meta.get("step"), tokenizer, meta)


def load(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """``cl.load``: the model saved at ``path`` (safetensors + JSON only, checksums verified)."""
    return load_checkpoint(path, device).model


def restore_training_state(
    path: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer | None = None
) -> dict[str, Any]:
    """Load weights, optimizer state and RNG state in place; return the checkpoint's JSON."""
    folder = checkpoint_folder(path)
    meta = read_meta(folder)
    _load_weights(model, folder, meta)
    if optimizer is not None:
        if "optimizer" not in meta["files"] or "optimizer" not in meta:
            raise CheckpointError(f"checkpoint {folder} holds no optimizer state; it cannot be resumed")
        tensors = read_tensors(folder, meta, "optimizer")
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith("optim."):
                _, idx, name = key.split(".", 2)
                state.setdefault(int(idx), {})[name] = value
        for idx, scalars in meta["optimizer"]["scalars"].items():
            state.setdefault(int(idx), {}).update(scalars)
        try:
            optimizer.load_state_dict({"state": state, "param_groups": meta["optimizer"]["param_groups"]})
        except (ValueError, KeyError, RuntimeError) as err:
            raise CheckpointError(
                f"checkpoint {folder}: optimizer state does not fit ({err}); "
                "resume with the same model and optimizer settings"
            ) from None
        torch.set_rng_state(tensors["rng.cpu"])
        cuda = sorted(k for k in tensors if k.startswith("rng.cuda."))
        if cuda and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([tensors[k] for k in cuda])
    return meta
