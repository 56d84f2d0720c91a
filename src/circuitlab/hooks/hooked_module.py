"""HookedModule: the one hook system every circuitlab model shares."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from circuitlab.errors import HookNameError
from circuitlab.hooks.cache import ActivationCache
from circuitlab.hooks.hook_point import HookFn, HookPoint, ReadsOnly

NameSelector = str | Sequence[str] | Callable[[str], bool] | None
HookSpec = tuple[str | Callable[[str], bool], HookFn]


class HookedModule(nn.Module):
    """An ``nn.Module`` whose named activations are ``HookPoint``s.

    Hook names come from ``named_modules()`` (``blocks.0.attn.hook_pattern``). ``hooks()`` attaches
    hooks for the length of a ``with`` block and removes them in ``finally``; ``run_with_hooks``
    and ``run_with_cache`` are built on it.
    """

    @property
    def hook_dict(self) -> dict[str, HookPoint]:
        """Every hook point by its name (names are set on first access)."""
        points = {n: m for n, m in self.named_modules() if isinstance(m, HookPoint)}
        for name, point in points.items():
            point.name = name
        return points

    @property
    def hook_names(self) -> list[str]:
        return list(self.hook_dict)

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

    @contextmanager
    def hooks(
        self,
        fwd_hooks: Iterable[HookSpec] = (),
        bwd_hooks: Iterable[HookSpec] = (),
    ) -> Iterator[HookedModule]:
        """Attach hooks for the body of a ``with`` block; they are removed even if it raises.

        Each hook is ``(name_or_filter, fn)`` with ``fn(activation, hook) -> Tensor | None``.
        """
        points = self.hook_dict
        attached: list[tuple[list[HookFn], HookFn]] = []
        try:
            for kind, specs in (("fwd", fwd_hooks), ("bwd", bwd_hooks)):
                for selector, fn in specs:
                    for name in self._select(selector, points):
                        fns = points[name].fwd_fns if kind == "fwd" else points[name].bwd_fns
                        fns.append(fn)
                        attached.append((fns, fn))
            yield self
        finally:
            for fns, fn in attached:
                if fn in fns:
                    fns.remove(fn)

    def reset_hooks(self) -> None:
        """Remove every hook from every hook point."""
        for point in self.hook_dict.values():
            point.remove_hooks()

    def run_with_hooks(
        self,
        *args: Any,
        fwd_hooks: Iterable[HookSpec] = (),
        bwd_hooks: Iterable[HookSpec] = (),
        **kwargs: Any,
    ) -> Any:
        """Run ``forward`` with temporary hooks.

        Backward hooks are registered on the activations during this forward and fire when you
        later call ``.backward()`` on the output."""
        with self.hooks(fwd_hooks, bwd_hooks):
            return self(*args, **kwargs)

    def run_with_cache(
        self,
        *args: Any,
        names_filter: NameSelector = None,
        device: str | torch.device | None = None,
        cache_dtype: torch.dtype | None = None,
        remove_batch_dim: bool = False,
        **kwargs: Any,
    ) -> tuple[Any, ActivationCache]:
        """Run ``forward`` and keep the activations that ``names_filter`` selects.

        ``names_filter``: a hook name, a list of names, a predicate on names, or None for all.
        Only selected activations are stored (detached; moved to ``device`` and cast to
        ``cache_dtype`` when given, e.g. ``torch.float16`` to halve the memory).
        """
        store: dict[str, Tensor] = {}

        def save(act: Tensor, hook: HookPoint) -> None:
            act = act.detach()
            if device is not None:
                act = act.to(device)
            if cache_dtype is not None and act.is_floating_point():
                act = act.to(cache_dtype)
            store[hook.name] = act

        names = self._select(names_filter, self.hook_dict)
        save = ReadsOnly(save)
        with self.hooks([(name, save) for name in names]):
            out = self(*args, **kwargs)
        cache = ActivationCache(store, model=self)
        return out, cache.remove_batch_dim() if remove_batch_dim else cache
