"""HookPoint: an identity at a named activation, where hooks can read or edit it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

HookFn = Callable[[Tensor, "HookPoint"], Tensor | None]


class ReadsOnly:
    """A forward hook that promises to only read its activation (``run_with_cache`` uses these).

    A model may then compute that activation by a fused kernel whose intermediate results a
    hook could not edit (a LayerNorm's scale, the per-head results), which is faster and gives
    the same numbers. Wrap your own hook as ``ReadsOnly(fn)``; whatever ``fn`` returns is dropped.
    """

    __slots__ = ("fn",)

    def __init__(self, fn: HookFn) -> None:
        self.fn = fn

    def __call__(self, x: Tensor, hook: HookPoint) -> None:
        self.fn(x, hook)


class HookPoint(nn.Module):
    """Identity module at a named activation.

    ``hook_point(x)`` returns ``x`` unchanged when nothing is attached: the whole cost of an idle
    hook point is one attribute check (``__call__`` bypasses ``nn.Module``'s dispatch). A forward
    hook ``fn(activation, hook) -> Tensor | None`` may return a replacement activation; a
    backward hook ``fn(grad, hook)`` sees (and may replace) the gradient of the activation.
    Hooks are attached by ``HookedModule.hooks`` and always removed when it exits.
    """

    def __init__(self) -> None:
        super().__init__()
        self.name: str = ""
        self.fwd_fns: list[HookFn] = []
        self.bwd_fns: list[HookFn] = []

    @property
    def active(self) -> bool:
        """True when a forward or backward hook is attached."""
        return bool(self.fwd_fns or self.bwd_fns)

    @property
    def edits(self) -> bool:
        """True when a hook may change the activation or needs it in the autograd graph: a
        backward hook, or a forward hook not wrapped in ``ReadsOnly``."""
        return bool(self.bwd_fns) or not all(isinstance(fn, ReadsOnly) for fn in self.fwd_fns)

    def __call__(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if not (self.fwd_fns or self.bwd_fns):
            return x
        return self._run(x)

    def forward(self, x: Tensor) -> Tensor:  # only reached through nn.Module APIs
        return self(x)

    def _run(self, x: Tensor) -> Tensor:
        for fn in self.fwd_fns:
            out = fn(x, self)
            if out is not None:
                if not isinstance(out, Tensor) or out.shape != x.shape:
                    got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                    raise ValueError(
                        f"hook on {self.name!r} returned {got}; a forward hook must return None "
                        f"or a tensor of the activation's shape {tuple(x.shape)}"
                    )
                x = out
        if self.bwd_fns and x.requires_grad:
            for fn in self.bwd_fns:
                x.register_hook(lambda grad, fn=fn: fn(grad, self))
        return x

    def remove_hooks(self) -> None:
        self.fwd_fns.clear()
        self.bwd_fns.clear()

    def extra_repr(self) -> str:
        return f"name={self.name!r}, fwd={len(self.fwd_fns)}, bwd={len(self.bwd_fns)}"
