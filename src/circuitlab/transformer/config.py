"""TransformerConfig: one frozen, validated description of a decoder-only transformer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from circuitlab.config import Config, check_bool, check_choice, check_int, check_number
from circuitlab.errors import ConfigError

Positional = Literal["sinusoidal", "learned", "shortformer", "none"]
Normalization = Literal["layernorm", "none"]
Activation = Literal["gelu", "relu"]
PosInit = Literal["normal", "sinusoidal"]
POSITIONAL = ("sinusoidal", "learned", "shortformer", "none")
NORMALIZATION = ("layernorm", "none")
ACTIVATION = ("gelu", "relu")
POS_INIT = ("normal", "sinusoidal")


@dataclass(frozen=True)
class TransformerConfig(Config):
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
            check_int(self, name, low=low)
        check_choice(self, "positional", POSITIONAL)
        check_choice(self, "normalization", NORMALIZATION)
        check_choice(self, "activation", ACTIVATION)
        if self.attn_only and self.d_mlp is not None:
            raise ConfigError(
                f"TransformerConfig.d_mlp={self.d_mlp}: an attention-only model has no MLP; "
                "drop d_mlp or set attn_only=False"
            )
        check_int(self, "d_mlp", low=1, optional=True)
        check_int(self, "seed", low=0)
        check_bool(self, "attn_only")
        for name in ("ln_eps", "init_range"):
            check_number(self, name, low=0, strict_low=True)
        check_choice(self, "pos_init", POS_INIT)
        check_number(self, "pos_init_range", low=0, strict_low=True, optional=True)  # None: init_range
        check_bool(self, "shortformer_pos_in_norm")

    @property
    def d_mlp_resolved(self) -> int | None:
        """The MLP width: ``None`` for attention-only models, else ``d_mlp or 4 * d_model``."""
        return None if self.attn_only else (self.d_mlp or 4 * self.d_model)

    @property
    def has_mlp(self) -> bool:
        return not self.attn_only
