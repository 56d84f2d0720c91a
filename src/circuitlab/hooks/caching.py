"""TransformerLens's caching-hook API, mixed into every HookedModule.

``run_with_cache`` is the usual way to keep activations; these hand out the hooks themselves:

    get_caching_hooks(...) -> (cache, fwd_hooks, bwd_hooks)   for ``model.hooks(...)`` / ``run_with_hooks``
    add_caching_hooks(...) -> cache      attaches them until ``reset_hooks()``; every forward fills ``cache``
    cache_all(cache, ...), cache_some(cache, names, ...)      deprecated spellings of ``add_caching_hooks``
    list_hooks(...) -> {name: [LensHandle, ...]}               what is attached, by hook point
    is_caching                            True from a caching-hook call until ``reset_hooks()``

``cache`` is a plain dict, hook name -> detached activation (``"{name}_grad"`` for gradients),
filled by the last forward (and backward) that ran with the hooks on. The forward hooks are
``ReadsOnly``, so the model keeps its fused kernels.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch
from torch import Tensor

from circuitlab.errors import ShapeError
from circuitlab.hooks.handles import LensHandle, ReadsOnly
from circuitlab.hooks.hook_point import HookPoint, check_dir
from circuitlab.hooks.slice import Slice

HEAD_VECTORS = ("hook_q", "hook_k", "hook_v", "hook_z", "hook_result")  # [..., pos, n_heads, d]
Hooks = list[tuple[str, Callable[..., Any]]]


class CachingHooks:
    """``get_caching_hooks``, ``add_caching_hooks``, ``cache_all``, ``cache_some``, ``list_hooks``
    and ``is_caching`` (TransformerLens's ``HookedRootModule`` names and arguments)."""

    is_caching: bool = False

    def cache_selection(self, names_filter: Any) -> list[str]:
        """The hook names a caching ``names_filter`` keeps (None: all). A model with optional hook
        points (the Transformer) narrows None and predicates to what TransformerLens would fill."""
        return self._select(names_filter, self.hook_dict)

    def get_caching_hooks(
        self,
        names_filter: Any = None,
        incl_bwd: bool = False,
        device: str | torch.device | None = None,
        remove_batch_dim: bool = False,
        cache: dict[str, Tensor] | None = None,
        pos_slice: Any = None,
        *,
        cache_dtype: torch.dtype | None = None,
    ) -> tuple[dict[str, Tensor], Hooks, Hooks]:
        """(cache, fwd_hooks, bwd_hooks): hooks that store each selected activation (and, with
        ``incl_bwd``, its gradient as ``"{name}_grad"``) in ``cache``, not yet attached.

        Stored tensors are detached, moved to ``device`` and cast to ``cache_dtype`` when given;
        ``remove_batch_dim`` keeps ``act[0]`` of a batch of one (another batch size raises
        ``ShapeError``); ``pos_slice`` keeps those positions (axis -3 for q, k, v, z, result)."""
        cache = {} if cache is None else cache
        keep = saver(cache, device, cache_dtype, Slice.unwrap(pos_slice), remove_batch_dim)
        names = self.cache_selection(names_filter)
        self.is_caching = True
        read = ReadsOnly(keep)
        fwd = [(name, read) for name in names]
        bwd = [(name, _grad_saver(keep)) for name in names] if incl_bwd else []
        return cache, fwd, bwd

    def add_caching_hooks(
        self,
        names_filter: Any = None,
        incl_bwd: bool = False,
        device: str | torch.device | None = None,
        remove_batch_dim: bool = False,
        cache: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """Attach ``get_caching_hooks``'s hooks (not permanent, no context level: ``reset_hooks()``
        removes them) and return the dict they fill on every forward."""
        cache, fwd, bwd = self.get_caching_hooks(names_filter, incl_bwd, device, remove_batch_dim, cache)
        points = self.hook_dict
        for dir, hooks in (("fwd", fwd), ("bwd", bwd)):
            for name, fn in hooks:
                points[name].add_hook(fn, dir=dir)
        return cache

    def cache_all(
        self,
        cache: dict[str, Tensor] | None,
        incl_bwd: bool = False,
        device: str | torch.device | None = None,
        remove_batch_dim: bool = False,
    ) -> dict[str, Tensor]:
        """Deprecated (as in TransformerLens): ``add_caching_hooks(None, ...)``."""
        _deprecated("cache_all")
        return self.add_caching_hooks(None, incl_bwd, device, remove_batch_dim, cache)

    def cache_some(
        self,
        cache: dict[str, Tensor] | None,
        names: Any,
        incl_bwd: bool = False,
        device: str | torch.device | None = None,
        remove_batch_dim: bool = False,
    ) -> dict[str, Tensor]:
        """Deprecated (as in TransformerLens): ``add_caching_hooks(names, ...)``."""
        _deprecated("cache_some")
        return self.add_caching_hooks(names, incl_bwd, device, remove_batch_dim, cache)

    def list_hooks(
        self,
        name_filter: Any = None,
        dir: Literal["fwd", "bwd", "both"] = "both",
        including_permanent: bool = True,
    ) -> dict[str, list[LensHandle]]:
        """{hook name: its attached hooks (forward first)} for the points ``name_filter`` selects
        (None: all) in ``hook_dict`` order; points with no hook are left out."""
        check_dir(dir, both=True)
        points: dict[str, HookPoint] = self.hook_dict
        selected = set(self._select(name_filter, points))
        dirs = ("fwd", "bwd") if dir == "both" else (dir,)
        out = {}
        for name, point in points.items():
            handles = [h for d in dirs for h in point.handles(d) if including_permanent or not h.is_permanent]
            if handles and name in selected:
                out[name] = handles
        return out


def _deprecated(name: str) -> None:
    warnings.warn(
        f"{name} is deprecated (as in TransformerLens); use add_caching_hooks or run_with_cache",
        DeprecationWarning,
        stacklevel=3,
    )


def _grad_saver(keep: Callable[..., None]) -> Callable[..., None]:
    return lambda grad, hook: keep(grad, hook, "_grad")


def saver(
    store: dict[str, Tensor], device: Any, dtype: torch.dtype | None, pos_slice: Slice, remove_batch_dim: bool
) -> Callable[..., None]:
    """The hook that stores a detached copy of the activation under its hook's name (+ suffix)."""

    def keep(act: Tensor, hook: HookPoint, suffix: str = "") -> None:
        act = act.detach()
        if device is not None:
            act = act.to(device)
        if dtype is not None and act.is_floating_point():
            act = act.to(dtype)
        if remove_batch_dim:
            if act.ndim == 0 or act.shape[0] != 1:
                raise ShapeError(
                    f"remove_batch_dim=True: {hook.name!r} has shape {tuple(act.shape)}, not a batch of one "
                    "sequence; run one sequence or pass remove_batch_dim=False"
                )
            act = act[0]
        if pos_slice.mode != "identity":
            pos_dim = -3 if hook.name.endswith(HEAD_VECTORS) else -2  # a pattern's query axis is -2
            if act.ndim >= -pos_dim:
                act = pos_slice.apply(act, dim=pos_dim)
        store[hook.name + suffix] = act

    return keep


__all__ = ["CachingHooks", "saver"]
