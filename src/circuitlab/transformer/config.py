"""TransformerConfig: one frozen, validated description of a decoder-only transformer."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from circuitlab.errors import ConfigError

Positional = Literal["sinusoidal", "learned", "shortformer", "none"]
Normalization = Literal["layernorm", "none"]
Activation = Literal["gelu", "relu"]
PosInit = Literal["normal", "sinusoidal"]
POSITIONAL = ("sinusoidal", "learned", "shortformer", "none")
NORMALIZATION = ("layernorm", "none")
ACTIVATION = ("gelu", "relu")


@dataclass(frozen=True)
class TransformerConfig:
    """Shapes and choices of a decoder-only transformer (Elhage et al. 2021 notation).

    ``n_layers = 0`` is valid: embed then unembed, the framework's bigram model.
    ``positional="shortformer"`` adds positions only to the query and key inputs, never to
    the residual stream. ``d_mlp`` defaults to ``4 * d_model`` when the model has MLPs and must
    stay ``None`` for an attention-only model. A learned W_pos starts as N(0, pos_init_range^2)
    (``pos_init="normal"``; ``pos_init_range=None`` means ``init_range``) or as pos_init_range
    times the sinusoidal table (``pos_init="sinusoidal"``): shortformer models form
    previous-token heads much sooner when W_pos starts at the LayerNorm output scale (about 1).
    ``shortformer_pos_in_norm=True`` feeds the query and key LN1(resid + W_pos) instead of
    TransformerLens's LN1(resid) + W_pos (the value still reads LN1(resid)).
    """

    n_layers: int = 2
    d_model: int = 256
    n_heads: int = 8
    d_head: int = 32
    d_vocab: int = 4096
    n_ctx: int = 256
    attn_only: bool = True
    d_mlp: int | None = None
    positional: Positional = "shortformer"
    normalization: Normalization = "layernorm"
    activation: Activation = "gelu"
    ln_eps: float = 1e-5
    init_range: float = 0.02
    pos_init_range: float | None = None
    pos_init: PosInit = "normal"
    shortformer_pos_in_norm: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in (
            ("n_layers", 0),
            ("d_model", 1),
            ("n_heads", 1),
            ("d_head", 1),
            ("d_vocab", 2),
            ("n_ctx", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"TransformerConfig.{name}={value!r}: must be an integer >= {low}")
        for name, allowed in (
            ("positional", POSITIONAL),
            ("normalization", NORMALIZATION),
            ("activation", ACTIVATION),
        ):
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"TransformerConfig.{name}={getattr(self, name)!r}: choose one of {', '.join(allowed)}"
                )
        if self.attn_only and self.d_mlp is not None:
            raise ConfigError(
                f"TransformerConfig.d_mlp={self.d_mlp}: an attention-only model has no MLP; "
                "drop d_mlp or set attn_only=False"
            )
        if self.d_mlp is not None and not _is_int(self.d_mlp, 1):
            raise ConfigError(f"TransformerConfig.d_mlp={self.d_mlp!r}: must be an integer >= 1")
        if not _is_int(self.seed, 0):
            raise ConfigError(f"TransformerConfig.seed={self.seed!r}: must be an integer >= 0")
        if not isinstance(self.attn_only, bool):
            raise ConfigError(f"TransformerConfig.attn_only={self.attn_only!r}: must be true or false")
        for name in ("ln_eps", "init_range"):
            if not _is_positive(getattr(self, name)):
                raise ConfigError(f"TransformerConfig.{name}={getattr(self, name)!r}: must be a number > 0")
        if self.pos_init not in ("normal", "sinusoidal"):
            raise ConfigError(f"TransformerConfig.pos_init={self.pos_init!r}: choose normal or sinusoidal")
        if self.pos_init_range is not None and not _is_positive(self.pos_init_range):
            raise ConfigError(
                f"TransformerConfig.pos_init_range={self.pos_init_range!r}: must be > 0 (or None for init_range)"
            )

    @property
    def d_mlp_resolved(self) -> int | None:
        """The MLP width: ``None`` for attention-only models, else ``d_mlp or 4 * d_model``."""
        return None if self.attn_only else (self.d_mlp or 4 * self.d_model)

    @property
    def has_mlp(self) -> bool:
        return not self.attn_only

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TransformerConfig:
        """Build from a dict (e.g. a checkpoint's JSON), refusing unknown keys by name."""
        if not isinstance(data, dict):
            raise ConfigError(f"a TransformerConfig needs a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown TransformerConfig keys {unknown}; known keys: {sorted(known)}")
        return cls(**data)

    def replace(self, **changes: Any) -> TransformerConfig:
        return dataclasses.replace(self, **changes)


def _is_int(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_positive(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    )
