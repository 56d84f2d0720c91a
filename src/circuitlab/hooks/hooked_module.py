"""HookedModule: the one hook system every circuitlab model shares."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch
from torch import Tensor, nn

from circuitlab.errors import HookNameError, ShapeError
from circuitlab.hooks.cache import ActivationCache
from circuitlab.hooks.caching import CachingHooks
from circuitlab.hooks.hook_point import Direction, HookFn, HookPoint, check_dir

NameSelector = str | Sequence[str] | Callable[[str], bool] | None
HookSpec = tuple[str | Callable[[str], bool], HookFn]


class HookedModule(CachingHooks, nn.Module):
    """An ``nn.Module`` whose named activations are ``HookPoint``s.

    Hook names come from ``named_modules()`` (``blocks.0.attn.hook_pattern``). ``hooks()`` attaches
    hooks for the length of a ``with`` block and removes them in ``finally``; ``run_with_hooks``
    and ``run_with_cache`` are built on it. ``add_hook``/``add_perma_hook``/``reset_hooks`` manage
    hooks that outlive a call, with TransformerLens's semantics: each ``hooks()`` block has a
    context level (1 for the outermost), its hooks carry it, and leaving the block removes the
    non-permanent hooks of that level only. TransformerLens's caching-hook methods
    (``add_caching_hooks``, ``get_caching_hooks``, ``list_hooks``, ...) come from ``CachingHooks``.
    """

    context_level: int = 0

    @property
    def hook_dict(self) -> dict[str, HookPoint]:
        """Every hook point by its name (names are set on first access)."""
        points = {n: m for n, m in self.named_modules() if isinstance(m, HookPoint)}
        for name, point in points.items():
            point.name = name
        return points

    @property
    def mod_dict(self) -> dict[str, nn.Module]:
        """Every submodule by its name (the model itself, named "", excluded)."""
        return {n: m for n, m in self.named_modules() if n}

    @property
    def hook_names(self) -> list[str]:
        return list(self.hook_dict)

    def hook_points(self) -> list[HookPoint]:
        return list(self.hook_dict.values())

    def _select(self, selector: NameSelector, points: dict[str, HookPoint]) -> list[str]:
        if selector is None:
            return list(points)
        if callable(selector):
            return [n for n in points if selector(n)]
        names = [selector] if isinstance(selector, str) else list(selector)
        for name in names:
            if name not in points:
                close = difflib.get_close_matches(name, points, n=3)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                raise HookNameError(
                    f"no hook point named {name!r} in {type(self).__name__}{hint} "
                    "(model.hook_names lists them all)"
                )
        return names

    def add_hook(
        self,
        name: str | Sequence[str] | Callable[[str], bool],
        hook: HookFn,
        dir: Direction = "fwd",
        is_permanent: bool = False,
        level: int | None = None,
        prepend: bool = False,
        points: dict[str, HookPoint] | None = None,
    ) -> None:
        """Attach ``hook`` to the hook point ``name`` (or every one a predicate or list selects)
        until it is removed (``reset_hooks``, or the end of the ``hooks()`` block of ``level``)."""
        check_dir(dir)
        points = self.hook_dict if points is None else points
        for selected in self._select(name, points):
            points[selected].add_hook(hook, dir=dir, is_permanent=is_permanent, level=level, prepend=prepend)

    def add_perma_hook(self, name: str | Callable[[str], bool], hook: HookFn, dir: Direction = "fwd") -> None:
        """A hook that ``reset_hooks()`` keeps (``reset_hooks(including_permanent=True)`` removes it)."""
        self.add_hook(name, hook, dir=dir, is_permanent=True)

    def remove_all_hook_fns(
        self,
        direction: Literal["fwd", "bwd", "both"] = "both",
        including_permanent: bool = False,
        level: int | None = None,
    ) -> None:
        for point in self.hook_dict.values():
            point.remove_hooks(direction, including_permanent=including_permanent, level=level)

    def clear_contexts(self) -> None:
        """Empty every hook point's ``ctx``."""
        for point in self.hook_dict.values():
            point.clear_context()

    def reset_hooks(
        self,
        clear_contexts: bool = True,
        direction: Literal["fwd", "bwd", "both"] = "both",
        including_permanent: bool = False,
        level: int | None = None,
    ) -> None:
        """Remove the non-permanent hooks (of context ``level`` only, when given; permanent ones
        too with ``including_permanent``) and, by default, every hook point's ``ctx``; sets
        ``is_caching`` to False (as TransformerLens)."""
        if clear_contexts:
            self.clear_contexts()
        self.remove_all_hook_fns(direction, including_permanent=including_permanent, level=level)
        self.is_caching = False

    @contextmanager
    def hooks(
        self,
        fwd_hooks: Iterable[HookSpec] = (),
        bwd_hooks: Iterable[HookSpec] = (),
        reset_hooks_end: bool = True,
        clear_contexts: bool = False,
    ) -> Iterator[HookedModule]:
        """Attach hooks for the body of a ``with`` block; they are removed even if it raises.

        Each hook is ``(name_or_filter, fn)`` with ``fn(activation, hook) -> Tensor | None``.
        ``reset_hooks_end=False`` leaves them attached (``reset_hooks()`` removes them later);
        ``clear_contexts`` empties every hook point's ``ctx`` when they are removed.
        """
        points = self.hook_dict
        self.context_level += 1
        level = self.context_level
        try:
            for dir, specs in (("fwd", fwd_hooks), ("bwd", bwd_hooks)):
                for selector, fn in specs:
                    self.add_hook(selector, fn, dir=dir, level=level, points=points)
            yield self
        finally:
            if reset_hooks_end:
                self.reset_hooks(clear_contexts, including_permanent=False, level=level)
            self.context_level -= 1

    def run_with_hooks(
        self,
        *args: Any,
        fwd_hooks: Iterable[HookSpec] = (),
        bwd_hooks: Iterable[HookSpec] = (),
        reset_hooks_end: bool = True,
        clear_contexts: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Run ``forward`` with temporary hooks.

        Backward hooks are registered on the activations during this forward and fire when you
        later call ``.backward()`` on the output, also after they were removed."""
        with self.hooks(fwd_hooks, bwd_hooks, reset_hooks_end, clear_contexts):
            return self(*args, **kwargs)

    def run_with_cache(
        self,
        *args: Any,
        names_filter: NameSelector = None,
        device: str | torch.device | None = None,
        cache_dtype: torch.dtype | None = None,
        remove_batch_dim: bool = False,
        incl_bwd: bool = False,
        reset_hooks_end: bool = True,
        clear_contexts: bool = False,
        pos_slice: Any = None,
        **kwargs: Any,
    ) -> tuple[Any, ActivationCache]:
        """Run ``forward`` and keep the activations that ``names_filter`` selects.

        ``names_filter``: a hook name, a list of names, a predicate on names, or None for all.
        Only selected activations are stored (detached; moved to ``device`` and cast to
        ``cache_dtype`` when given, e.g. ``torch.float16`` to halve the memory). As in
        TransformerLens: ``incl_bwd`` calls ``.backward()`` on the output (a scalar, e.g.
        ``return_type="loss"``) and keeps each gradient as ``"{name}_grad"``; ``pos_slice``
        keeps those positions only (an int keeps its axis); ``reset_hooks_end`` and
        ``clear_contexts`` as in ``hooks()``.
        """
        store, fwd, bwd = self.get_caching_hooks(
            names_filter, incl_bwd, device, pos_slice=pos_slice, cache_dtype=cache_dtype
        )
        with self.hooks(fwd, bwd, reset_hooks_end, clear_contexts):
            out = self(*args, **kwargs)
            if incl_bwd:
                if not isinstance(out, Tensor) or out.numel() != 1:
                    got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                    raise ShapeError(
                        f"run_with_cache(incl_bwd=True) differentiates the output, which must be one "
                        f"number; got {got} (pass return_type='loss')"
                    )
                out.backward()
        cache = ActivationCache(store, model=self)
        return out, cache.remove_batch_dim() if remove_batch_dim else cache
