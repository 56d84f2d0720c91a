"""Move a transformer between circuitlab and TransformerLens without losing a digit.

circuitlab's ``Transformer`` already uses TransformerLens's weight names, shapes and hook names,
so a conversion is a config translation plus a copy of every parameter:

    circuitlab                         TransformerLens 3.9 ``HookedTransformerConfig``
    positional="learned"               positional_embedding_type="standard"
    positional="shortformer"           positional_embedding_type="shortformer"
    positional="sinusoidal"            "standard", W_pos = the sinusoidal table (frozen)
    positional="none"                  "standard", W_pos = 0 (frozen)
    normalization="layernorm"/"none"   normalization_type="LN"/None
    activation, ln_eps, d_mlp          act_fn, eps, d_mlp

TransformerLens never processes the weights here (``HookedTransformer(cfg)`` + ``load_state_dict``),
so logits agree to float rounding; ``transformer_lens`` (extra ``interop``) is imported on use.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch

from circuitlab.errors import ConfigError
from circuitlab.interop.transformer_lens_tokenizer import attach_tokenizer
from circuitlab.transformer import Transformer, TransformerConfig
from circuitlab.transformer.embed import sinusoidal_table

if TYPE_CHECKING:  # pragma: no cover
    from transformer_lens import HookedTransformer

INSTALL_HINT = "pip install 'circuitlab[interop]'"
CONFIG_JSON, WEIGHTS = "config.json", "model.safetensors"


def _tl():
    """The ``transformer_lens`` package, or an ImportError that names the extra to install."""
    try:
        import transformer_lens
    except ImportError as err:
        raise ImportError(
            f"TransformerLens interop needs the optional package transformer-lens==3.9.0: {INSTALL_HINT}"
        ) from err
    return transformer_lens


# (field, the values this conversion carries exactly, what the others are)
_EXPORTABLE: tuple[tuple[str, tuple[Any, ...], str], ...] = (
    ("positional", ("sinusoidal", "learned", "shortformer", "none"), "rotary positions"),
    ("normalization", ("layernorm", "none"), "RMSNorm"),
    ("activation", ("gelu", "relu"), "gelu_new/silu MLPs"),
    ("mlp", ("plain",), "gated MLPs"),
    ("n_key_value_heads", (None,), "grouped-query attention"),
    ("parallel_attn_mlp", (False,), "parallel attention and MLP"),
    ("tie_embeddings", (False,), "tied embeddings"),
    ("ln_bias", (True,), "LayerNorm without bias"),
)


def _check_exportable(cfg: TransformerConfig) -> None:
    """Refuse, naming the field, a config this round trip does not carry over exactly."""
    for field, carried, feature in _EXPORTABLE:
        value = getattr(cfg, field)
        if value not in carried:
            raise ConfigError(
                f"TransformerConfig.{field}={value!r}: the TransformerLens round trip does not carry "
                f"{feature}; analyse this model in circuitlab (cl.Transformer.from_pretrained), or load "
                "the Hugging Face checkpoint in TransformerLens directly"
            )


def _tl_config_kwargs(cfg: TransformerConfig) -> dict[str, Any]:
    """HookedTransformerConfig keyword arguments (JSON-safe) for a circuitlab config."""
    _check_exportable(cfg)
    if cfg.shortformer_pos_in_norm:
        raise ConfigError(
            "shortformer_pos_in_norm=True (Q and K read LN1(resid + W_pos)) has no TransformerLens "
            "equivalent (TransformerLens adds W_pos after LN1); convert a model trained without it"
        )
    return {
        "model_name": "circuitlab",
        "n_layers": cfg.n_layers,
        "d_model": cfg.d_model,
        "n_heads": cfg.n_heads,
        "d_head": cfg.d_head,
        "d_vocab": cfg.d_vocab,
        "d_vocab_out": cfg.d_vocab,
        "n_ctx": cfg.n_ctx,
        "attn_only": cfg.attn_only,
        "d_mlp": cfg.d_mlp_resolved,
        "act_fn": cfg.activation,
        "eps": cfg.ln_eps,
        "normalization_type": "LN" if cfg.normalization == "layernorm" else None,
        "positional_embedding_type": "shortformer" if cfg.positional == "shortformer" else "standard",
        "default_prepend_bos": False,
        "initializer_range": cfg.init_range,
        "init_weights": False,  # every weight is copied; do not draw from the global RNG
    }


def _tl_state_dict(model: Transformer) -> dict[str, torch.Tensor]:
    """circuitlab's parameters under TransformerLens's names (identical names; W_pos = 0 for "none")."""
    state = {k: v.detach() for k, v in model.state_dict().items()}
    if model.cfg.positional == "none":
        ref = model.W_E
        state["pos_embed.W_pos"] = torch.zeros(
            model.cfg.n_ctx, model.cfg.d_model, dtype=ref.dtype, device=ref.device
        )
    return state


def to_transformer_lens(model: Transformer) -> HookedTransformer:
    """A ``HookedTransformer`` that computes the same function as ``model``, with copied weights.

    ``default_prepend_bos=False`` unless the model has a BPE tokenizer, which the twin then gets with
    the model's ``default_prepend_bos`` and ``padding_side``; ``use_attn_result=False`` (TL's
    default; turn on with ``set_use_attn_result(True)``). For ``positional="sinusoidal"`` or
    ``"none"`` TL's learned ``W_pos`` holds the table or zeros with ``requires_grad=False``.
    """
    if not isinstance(model, Transformer):
        raise ConfigError(
            f"to_transformer_lens needs a circuitlab Transformer, got {type(model).__name__}; "
            "only the decoder-only transformer has a TransformerLens counterpart"
        )
    tl = _tl()
    ref = model.W_E
    kwargs = _tl_config_kwargs(model.cfg) | {"device": str(ref.device), "dtype": ref.dtype}
    hooked = tl.HookedTransformer(tl.HookedTransformerConfig(**kwargs), move_to_device=True)
    hooked.cfg.seed = model.cfg.seed  # recorded after construction: TL reseeds the global RNG from it
    _load_exactly(hooked, _tl_state_dict(model))
    if model.cfg.positional in ("sinusoidal", "none"):
        hooked.pos_embed.W_pos.requires_grad_(False)
    attach_tokenizer(hooked, model)  # the same text on both sides (transformer_lens_tokenizer)
    return hooked.train(model.training)


def _load_exactly(hooked: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """load_state_dict with every parameter present; only TL's own buffers may be missing."""
    params = dict(hooked.named_parameters())
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(hooked.state_dict()))
    if missing or unexpected:
        raise ConfigError(
            f"weights do not match the TransformerLens model: missing {missing[:4]}, unexpected "
            f"{unexpected[:4]}; export a circuitlab Transformer of the same config"
        )
    hooked.load_state_dict(state, strict=False)


