"""TransformerConfig: one frozen, validated description of a decoder-only transformer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from circuitlab.config import Config, check_bool, check_choice, check_int, check_number
from circuitlab.errors import ConfigError

Positional = Literal["sinusoidal", "learned", "shortformer", "rotary", "none"]
Normalization = Literal["layernorm", "rmsnorm", "none"]
Activation = Literal["gelu", "relu", "gelu_new", "silu"]
MLPKind = Literal["plain", "gated"]
PosInit = Literal["normal", "sinusoidal"]
POSITIONAL = ("sinusoidal", "learned", "shortformer", "rotary", "none")
NORMALIZATION = ("layernorm", "rmsnorm", "none")
ACTIVATION = ("gelu", "relu", "gelu_new", "silu")
MLP_KIND = ("plain", "gated")
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

    The pretrained families add (defaults keep every earlier model and checkpoint identical):
    ``positional="rotary"`` rotates the first ``rotary_dim`` (default d_head) dimensions of q and
    k by position (GPT-NeoX's rotate-half layout, base ``rotary_base``); ``normalization="rmsnorm"``;
    ``ln_bias=False`` (LayerNorm without b); ``mlp="gated"`` (act(x W_gate) * (x W_in), SwiGLU with
    ``activation="silu"``, GeGLU with a gelu); ``n_key_value_heads`` key/value heads shared by
    groups of query heads (grouped-query attention); ``parallel_attn_mlp`` (GPT-NeoX's
    resid_pre + Attn(LN1(resid_pre)) + MLP(LN2(resid_pre))); ``tie_embeddings`` (W_U = W_E^T).
    ``activation="gelu_new"`` is GPT-2's tanh approximation of gelu.
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
    mlp: MLPKind = "plain"
    n_key_value_heads: int | None = None
    parallel_attn_mlp: bool = False
    rotary_dim: int | None = None
    rotary_base: float = 10000.0
    tie_embeddings: bool = False
    ln_bias: bool = True

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
        self.check_pretrained_choices()

    def check_pretrained_choices(self) -> None:
        """The fields the pretrained families need, each refused alone with the fix."""
        check_choice(self, "mlp", MLP_KIND)
        for name in ("parallel_attn_mlp", "tie_embeddings", "ln_bias"):
            check_bool(self, name)
        check_number(self, "rotary_base", low=0, strict_low=True)
        check_int(self, "n_key_value_heads", low=1, optional=True)
        if self.n_key_value_heads is not None and self.n_heads % self.n_key_value_heads:
            raise ConfigError(
                f"TransformerConfig.n_key_value_heads={self.n_key_value_heads}: must divide "
                f"n_heads={self.n_heads} (each key/value head serves a group of query heads)"
            )
        check_int(self, "rotary_dim", low=2, optional=True)
        if self.rotary_dim is not None and (self.rotary_dim % 2 or self.rotary_dim > self.d_head):
            raise ConfigError(
                f"TransformerConfig.rotary_dim={self.rotary_dim}: must be even and <= d_head={self.d_head}"
            )
        if self.attn_only and (self.mlp != "plain" or self.parallel_attn_mlp):
            raise ConfigError(
                f"TransformerConfig mlp={self.mlp!r}, parallel_attn_mlp={self.parallel_attn_mlp}: an "
                "attention-only model has no MLP; set attn_only=False or drop them"
            )

    @property
    def d_mlp_resolved(self) -> int | None:
        """The MLP width: ``None`` for attention-only models, else ``d_mlp or 4 * d_model``."""
        return None if self.attn_only else (self.d_mlp or 4 * self.d_model)

    @property
    def has_mlp(self) -> bool:
        return not self.attn_only

    @property
    def has_pos_embed(self) -> bool:
        """Whether the model holds a W_pos table (rotary and "none" positions have none)."""
        return self.positional in ("sinusoidal", "learned", "shortformer")

    @property
    def n_kv_heads(self) -> int:
        """Key/value heads: ``n_key_value_heads``, or ``n_heads`` (one per query head)."""
        return self.n_key_value_heads or self.n_heads

    @property
    def rotary_dim_resolved(self) -> int:
        """Dimensions of each q/k head that rotary positions rotate: ``rotary_dim or d_head``."""
        return self.rotary_dim or self.d_head
