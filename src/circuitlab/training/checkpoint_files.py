"""The files of a checkpoint folder: atomic writes, checksums, and reads that refuse pickles.

Every payload is written with ``circuitlab.files.atomic_write`` (a temporary file, flushed,
fsynced and renamed; tests replace ``circuitlab.files._write_bytes`` to simulate a full disk);
``checkpoint.json`` names each file with its sha256, and reading verifies it. Nothing here ever
unpickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import Tensor

from circuitlab.errors import CheckpointError
from circuitlab.files import atomic_write

CHECKPOINT_JSON = "checkpoint.json"
FORMAT, VERSION = "circuitlab.checkpoint", 1
PICKLE_SUFFIXES = frozenset({".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib"})
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_HASHED_NAME = re.compile(r"^(model|optimizer|tokenizer)-[0-9a-f]{12}\.(safetensors|json)$")
_TMP_NAME = re.compile(r"^\.(model|optimizer|tokenizer|checkpoint)[-.].*\.tmp$")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_file(folder: Path, name: str, data: bytes) -> None:
    """Write ``folder / name`` through the one atomic-write helper (temporary file, fsync, rename)."""
    atomic_write(folder / name, data)


def _place(folder: Path, preferred: str, data: bytes, in_use: set[str]) -> dict[str, str]:
    """Write ``data`` under ``preferred`` unless the live checkpoint uses that name for other bytes."""
    digest = _sha256(data)
    target = folder / preferred
    name = preferred
    if preferred in in_use or target.exists():
        if target.is_file() and _sha256(target.read_bytes()) == digest:
            return {"name": preferred, "sha256": digest}
        stem, dot, ext = preferred.partition(".")
        name = f"{stem}-{digest[:12]}{dot}{ext}"
    if not (folder / name).is_file() or _sha256((folder / name).read_bytes()) != digest:
        _write_file(folder, name, data)
    return {"name": name, "sha256": digest}


def _fsync_dir(folder: Path) -> None:
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _with_checksum(meta: dict[str, Any]) -> dict[str, Any]:
    body = {k: v for k, v in meta.items() if k != "json_sha256"}
    return {**body, "json_sha256": _sha256(json.dumps(body, sort_keys=True).encode())}


def _tensors(state: dict[str, Tensor]) -> bytes:
    return save_safetensors({k: v.detach().cpu().contiguous().clone() for k, v in state.items()})


def _remove_unused(folder: Path, old: set[str], new: set[str]) -> None:
    for entry in folder.iterdir():
        name = entry.name
        if name not in new and (name in old or _HASHED_NAME.match(name) or _TMP_NAME.match(name)):
            entry.unlink(missing_ok=True)


def _refuse_pickle(path: Path) -> None:
    if path.is_dir():
        return
    head = b""
    if path.is_file():
        with open(path, "rb") as f:
            head = f.read(4)
    if (
        path.suffix.lower() in PICKLE_SUFFIXES
        or head[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
        or head == b"PK\x03\x04"
    ):
        raise CheckpointError(
            f"{path}: refusing a pickle/torch file (unpickling can run arbitrary code); circuitlab "
            "loads only safetensors + JSON checkpoints written by cl.save or circuitlab train"
        )


def checkpoint_folder(path: str | Path) -> Path:
    """The checkpoint folder that ``path`` names (the folder, its checkpoint.json or a weights file)."""
    p = Path(path).expanduser()
    _refuse_pickle(p)
    if not p.exists():
        raise CheckpointError(
            f"checkpoint {str(p)!r} does not exist; pass a folder written by cl.save "
            "or by circuitlab train --out"
        )
    if p.is_file():
        if p.name != CHECKPOINT_JSON and p.suffix != ".safetensors":
            raise CheckpointError(
                f"{p} is not a circuitlab checkpoint; pass the folder holding {CHECKPOINT_JSON}"
            )
        p = p.parent
    if not (p / CHECKPOINT_JSON).is_file():
        raise CheckpointError(
            f"{p} holds no {CHECKPOINT_JSON}; pass a folder written by cl.save or by circuitlab train --out"
        )
    return p


def _bad(folder: Path, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {folder / CHECKPOINT_JSON} {why}; restore the folder from a good "
        "copy or save/train it again"
    )


def read_meta(path: str | Path) -> dict[str, Any]:
    """The checkpoint's JSON, validated against the schema and its own checksum."""
    folder = checkpoint_folder(path)
    try:
        meta = json.loads((folder / CHECKPOINT_JSON).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _bad(folder, "is not valid JSON (truncated or changed)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise _bad(folder, f"is not a {FORMAT} file")
    if meta.get("version") != VERSION:
        raise _bad(folder, f"has version {meta.get('version')!r}; this circuitlab reads version {VERSION}")
    if _with_checksum(meta).get("json_sha256") != meta.get("json_sha256"):
        raise _bad(folder, "fails its checksum (the file was truncated or changed)")
    files = meta.get("files")
    if (
        not isinstance(files, dict)
        or "model" not in files
        or not all(
            isinstance(f, dict)
            and isinstance(f.get("name"), str)
            and _SAFE_NAME.match(f["name"])
            and isinstance(f.get("sha256"), str)
            for f in files.values()
        )
    ):
        raise _bad(folder, "has a malformed 'files' table")
    step = meta.get("step")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step < 0):
        raise _bad(folder, f"has step={step!r}")
    return meta


def _read_meta_or_none(folder: Path) -> dict[str, Any] | None:
    try:
        return read_meta(folder) if (folder / CHECKPOINT_JSON).is_file() else None
    except CheckpointError:
        return None


def _read_file(folder: Path, meta: dict[str, Any], role: str) -> bytes:
    entry = meta["files"][role]
    path = folder / entry["name"]
    if not path.is_file():
        raise CheckpointError(f"checkpoint file {path} is missing; restore it or save the checkpoint again")
    data = path.read_bytes()
    if _sha256(data) != entry["sha256"]:
        raise CheckpointError(
            f"checkpoint file {path} fails its sha256 checksum (truncated or changed); "
            "restore it from a good copy or resume from an earlier checkpoint"
        )
    return data


def read_tensors(folder: Path, meta: dict[str, Any], role: str) -> dict[str, Tensor]:
    """The verified tensors of ``role`` ("model" or "optimizer"); never unpickles."""
    try:
        return load_safetensors(_read_file(folder, meta, role))
    except CheckpointError:
        raise
    except Exception as err:  # safetensors' own parse errors, reworded with the path
        raise CheckpointError(
            f"{folder / meta['files'][role]['name']} is not a valid safetensors file "
            f"({str(err).splitlines()[0]}); restore it or save again"
        ) from None