_REFUSALS: tuple[tuple[str, Any, str], ...] = (
    # (field, the value circuitlab supports, what the feature is)
    ("parallel_attn_mlp", False, "parallel attention and MLP"),
    ("gated_mlp", False, "gated MLPs"),
    ("n_key_value_heads", None, "grouped-query attention"),
    ("use_local_attn", False, "local attention"),
    ("num_experts", None, "mixture of experts"),
    ("final_rms", False, "a final RMSNorm"),
    ("post_embedding_ln", False, "a LayerNorm after the embedding"),
    ("use_normalization_before_and_after", False, "normalization after each sublayer"),
    ("use_qk_norm", False, "query/key normalization"),
    ("clip_qkv", None, "clipped q/k/v"),
    ("use_attention_sinks", False, "attention sinks"),
    ("use_logn_attn", False, "log-n attention scaling"),
    ("scale_attn_by_inverse_layer_idx", False, "per-layer attention scaling"),
    ("use_attn_scale", True, "unscaled attention scores"),
    ("attention_dir", "causal", "bidirectional attention"),
    ("attn_scores_soft_cap", -1.0, "soft-capped attention scores"),
    ("output_logits_soft_cap", -1.0, "soft-capped logits"),
)
_POSITIONAL_MAP = {"standard": "learned", "shortformer": "shortformer"}
_NORM_MAP = {"LN": "layernorm", None: "none"}


def _check_representable(tl_cfg: Any) -> None:
    """Raise ConfigError naming the first TransformerLens feature circuitlab cannot represent."""
    for field, supported, feature in _REFUSALS:
        value = getattr(tl_cfg, field, supported)
        if value != supported:
            raise ConfigError(
                f"HookedTransformerConfig.{field}={value!r}: the TransformerLens import does not carry "
                f"{feature} (needs {field}={supported!r}); for a Hugging Face model use "
                "cl.Transformer.from_pretrained, else keep it in TransformerLens"
            )
    checks = [
        (
            "positional_embedding_type",
            tl_cfg.positional_embedding_type in _POSITIONAL_MAP,
            "'standard' or 'shortformer' (rotary models load with cl.Transformer.from_pretrained)",
        ),
        (
            "normalization_type",
            tl_cfg.normalization_type in _NORM_MAP,
            "'LN' or None; load the model without folding (from_pretrained_no_processing or fold_ln=False) "
            "for LN; RMSNorm models load with cl.Transformer.from_pretrained",
        ),
        (
            "attn_scale",
            math.isclose(tl_cfg.attn_scale, math.sqrt(tl_cfg.d_head), rel_tol=1e-6),
            f"sqrt(d_head) = {math.sqrt(tl_cfg.d_head):g}",
        ),
        ("d_vocab_out", tl_cfg.d_vocab_out == tl_cfg.d_vocab, f"d_vocab = {tl_cfg.d_vocab}"),
        (
            "original_architecture",
            tl_cfg.original_architecture not in _post_norm_architectures(),
            "a pre-norm architecture (circuitlab's blocks are pre-norm)",
        ),
    ]
    if not tl_cfg.attn_only:
        checks.append(
            (
                "act_fn",
                tl_cfg.act_fn in ("gelu", "relu"),
                "'gelu' (exact, erf) or 'relu' in this import; gelu_new/silu models load with "
                "cl.Transformer.from_pretrained",
            )
        )
    for field, ok, need in checks:
        if not ok:
            raise ConfigError(
                f"HookedTransformerConfig.{field}={getattr(tl_cfg, field)!r}: circuitlab needs {need}"
            )


