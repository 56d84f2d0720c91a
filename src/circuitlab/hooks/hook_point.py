"""HookPoint: an identity at a named activation, where hooks can read or edit it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor, nn

from circuitlab.errors import ConfigError, HookNameError, ShapeError
from circuitlab.hooks.handles import Direction, HookFn, LensHandle, ReadsOnly, ScaledGrad, reads_only


def check_dir(dir: str, both: bool = False) -> None:
    allowed = ("fwd", "bwd", "both") if both else ("fwd", "bwd")
    if dir not in allowed:
        raise ConfigError(f"hook direction {dir!r}: choose one of {', '.join(allowed)}")


class HookPoint(nn.Module):
    """Identity module at a named activation.

    ``hook_point(x)`` returns ``x`` unchanged when nothing is attached: the whole cost of an idle
    hook point is one attribute check (``__call__`` bypasses ``nn.Module``'s dispatch). A forward
    hook ``fn(activation, hook) -> Tensor | None`` (given ``hook=`` as a keyword when it has a
    ``hook`` parameter, as TransformerLens calls it; see ``hooks.handles``) may return a replacement
    activation (later hooks see it); a backward hook ``fn(grad, hook)`` sees the gradient of the
    activation and may return a replacement (a tensor or a ``(grad,)`` tuple; as in TransformerLens
    every backward hook sees the incoming gradient and the last replacement wins). Backward hooks
    attached during a forward fire when that forward's output is differentiated, even after they
    were removed.

    ``fwd_fns``/``bwd_fns`` are the callables in call order, each called ``fn(x, hook_point)``
    (``add_hook`` puts a ``LensHandle`` there, which passes ``hook=`` on); ``fwd_hooks``/``bwd_hooks``
    the same as ``LensHandle``s (TransformerLens's view). ``ctx`` is a dict hooks may share state
    in; it lives until ``clear_context()`` (``HookedModule.reset_hooks`` clears it by default).

    As TransformerLens's HookPoint: ``enable_reshape(conversion)`` makes every hook see
    ``conversion.convert(x)`` and turns what it returns back with ``conversion.revert``;
    ``backward_scale`` (1.0) multiplies what a backward hook's ``grad.sum()`` returns (``ScaledGrad``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.name: str = ""
        self.fwd_fns: list[HookFn] = []
        self.bwd_fns: list[HookFn] = []
        self.ctx: dict[Any, Any] = {}
        self.hook_conversion: Any = None  # enable_reshape
        self.backward_scale: float = 1.0

    def fns(self, dir: Direction) -> list[HookFn]:
        return self.fwd_fns if dir == "fwd" else self.bwd_fns

    @property
    def active(self) -> bool:
        """True when a forward or backward hook is attached."""
        return bool(self.fwd_fns or self.bwd_fns)

    @property
    def edits(self) -> bool:
        """True when a hook may change the activation or needs it in the autograd graph: a
        backward hook, or a forward hook not wrapped in ``ReadsOnly``."""
        return bool(self.bwd_fns) or not all(reads_only(fn) for fn in self.fwd_fns)

    def handles(self, dir: Direction) -> list[LensHandle]:
        """The hooks of one direction as handles (a function put in ``fwd_fns`` directly gets a
        handle made for it: not permanent, no context level)."""
        return [
            fn if isinstance(fn, LensHandle) else LensHandle(fn, self, dir, entry=fn) for fn in self.fns(dir)
        ]

    fwd_hooks = property(lambda self: self.handles("fwd"), doc="forward hooks as LensHandles")
    bwd_hooks = property(lambda self: self.handles("bwd"), doc="backward hooks as LensHandles")

    def add_hook(
        self,
        hook: HookFn,
        dir: Direction = "fwd",
        is_permanent: bool = False,
        level: int | None = None,
        prepend: bool = False,
        alias_names: Sequence[str] | None = None,
    ) -> LensHandle:
        """Attach ``hook`` (called before the others with ``prepend``); returns its handle. With
        ``alias_names`` the hook runs once per name, seeing this point under that name
        (``AliasedHookPoint``: ``hook.name`` is the alias, ``hook.ctx`` this point's)."""
        check_dir(dir)
        if not callable(hook):
            raise ConfigError(f"a hook must be a function fn(activation, hook), got {type(hook).__name__}")
        if isinstance(alias_names, str):
            raise ConfigError(f"alias_names must be a list of names, got the string {alias_names!r}")
        handle = LensHandle(hook, self, dir, is_permanent, level, alias_names=alias_names)
        self.fns(dir).insert(0 if prepend else len(self.fns(dir)), handle)
        return handle

    def add_perma_hook(self, hook: HookFn, dir: Direction = "fwd") -> LensHandle:
        """A hook that ``remove_hooks``/``reset_hooks`` keep unless ``including_permanent=True``."""
        return self.add_hook(hook, dir=dir, is_permanent=True)

    def remove_hooks(
        self,
        dir: Literal["fwd", "bwd", "both"] = "fwd",
        including_permanent: bool = False,
        level: int | None = None,
    ) -> None:
        """Detach the hooks of ``dir`` (TransformerLens's default: forward only) at context ``level``
        (None: any); permanent ones only with ``including_permanent`` (then at every level)."""
        check_dir(dir, both=True)
        for d in ("fwd", "bwd") if dir == "both" else (dir,):
            fns = self.fns(d)
            fns[:] = [
                fn
                for fn, h in zip(fns, self.handles(d), strict=True)
                if not including_permanent
                and (h.is_permanent or (level is not None and h.context_level != level))
            ]

    def has_hooks(
        self,
        dir: Literal["fwd", "bwd", "both"] = "both",
        including_permanent: bool = True,
        level: int | None = None,
    ) -> bool:
        """True when a hook of ``dir`` at context ``level`` (None: any) is attached."""
        check_dir(dir, both=True)
        return any(
            (including_permanent or not h.is_permanent) and (level is None or h.context_level == level)
            for d in (("fwd", "bwd") if dir == "both" else (dir,))
            for h in self.handles(d)
        )

    def clear_context(self) -> None:
        self.ctx = {}

    def enable_reshape(self, hook_conversion: Any = None) -> None:
        """Hooks see ``hook_conversion.convert(x)``; what they return is put back through
        ``hook_conversion.revert`` (TransformerLens's ``BaseTensorConversion``, or any object with
        both methods). None switches the conversion off."""
        if hook_conversion is not None and not all(
            callable(getattr(hook_conversion, m, None)) for m in ("convert", "revert")
        ):
            raise ConfigError(
                f"enable_reshape needs an object with convert(tensor) and revert(tensor) methods, got "
                f"{type(hook_conversion).__name__}"
            )
        self.hook_conversion = hook_conversion

    def layer(self) -> int:
        """The block index of a ``blocks.{l}...`` hook point."""
        return layer_of(self.name)

    def __call__(self, x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if not (self.fwd_fns or self.bwd_fns):
            return x
        return self._run(x)

    def forward(self, x: Tensor) -> Tensor:  # only reached through nn.Module APIs
        return self(x)

    def _run(self, x: Tensor) -> Tensor:
        conversion = self.hook_conversion
        for fn in tuple(self.fwd_fns):  # a hook may detach hooks; this call still runs them all
            out = fn(x, self) if conversion is None else _converted(fn, x, self, conversion)
            if out is not None:
                x = self._checked(out, x, "hook", "a forward hook must return None or a tensor of the "
                                  "activation's shape")  # fmt: skip
        if self.bwd_fns and x.requires_grad:
            x = x.view_as(x)  # its own autograd node: the hook sees only what flows through here
            fns = tuple(self.bwd_fns)
            x.register_hook(lambda grad: self._run_bwd(fns, grad))
        return x

    def _run_bwd(self, fns: tuple[HookFn, ...], grad: Tensor) -> Tensor | None:
        """Every backward hook sees the incoming gradient; the last one that returns wins."""
        result, conversion = None, self.hook_conversion
        seen = grad if self.backward_scale == 1.0 else ScaledGrad(grad, self.backward_scale)
        for fn in fns:
            out = fn(seen, self) if conversion is None else _converted(fn, seen, self, conversion)
            if isinstance(out, tuple) and len(out) == 1:
                out = out[0]
            if out is not None:
                result = self._checked(out, grad, "backward hook", "return None, a one-tensor tuple (grad,) "
                                       "or a tensor of the gradient's shape")  # fmt: skip
        return result

    def _checked(self, out: object, like: Tensor, what: str, rule: str) -> Tensor:
        """``out`` when it is a tensor of ``like``'s shape, else a ShapeError naming the hook point."""
        if not isinstance(out, Tensor) or out.shape != like.shape:
            got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ShapeError(f"{what} on {self.name!r} returned {got}; {rule} {tuple(like.shape)}")
        return out

    def extra_repr(self) -> str:
        return f"name={self.name!r}, fwd={len(self.fwd_fns)}, bwd={len(self.bwd_fns)}"


def _converted(fn: HookFn, x: Any, point: HookPoint, conversion: Any) -> Any:
    """``fn`` on the converted activation; its replacement (if any) reverted."""
    out = fn(conversion.convert(x), point)
    return None if out is None else conversion.revert(out)


def layer_of(name: str) -> int:
    """The block index in a ``blocks.{l}...`` hook name."""
    parts = name.split(".")
    if len(parts) < 2 or parts[0] != "blocks" or not parts[1].isdigit():
        raise HookNameError(f"hook point {name!r} is not inside a block (blocks.{{l}}...): it has no layer")
    return int(parts[1])


__all__ = ["Direction", "HookFn", "HookPoint", "LensHandle", "ReadsOnly", "check_dir", "layer_of"]
