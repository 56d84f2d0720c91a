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
from typing import Any, Self

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
        raise ConfigError(f"{_where(cfg, name)}: must be a finite number{' ' + bounds if bounds else ''}")


def check_bool(cfg: Any, name: str) -> None:
    """``cfg.name`` is True or False (not 0/1, not a string)."""
    if not isinstance(getattr(cfg, name), bool):
        raise ConfigError(f"{_where(cfg, name)}: must be True or False")


def check_choice(cfg: Any, name: str, allowed: Iterable[Any]) -> None:
    """``cfg.name`` is one of ``allowed``."""
    allowed = tuple(allowed)
    if getattr(cfg, name) not in allowed:
        raise ConfigError(f"{_where(cfg, name)}: choose one of {', '.join(map(str, allowed))}")


@dataclasses.dataclass(frozen=True)
class Config:
    """Base of every model config: ``to_dict``/``from_dict`` (JSON, unknown keys refused by name)
    and ``replace``. Subclasses are ``@dataclass(frozen=True)`` and validate in ``__post_init__``."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        """Build from a dict (e.g. a checkpoint's JSON), refusing unknown keys by name."""
        if not isinstance(data, dict):
            raise ConfigError(f"a {cls.__name__} needs a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.__name__} keys {unknown}; known keys: {sorted(known)}")
        data = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
        return cls(**data)

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)
