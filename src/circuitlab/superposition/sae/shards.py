"""Activations stored on disk for reuse: safetensors shards beside a JSON manifest.

``write_shards(store, folder, n_tokens)`` writes ``n_tokens`` vectors from an ActivationStore as
``shard_00000.safetensors`` ... (one tensor ``activations`` [rows, d_in] each, at most
``shard_tokens`` rows) and ``shards.json`` (format, hook name, d_in, each shard's name and rows),
every file written atomically. ``ShardStore(folder)`` serves shuffled batches from them, one shard
in memory at a time (shards in a new random order every pass), with the ActivationStore's
``next_batch``/``pool``/``state`` interface, so training reads either alike; its ``state`` is
exact, so a run resumed on shards takes the same batches as one never stopped.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load, save
from torch import Tensor

from circuitlab.errors import DataError
from circuitlab.files import atomic_write, atomic_write_json

FORMAT = "circuitlab.activations/1"
MANIFEST = "shards.json"


def write_shards(store, folder: str | Path, n_tokens: int, shard_tokens: int = 65536) -> Path:
    """Write ``n_tokens`` activation vectors from ``store`` (batches of ``store.batch_size``) as shards."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shards, parts, rows, written = [], [], 0, 0

    def flush() -> None:
        nonlocal parts, rows
        name = f"shard_{len(shards):05d}.safetensors"
        atomic_write(folder / name, save({"activations": torch.cat(parts).contiguous().cpu()}))
        shards.append({"name": name, "rows": rows})
        parts, rows = [], 0

    while written < n_tokens:
        batch = store.next_batch()[: n_tokens - written]
        parts.append(batch)
        rows += batch.shape[0]
        written += batch.shape[0]
        if rows >= shard_tokens:
            flush()
    if parts:
        flush()
    d_in = int(load((folder / shards[0]["name"]).read_bytes())["activations"].shape[-1])
    manifest = {"format": FORMAT, "hook_name": store.hook_name, "d_in": d_in, "shards": shards}
    atomic_write_json(folder / MANIFEST, manifest)
    return folder


class ShardStore:
    """Shuffled [batch_size, d_in] batches from the shards in ``folder``."""

    def __init__(self, folder: str | Path, batch_size: int = 1024, seed: int = 0) -> None:
        self.folder = Path(folder)
        path = self.folder / MANIFEST
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise DataError(f"{path} is missing or not JSON ({err}); write it with write_shards") from None
        if manifest.get("format") != FORMAT or not manifest.get("shards"):
            raise DataError(f"{path} is not a circuitlab activation manifest; write it with write_shards")
        self.hook_name, self.d_in = manifest["hook_name"], int(manifest["d_in"])
        self.names = [s["name"] for s in manifest["shards"]]
        self.batch_size = batch_size
        self.gen = torch.Generator().manual_seed(seed)
        self.order: list[int] = []
        self.buffer: Tensor | None = None
        self.pos = self.current = 0
        self.shard_gen = self.gen.get_state()

    def _load_next(self, index: int | None = None) -> None:
        """Load shard ``index`` (default: the next of this pass) and shuffle its rows."""
        if index is None:
            if not self.order:
                self.order = torch.randperm(len(self.names), generator=self.gen).tolist()
            index = self.order.pop(0)
        self.current, self.shard_gen = index, self.gen.get_state()
        name = self.names[index]
        try:
            acts = load((self.folder / name).read_bytes())["activations"].float()
        except (OSError, KeyError, ValueError) as err:
            raise DataError(
                f"shard {self.folder / name} cannot be read ({err}); write the shards again"
            ) from None
        self.buffer = acts[torch.randperm(acts.shape[0], generator=self.gen)]
        self.pos = 0

    def next_batch(self) -> Tensor:
        """The next batch; a shard smaller than a batch is served whole."""
        if self.buffer is None or self.pos + self.batch_size > self.buffer.shape[0]:
            self._load_next()
        out = self.buffer[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return out

    def pool(self) -> Tensor:
        if self.buffer is None:
            self._load_next()
        return self.buffer

    def state(self) -> dict:
        """The shard being served, its position, the shards left this pass and the generator state
        its rows were shuffled with: ``load_state`` continues exactly where this store was."""
        if self.buffer is None:
            return {"order": self.order, "generator": self.gen.get_state().tolist()}
        shard = {"current": self.current, "pos": self.pos, "shard_generator": self.shard_gen.tolist()}
        return {"order": self.order, "generator": self.gen.get_state().tolist(), **shard}

    def load_state(self, state: dict) -> None:
        self.order = [int(i) for i in state["order"]]
        self.buffer, self.pos = None, 0
        if "current" in state:
            self.gen.set_state(torch.tensor(state["shard_generator"], dtype=torch.uint8))
            self._load_next(int(state["current"]))
            self.pos = int(state["pos"])
        self.gen.set_state(torch.tensor(state["generator"], dtype=torch.uint8))
