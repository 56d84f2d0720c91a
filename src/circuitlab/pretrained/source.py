"""Where a pretrained model's files are, and the checks made before any weight is read.

A model is a local Hugging Face folder (``config.json`` + ``*.safetensors``, sharded with
``model.safetensors.index.json`` or not, and usually ``tokenizer.json``) or a hub name looked up
in the local Hugging Face cache through ``huggingface_hub`` (downloaded, safetensors and JSON
only, when there is a network). Only safetensors are read: a folder whose weights are pickles
(``pytorch_model.bin``, ``*.pt``, ``*.ckpt``) is refused by file name, and the pickle is never
opened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from circuitlab.errors import CheckpointError, ConfigError

PICKLE_GLOBS = ("pytorch_model*.bin", "*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")
HUB_PATTERNS = ["*.json", "*.safetensors", "tokenizer*"]
INSTALL_HINT = "pip install 'circuitlab[pretrained]'"
MAX_JSON_BYTES = 64 * 2**20


@dataclass(frozen=True)
class ModelFolder:
    """A checked Hugging Face model folder: its config.json and its safetensors files."""

    path: Path
    config: dict[str, Any]
    weights: tuple[Path, ...]


def read_json(path: Path, what: str) -> Any:
    if path.stat().st_size > MAX_JSON_BYTES:
        raise CheckpointError(f"{path}: {path.stat().st_size} bytes is too large for a {what}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not a valid JSON {what} ({err}); re-download the model") from None


def resolve(name_or_path: str | Path, revision: str | None = None) -> Path:
    """A local folder as given, else the hub name's snapshot folder in the Hugging Face cache."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{path} is a file; give the folder that holds config.json and *.safetensors")
    name = str(name_or_path)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise CheckpointError(
            f"no folder {name!r}; give a Hugging Face model folder or a hub name like 'gpt2'"
        )
    return hub_snapshot(name, revision)


def hub_snapshot(name: str, revision: str | None) -> Path:
    """The cached snapshot of hub model ``name`` (safetensors and JSON only), downloaded if missing."""
    try:
        import huggingface_hub
    except ImportError:
        raise ConfigError(
            f"{name!r} is not a local folder, and looking it up by name needs huggingface_hub: {INSTALL_HINT}"
        ) from None
    kwargs = dict(repo_id=name, revision=revision, allow_patterns=HUB_PATTERNS)
    try:
        return Path(huggingface_hub.snapshot_download(**kwargs, local_files_only=True))
    except Exception:  # not cached (or only partly): ask the hub
        pass
    try:
        return Path(huggingface_hub.snapshot_download(**kwargs))
    except Exception as err:
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"{name!r} is not a local folder, not in the local Hugging Face cache, and the hub did not "
            f"provide it ({type(err).__name__}: {reason}); download it where there is a network or pass a folder"
        ) from None


def pickle_files(folder: Path) -> list[Path]:
    """Pickle weight files in ``folder``, found by name only (never opened)."""
    return sorted({p for pattern in PICKLE_GLOBS for p in folder.glob(pattern) if p.is_file()})


def safetensors_files(folder: Path) -> tuple[Path, ...]:
    """The weight files: those the shard index names, else every ``*.safetensors`` in the folder."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = read_json(index, "safetensors index").get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise CheckpointError(f"{index}: no weight_map; re-download the model")
        files = tuple(folder / name for name in sorted(set(weight_map.values())))
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise CheckpointError(
                f"{folder}: shard {missing[0]} named by {index.name} is missing; re-download it"
            )
        return files
    return tuple(sorted(folder.glob("*.safetensors")))


def open_folder(folder: Path) -> ModelFolder:
    """Check ``folder`` is a Hugging Face model with safetensors weights, and read its config."""
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise CheckpointError(
            f"{folder}: no config.json; a Hugging Face model folder holds config.json and *.safetensors"
        )
    config = read_json(config_path, "model config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{config_path}: a model config must be a JSON object")
    weights = safetensors_files(folder)
    if not weights:
        pickles = pickle_files(folder)
        if pickles:
            raise CheckpointError(
                f"{folder}: refusing {pickles[0].name} (a pickle: loading it can run arbitrary code); circuitlab "
                "reads only safetensors: convert it to model.safetensors first (save_pretrained(..., "
                "safe_serialization=True) in a sandbox you trust, or the hub's safetensors conversion)"
            )
        raise CheckpointError(f"{folder}: no *.safetensors weights next to config.json")
    return ModelFolder(folder, config, weights)


__all__ = ["ModelFolder", "open_folder", "pickle_files", "resolve"]
