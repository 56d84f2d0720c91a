"""What a hook point holds and passes: handles for attached hooks, and the views hooks receive.

A hook is called as ``fn(activation, hook=hook_point)`` (TransformerLens's convention, so
``def f(act, *, hook)`` works) when it has a parameter named ``hook`` or takes ``**kwargs``, and
as ``fn(activation, hook_point)`` otherwise (so ``lambda act, h: ...`` works too). The choice is
made once, when the hook is attached (``by_keyword``), never per call.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Sequence
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


class AliasedHookPoint:
    """A hook point seen under another name (``add_hook(..., alias_names=[...])``): ``name`` and
    ``layer()`` come from the alias, everything else (``ctx`` included) from the hook point."""

    __slots__ = ("name", "target")

    def __init__(self, name: str, target: HookPoint) -> None:
        self.name, self.target = name, target

    def layer(self) -> int:
        from circuitlab.hooks.hook_point import layer_of

        return layer_of(self.name)

    def __getattr__(self, attr: str) -> Any:
        if attr == "target":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(attr)
        return getattr(self.target, attr)


class ScaledGrad:
    """A gradient whose ``.sum()`` to one number is multiplied by ``scale`` (TransformerLens's
    ``HookPoint.backward_scale``); every other attribute is the gradient's own (its own fields
    are underscored so that none hides one of the tensor's)."""

    __slots__ = ("_grad", "_scale")

    def __init__(self, grad: Tensor, scale: float) -> None:
        self._grad, self._scale = grad, scale

    def sum(self, *args: Any, **kwargs: Any) -> Tensor:
        total = self._grad.sum(*args, **kwargs)
        return total * self._scale if total.numel() == 1 else total

    def __getattr__(self, attr: str) -> Any:
        if attr == "_grad":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(attr)
        return getattr(self._grad, attr)

    def __repr__(self) -> str:
        return f"ScaledGrad(scale={self._scale}, grad={self._grad!r})"


class LensHandle:
    """One attached hook, as TransformerLens's ``LensHandle``: ``user_hook`` (the function),
    ``is_permanent``, ``context_level`` (the ``hooks()`` block that attached it, None outside
    one) and ``hook.remove()`` (``hook`` is the handle itself). Calling it calls ``user_hook``
    (once per name in ``alias_names``, each call seeing the last one's replacement)."""

    __slots__ = (
        "user_hook", "is_permanent", "context_level", "point", "dir", "entry", "keyword", "alias_names",
        "__weakref__",
    )  # fmt: skip

    def __init__(
        self,
        user_hook: HookFn,
        point: HookPoint,
        dir: Direction,
        is_permanent: bool = False,
        context_level: int | None = None,
        entry: object = None,
        alias_names: Sequence[str] | None = None,
    ) -> None:
        self.user_hook, self.point, self.dir = user_hook, point, dir
        self.is_permanent, self.context_level = is_permanent, context_level
        self.entry = entry  # what the hook point's list holds, when not this handle (no self-reference:
        # a cycle would keep run_with_cache's saving hook, and so its cache, alive until a gc run)
        self.keyword = by_keyword(user_hook)
        self.alias_names = None if alias_names is None else tuple(alias_names)

    def __call__(self, x: Tensor, hook: HookPoint) -> Any:
        if self.alias_names is None:
            return call_hook(self.user_hook, self.keyword, x, hook)
        replaced = False
        for name in self.alias_names:
            out = call_hook(self.user_hook, self.keyword, x, AliasedHookPoint(name, hook))
            if out is not None:
                x, replaced = out, True
        return x if replaced else None

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


__all__ = ["AliasedHookPoint", "LensHandle", "ReadsOnly", "ScaledGrad", "by_keyword", "reads_only"]
