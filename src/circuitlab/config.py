"""One way to describe a model: a frozen dataclass validated on creation, saved as JSON.

Every model config (Transformer, MLP, RNN/LSTM, VAE, ToyModel, SAE) subclasses :class:`Config`
and validates its fields in ``__post_init__`` with the checks below, so the same mistake gets
the same one-line :class:`~circuitlab.errors.ConfigError` whichever model it is made on:
``RecurrentConfig(n_layers=2.5)`` and ``TransformerConfig(n_layers=2.5)`` are refused alike.

    @dataclass(frozen=True)
    class VAEConfig(Config):
        d_in: int
        d_latent: int = 2

        def __post_init__(self) -> None:
            check_int(self, "d_in", low=1)
            check_int(self, "d_latent", low=1)
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any, Self, TypeVar

from circuitlab.errors import ConfigError


def _where(cfg: Any, name: str) -> str:
    return f"{type(cfg).__name__}.{name}={getattr(cfg, name)!r}"


def is_int(value: Any, low: int | None = None) -> bool:
    """An int (never a bool or a float such as 2.0 or 2.5) that is >= ``low``."""
    return isinstance(value, int) and not isinstance(value, bool) and (low is None or value >= low)


def is_number(value: Any) -> bool:
    """A finite int or float (never a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_int(cfg: Any, name: str, low: int = 1, optional: bool = False) -> None:
    """``cfg.name`` is an integer >= ``low`` (or None when ``optional``)."""
    value = getattr(cfg, name)
    if optional and value is None:
        return
    if not is_int(value, low):
        raise ConfigError(f"{_where(cfg, name)}: must be an integer >= {low}")


def check_number(
    cfg: Any,
    name: str,
    low: float | None = None,
    high: float | None = None,
    strict_low: bool = False,
    optional: bool = False,
) -> None:
    """``cfg.name`` is a finite number in [low, high] (``(low, high]`` when ``strict_low``)."""
    value = getattr(cfg, name)
    if optional and value is None:
        return
    ok = is_number(value)
    ok = ok and (low is None or (value > low if strict_low else value >= low))
    ok = ok and (high is None or value <= high)
    if not ok:
        lo = "" if low is None else f"{'>' if strict_low else '>='} {low:g}"
        hi = "" if high is None else f"<= {high:g}"
        bounds = " and ".join(b for b in (lo, hi) if b)
        finite = (
            "finite " if not bounds or isinstance(value, int | float) and not math.isfinite(value) else ""
        )
        raise ConfigError(f"{_where(cfg, name)}: must be a {finite}number{' ' + bounds if bounds else ''}")


def check_ints(cfg: Any, name: str, low: int = 1, min_len: int = 1) -> None:
    """``cfg.name`` is a tuple of at least ``min_len`` integers, each >= ``low``."""
    value = getattr(cfg, name)
    if not isinstance(value, tuple) or len(value) < min_len or not all(is_int(v, low) for v in value):
        raise ConfigError(
            f"{_where(cfg, name)}: must be a tuple of at least {min_len} integers, each >= {low}"
        )


def check_bool(cfg: Any, name: str) -> None:
    """``cfg.name`` is True or False (not 0/1, not a string)."""
    if not isinstance(getattr(cfg, name), bool):
        raise ConfigError(f"{_where(cfg, name)}: must be True or False")


def check_choice(cfg: Any, name: str, allowed: Iterable[Any]) -> None:
    """``cfg.name`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if getattr(cfg, name) not in allowed:
        raise ConfigError(f"{_where(cfg, name)}: choose one of {', '.join(map(str, allowed))}")


def _to_json(value: Any) -> Any:
    """Tuples (at any depth) as lists: the shape a value has after a JSON round trip."""
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _freeze(value: Any) -> Any:
    """Lists (at any depth) as tuples, so a config built from JSON is hashable and equal to the original."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


C = TypeVar("C", bound="Config")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every model config: ``to_dict``/``from_dict`` (JSON, unknown keys refused by name)
    and ``replace``. Subclasses are ``@dataclass(frozen=True)`` and validate in ``__post_init__``.

    ``to_dict()`` is JSON-shaped (tuples become lists) so that it equals what a checkpoint's JSON
    reads back; ``from_dict`` turns lists back into tuples, so ``from_dict(to_dict()) == cfg``.
    """

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from a dict (e.g. a checkpoint's JSON), refusing unknown keys by name."""
        if not isinstance(data, dict):
            raise ConfigError(f"a {cls.__name__} needs a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} keys {unknown}; known keys: {sorted(known)}")
        return cls(**{k: _freeze(v) for k, v in data.items()})

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)


def config_or_fields(config_cls: type[C], first: Any, **fields: Any) -> C:
    """The keyword shim behind ``Model(cfg)``: ``first`` is the config itself, or the config's first
    field followed by ``fields`` (None means "the config's default"; lists become tuples).

    ``MLP(MLPConfig((5, 3)))`` and ``MLP([5, 3])`` build the same config; giving a config and
    fields together is refused, since one of them would be silently ignored.
    """
    given = {k: _freeze(v) for k, v in fields.items() if v is not None}
    if isinstance(first, config_cls):
        if given:
            raise ConfigError(
                f"{config_cls.__name__} given together with {sorted(given)}; pass the config alone "
                f"(change it with cfg.replace(...)) or its fields alone"
            )
        return first
    if isinstance(first, Config):
        raise ConfigError(f"expected a {config_cls.__name__}, got a {type(first).__name__}")
    return config_cls(_freeze(first), **given)
