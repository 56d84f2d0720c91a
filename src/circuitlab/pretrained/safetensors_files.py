"""Reading Hugging Face safetensors weights, one tensor at a time, straight into their destination.

A safetensors file is an 8-byte little-endian header length n, n bytes of JSON mapping each name
to {dtype, shape, data_offsets: [begin, end]} (offsets into the data that follows), then the raw
little-endian tensor bytes. Only this format is ever opened: no pickle, no code. Each header is
checked (offsets inside the file, byte counts that match shape x dtype) before any tensor is read.

Tensors are views of a private (copy-on-write) memory map of the file, as safetensors' own loader
gives them: nothing is read until it is used, a tensor stored as the model needs it becomes a
parameter without a copy, and writing to a parameter (training, weight processing) copies only
the pages it touches; the file is never modified. ``read_tensor`` reads one tensor into memory
of its own instead (``readinto``, no map).
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from circuitlab.errors import CheckpointError

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
MAX_HEADER = 100 * 2**20


@dataclass(frozen=True)
class Entry:
    """Where one tensor lies: its file, dtype, shape and byte range in the file."""

    path: Path
    dtype: torch.dtype
    shape: tuple[int, ...]
    start: int
    end: int


def read_header(path: Path) -> dict[str, Entry]:
    """The tensors of one safetensors file, validated against the file's size."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
        if not 2 <= n <= min(MAX_HEADER, size - 8):
            raise CheckpointError(
                f"{path}: not a safetensors file (bad header length); re-download or re-save it"
            )
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise CheckpointError(f"{path}: corrupt safetensors header; re-download or re-save it") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: corrupt safetensors header; re-download or re-save it")
    header.pop("__metadata__", None)
    return {name: _entry(path, name, info, 8 + n, size) for name, info in header.items()}


def _entry(path: Path, name: str, info: object, data_start: int, size: int) -> Entry:
    try:
        dtype = DTYPES[info["dtype"]]
        shape = tuple(int(s) for s in info["shape"])
        begin, end = (int(o) for o in info["data_offsets"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(
            f"{path}: tensor {name!r} has an unreadable entry ({info!r:.80}); re-save the checkpoint"
        ) from None
    n_bytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    if min(shape, default=0) < 0 or end - begin != n_bytes or begin < 0 or data_start + end > size:
        raise CheckpointError(
            f"{path}: tensor {name!r} does not fit its bytes (truncated file?); re-download it"
        )
    return Entry(path, dtype, shape, data_start + begin, data_start + end)


def index_folder(files: list[Path]) -> dict[str, Entry]:
    """Every tensor of a (possibly sharded) checkpoint by name; a name in two shards is refused."""
    entries: dict[str, Entry] = {}
    for path in files:
        for name, entry in read_header(path).items():
            if name in entries:
                raise CheckpointError(f"tensor {name!r} is in both {entries[name].path.name} and {path.name}")
            entries[name] = entry
    return entries


class MappedFiles:
    """Each weight file mapped once (privately: writes never reach the file), viewed per tensor."""

    def __init__(self) -> None:
        self.maps: dict[Path, torch.Tensor] = {}

    def view(self, entry: Entry) -> torch.Tensor:
        """The tensor of ``entry`` as a view of its file's map (a copy when its offset is misaligned)."""
        itemsize = torch.empty((), dtype=entry.dtype).element_size()
        if entry.start % itemsize:
            return read_tensor(entry)
        if entry.path not in self.maps:
            size = entry.path.stat().st_size
            storage = torch.UntypedStorage.from_file(str(entry.path), shared=False, nbytes=size)
            self.maps[entry.path] = torch.empty(0, dtype=torch.uint8).set_(storage)
        raw = self.maps[entry.path][entry.start : entry.end]
        return (
            raw.view(entry.dtype).view(entry.shape)
            if raw.numel()
            else torch.empty(entry.shape, dtype=entry.dtype)
        )


def read_tensor(entry: Entry, out: torch.Tensor | None = None) -> torch.Tensor:
    """The tensor's bytes read into ``out`` (a contiguous CPU tensor of its dtype and shape) or new memory."""
    if out is None or out.dtype != entry.dtype or tuple(out.shape) != entry.shape or out.device.type != "cpu":
        out = torch.empty(entry.shape, dtype=entry.dtype)
    if entry.end > entry.start:
        view = memoryview(out.reshape(-1).view(torch.uint8).numpy())
        with open(entry.path, "rb") as f:
            f.seek(entry.start)
            if f.readinto(view) != entry.end - entry.start:
                raise CheckpointError(f"{entry.path}: file ended inside a tensor; re-download it")
    return out


__all__ = ["Entry", "MappedFiles", "index_folder", "read_header", "read_tensor"]
