"""What a hook point holds and passes: handles for attached hooks, and the views hooks receive.

A hook is called as ``fn(activation, hook=hook_point)`` (TransformerLens's convention, so
``def f(act, *, hook)`` works) when it has a parameter named ``hook`` or takes ``**kwargs``, and
as ``fn(activation, hook_point)`` otherwise (so ``lambda act, h: ...`` works too). The choice is
made once, when the hook is attached (``by_keyword``), never per call.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from torch import Tensor

if TYPE_CHECKING:
    from circuitlab.hooks.hook_point import HookPoint

HookFn = Callable[..., Any]  # fn(activation, hook) -> Tensor | None
Direction = Literal["fwd", "bwd"]
_P = inspect.Parameter


def by_keyword(fn: Callable[..., Any]) -> bool:
    """True when ``fn`` should get the hook point as ``hook=``: it has a ``hook`` parameter that
    can be passed by keyword, or it takes ``**kwargs`` and fewer than two positional arguments.
    A callable without a readable signature (some builtins) is called positionally."""
    if isinstance(fn, (ReadsOnly, LensHandle)):
        return True
    params = _parameters(fn)
    if params is None:
        return False
    positional, keyword, varargs, varkw = params
    if "hook" in keyword:
        return True
    return varkw and len(positional) < 2 and not varargs


def _parameters(fn: Callable[..., Any]) -> tuple[tuple[str, ...], set[str], bool, bool] | None:
    """(positional names, keyword names, takes *args, takes **kwargs); read off the code object
    for plain functions and methods (a microsecond), else from ``inspect.signature`` (~0.1 ms)."""
    func = getattr(fn, "__func__", fn)
    code = getattr(func, "__code__", None)
    if isinstance(func, types.FunctionType) and code is not None and not hasattr(func, "__wrapped__"):
        n, n_only = code.co_argcount, code.co_posonlyargcount
        names = code.co_varnames
        drop = 1 if func is not fn else 0  # a bound method's self
        keyword = set(names[max(n_only, drop) : n]) | set(names[n : n + code.co_kwonlyargcount])
        flags = code.co_flags
        return names[drop:n], keyword, bool(flags & inspect.CO_VARARGS), bool(flags & inspect.CO_VARKEYWORDS)
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = tuple(p.name for p in params if p.kind in (_P.POSITIONAL_ONLY, _P.POSITIONAL_OR_KEYWORD))
    keyword = {p.name for p in params if p.kind in (_P.POSITIONAL_OR_KEYWORD, _P.KEYWORD_ONLY)}
    kinds = {p.kind for p in params}
    return positional, keyword, _P.VAR_POSITIONAL in kinds, _P.VAR_KEYWORD in kinds


def call_hook(fn: HookFn, keyword: bool, x: Any, hook: Any) -> Any:
    return fn(x, hook=hook) if keyword else fn(x, hook)


class ReadsOnly:
    """A forward hook that promises to only read its activation (``run_with_cache`` uses these).

    A model may then compute that activation by a fused kernel whose intermediate results a
    hook could not edit (a LayerNorm's scale, the per-head results), which is faster and gives
    the same numbers. Wrap your own hook as ``ReadsOnly(fn)``; whatever ``fn`` returns is dropped.
    """

    __slots__ = ("fn", "keyword")

    def __init__(self, fn: HookFn) -> None:
        self.fn, self.keyword = fn, by_keyword(fn)

    def __call__(self, x: Tensor, hook: HookPoint) -> None:
        call_hook(self.fn, self.keyword, x, hook)


class LensHandle:
    """One attached hook, as TransformerLens's ``LensHandle``: ``user_hook`` (the function),
    ``is_permanent``, ``context_level`` (the ``hooks()`` block that attached it, None outside
    one) and ``hook.remove()`` (``hook`` is the handle itself). Calling it calls ``user_hook``."""

    __slots__ = (
        "user_hook", "is_permanent", "context_level", "point", "dir", "entry", "keyword", "__weakref__",
    )  # fmt: skip

    def __init__(
        self,
        user_hook: HookFn,
        point: HookPoint,
        dir: Direction,
        is_permanent: bool = False,
        context_level: int | None = None,
        entry: object = None,
    ) -> None:
        self.user_hook, self.point, self.dir = user_hook, point, dir
        self.is_permanent, self.context_level = is_permanent, context_level
        self.entry = entry  # what the hook point's list holds, when not this handle (no self-reference:
        # a cycle would keep run_with_cache's saving hook, and so its cache, alive until a gc run)
        self.keyword = by_keyword(user_hook)

    def __call__(self, x: Tensor, hook: HookPoint) -> Any:
        return call_hook(self.user_hook, self.keyword, x, hook)

    @property
    def hook(self) -> LensHandle:
        return self

    def remove(self) -> None:
        """Detach this hook from its hook point (nothing happens if it is already gone)."""
        fns = self.point.fns(self.dir)
        for i, fn in enumerate(fns):
            if fn is (self if self.entry is None else self.entry):
                del fns[i]
                return

    def __repr__(self) -> str:
        perm = ", permanent" if self.is_permanent else ""
        return f"LensHandle({self.dir} {self.user_hook!r} on {self.point.name!r}, level={self.context_level}{perm})"


def reads_only(fn: object) -> bool:
    return isinstance(fn, ReadsOnly) or (isinstance(fn, LensHandle) and isinstance(fn.user_hook, ReadsOnly))


__all__ = ["LensHandle", "ReadsOnly", "by_keyword", "reads_only"]
