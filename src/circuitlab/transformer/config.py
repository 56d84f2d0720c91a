"""TransformerConfig: one frozen, validated description of a decoder-only transformer."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from circuitlab.errors import ConfigError

Positional = Literal["sinusoidal", "learned", "shortformer", "none"]
Normalization = Literal["layernorm", "none"]
Activation = Literal["gelu", "relu"]
POSITIONAL = ("sinusoidal", "learned", "shortformer", "none")
NORMALIZATION = ("layernorm", "none")
ACTIVATION = ("gelu", "relu")


@dataclass(frozen=True)
class TransformerConfig:
    """Shapes and choices of a decoder-only transformer (Elhage et al. 2021 notation).

    ``n_layers = 0`` is valid: embed then unembed, the framework's bigram model.
    ``positional="shortformer"`` adds positions only to the query and key inputs, never to
    the residual stream. ``d_mlp`` defaults to ``4 * d_model`` when the model has MLPs and must
    stay ``None`` for an attention-only model.
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
        if self.d_mlp is not None and (not isinstance(self.d_mlp, int) or self.d_mlp < 1):
            raise ConfigError(f"TransformerConfig.d_mlp={self.d_mlp!r}: must be an integer >= 1")
        if not self.ln_eps > 0:
            raise ConfigError(f"TransformerConfig.ln_eps={self.ln_eps!r}: must be > 0")
        if not self.init_range > 0:
            raise ConfigError(f"TransformerConfig.init_range={self.init_range!r}: must be > 0")

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