def _post_norm_architectures() -> tuple[str, ...]:
    from transformer_lens.utilities.architectures import POST_NORM_ARCHITECTURES

    return tuple(POST_NORM_ARCHITECTURES)


def _config_from_tl(tl_cfg: Any, positional: str | None) -> TransformerConfig:
    base = _POSITIONAL_MAP[tl_cfg.positional_embedding_type]
    if positional is None:
        positional = base
    elif (base == "shortformer") != (positional == "shortformer"):
        raise ConfigError(
            f"positional={positional!r} does not fit positional_embedding_type="
            f"{tl_cfg.positional_embedding_type!r}; use {base!r}"
            + ("" if base == "shortformer" else ", 'sinusoidal' or 'none'")
        )
    activation = tl_cfg.act_fn if tl_cfg.act_fn in ("gelu", "relu") else "gelu"
    return TransformerConfig(
        n_layers=tl_cfg.n_layers,
        d_model=tl_cfg.d_model,
        n_heads=tl_cfg.n_heads,
        d_head=tl_cfg.d_head,
        d_vocab=tl_cfg.d_vocab,
        n_ctx=tl_cfg.n_ctx,
        attn_only=bool(tl_cfg.attn_only),
        d_mlp=None if tl_cfg.attn_only else tl_cfg.d_mlp,
        positional=positional,
        normalization=_NORM_MAP[tl_cfg.normalization_type],
        activation=activation,
        ln_eps=float(tl_cfg.eps),
        init_range=float(tl_cfg.initializer_range) if tl_cfg.initializer_range > 0 else 0.02,
        seed=int(tl_cfg.seed) if tl_cfg.seed is not None else 0,
    )


def _check_fixed_positions(W_pos: torch.Tensor, positional: str) -> None:
    """A "sinusoidal"/"none" conversion must not drop what TL's W_pos holds."""
    want = sinusoidal_table(*W_pos.shape) if positional == "sinusoidal" else torch.zeros(W_pos.shape)
    err = (W_pos.detach().float().cpu() - want).abs().max().item()
    if err > 1e-6:
        what = "the sinusoidal table" if positional == "sinusoidal" else "zero"
        raise ConfigError(
            f"positional={positional!r}: TL's W_pos differs from {what} by up to {err:.3g}; "
            "convert with positional='learned' to keep the learned positions"
        )


def from_transformer_lens(hooked: HookedTransformer, positional: str | None = None) -> Transformer:
    """A circuitlab ``Transformer`` with ``hooked``'s config and a copy of its weights.

    TL ``"standard"`` positions become ``"learned"``; pass ``positional="sinusoidal"`` or
    ``"none"`` for a model whose ``W_pos`` is the sinusoidal table or zero (what
    ``to_transformer_lens`` writes for those schemes). Refuses, with a ConfigError naming the
    field, what circuitlab cannot represent: rotary/ALiBi positions, LNPre/RMS norms (folded
    weights), parallel attention+MLP, grouped-query attention, gated or non-gelu/relu MLPs, ...
    """
    tl = _tl()
    if not isinstance(hooked, tl.HookedTransformer):
        raise ConfigError(f"from_transformer_lens needs a HookedTransformer, got {type(hooked).__name__}")
    _check_representable(hooked.cfg)
    cfg = _config_from_tl(hooked.cfg, positional)
    tl_state = hooked.state_dict()
    if cfg.positional in ("sinusoidal", "none"):
        _check_fixed_positions(tl_state["pos_embed.W_pos"], cfg.positional)
    W_E = tl_state["embed.W_E"]
    model = Transformer(cfg).to(device=W_E.device, dtype=W_E.dtype)
    ours = model.state_dict()
    missing = sorted(k for k in ours if k not in tl_state)
    if missing:
        raise ConfigError(f"the TransformerLens model has no weights {missing[:4]}; it cannot be converted")
    model.load_state_dict({k: tl_state[k].detach().clone() for k in ours})
    return model.train(hooked.training)


__all__ = ["from_transformer_lens", "to_transformer_lens"]
