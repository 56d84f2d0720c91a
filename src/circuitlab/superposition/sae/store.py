"""Activations for SAE training, read from any hook of any circuitlab model.

``ActivationStore(model, hook_name, tokens)`` streams: it runs the model over token batches
(``tokens(i) -> int64 [batch, pos]``, or a [rows, pos] tensor read ``rows_per_read`` rows at a
time), keeps the activation at ``hook_name`` (the forward stops there), and mixes them in a
buffer of ``buffer_tokens`` vectors (the memory budget: ``buffer_tokens * d_in * 4`` bytes): the
buffer is shuffled, half of it is served in batches, then the unserved half is topped up with
fresh activations and shuffled again (SAELens's mixing buffer). ``state()`` (the next token batch
and the shuffling generator) lets a resumed run continue the stream where it stopped.

``collect_activations`` reads a whole set at once through ``run_with_cache``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

from circuitlab.errors import ConfigError, DataError, ShapeError
from circuitlab.hooks import HookedModule
from circuitlab.superposition.sae.train import check_finite_acts

TokenSource = Callable[[int], Tensor] | Tensor


class _StopForward(Exception):
    """Raised by the reading hook: nothing after the hook is needed."""


def read_hook(model: HookedModule, hook_name: str, tokens: Tensor) -> Tensor:
    """The activation at ``hook_name`` for ``tokens``, flattened to [n, d] (float32); the forward
    pass stops at the hook. A hook the model lacks raises HookNameError."""
    got: dict[str, Tensor] = {}

    def grab(act: Tensor, hook: Any) -> None:
        got["act"] = act.detach()
        raise _StopForward

    try:
        with torch.no_grad(), model.hooks([(hook_name, grab)]):
            model(tokens)
    except _StopForward:
        pass
    if "act" not in got:
        raise DataError(f"{hook_name!r} was not reached by the forward pass; pick a hook the model runs")
    act = got["act"]
    return act.reshape(-1, act.shape[-1]).float()


def collect_activations(model: HookedModule, hook_name: str, batches: Iterable[Any] | Tensor) -> Tensor:
    """The activation at ``hook_name`` for every batch, flattened to [n, d_in] (d_in = last axis).

    ``batches``: one input tensor, or an iterable of inputs (a tuple is unpacked as arguments)."""
    if isinstance(batches, Tensor):
        batches = [batches]
    acts = []
    with torch.no_grad():
        for batch in batches:
            args = batch if isinstance(batch, tuple) else (batch,)
            _, cache = model.run_with_cache(*args, names_filter=hook_name)
            act = cache[hook_name]
            acts.append(act.reshape(-1, act.shape[-1]).float())
    if not acts:
        raise DataError(f"no batches given to read {hook_name!r} from; pass at least one model input")
    return torch.cat(acts)


def _rows_source(rows: Tensor, per_read: int) -> Callable[[int], Tensor]:
    if rows.ndim != 2 or rows.is_floating_point():
        raise ShapeError(f"tokens: expected int64 [rows, pos], got {tuple(rows.shape)} ({rows.dtype})")

    def read(i: int) -> Tensor:
        idx = (torch.arange(per_read) + i * per_read) % rows.shape[0]
        return rows[idx]

    return read


class ActivationStore:
    """Shuffled batches of activations at ``hook_name`` of ``model``, streamed over ``tokens``.

    Under torchrun rank r of w reads token batches r, r + w, r + 2w, ...; ``d_in`` (if given) is
    checked against the hook's width on the first read."""

    def __init__(
        self,
        model: HookedModule,
        hook_name: str,
        tokens: TokenSource,
        buffer_tokens: int = 65536,
        batch_size: int = 1024,
        seed: int = 0,
        rows_per_read: int = 32,
        d_in: int | None = None,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        if buffer_tokens < 2 * batch_size:
            raise ConfigError(
                f"buffer_tokens={buffer_tokens} holds fewer than two batches of {batch_size}; "
                f"raise it to at least {2 * batch_size}"
            )
        self.model, self.hook_name, self.d_in = model, hook_name, d_in
        self.read = tokens if callable(tokens) else _rows_source(tokens, rows_per_read)
        self.capacity, self.batch_size = buffer_tokens, batch_size
        self.rank, self.world = rank, world
        self.next_read = 0
        self.gen = torch.Generator().manual_seed(seed)
        self.buffer: Tensor | None = None
        self.pos = self.serve_until = 0
        self.device = next(model.parameters()).device if any(True for _ in model.parameters()) else None

    def _read_vectors(self, n: int) -> Tensor:
        parts, got = [], 0
        while got < n:
            tokens = self.read(self.next_read * self.world + self.rank)
            if self.device is not None:
                tokens = tokens.to(self.device)
            act = read_hook(self.model, self.hook_name, tokens)
            self.next_read += 1
            if self.d_in is not None and act.shape[-1] != self.d_in:
                raise ShapeError(
                    f"{self.hook_name!r} gives vectors of width {act.shape[-1]} but the SAE has d_in={self.d_in}; "
                    f"set d_in={act.shape[-1]} (or read another hook)"
                )
            check_finite_acts(act, repr(self.hook_name))
            parts.append(act)
            got += act.shape[0]
        return torch.cat(parts)

    def _refill(self) -> None:
        keep = self.buffer[self.pos :] if self.buffer is not None else None
        fresh = self._read_vectors(self.capacity - (0 if keep is None else keep.shape[0]))
        buf = fresh if keep is None else torch.cat([keep, fresh])
        self.buffer = buf[torch.randperm(buf.shape[0], generator=self.gen).to(buf.device)]
        self.pos, self.serve_until = 0, max(buf.shape[0] // 2, self.batch_size)

    def next_batch(self) -> Tensor:
        """The next [batch_size, d_in] batch (refilling the buffer when half of it was served)."""
        if self.buffer is None or self.pos + self.batch_size > self.serve_until:
            self._refill()
        out = self.buffer[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return out

    def pool(self) -> Tensor:
        """The vectors now in the buffer (what dead-latent resampling draws from)."""
        if self.buffer is None:
            self._refill()
        return self.buffer

    def state(self) -> dict:
        """Where the stream is: the next token batch and the shuffling generator's state."""
        return {"next_read": self.next_read, "generator": self.gen.get_state().tolist()}

    def load_state(self, state: dict) -> None:
        """Continue from ``state()``; the buffer is refilled from there on the next batch."""
        self.next_read = int(state["next_read"])
        self.gen.set_state(torch.tensor(state["generator"], dtype=torch.uint8))
        self.buffer, self.pos, self.serve_until = None, 0, 0
