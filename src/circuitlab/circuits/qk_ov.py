"""QK and OV circuits through the embedding and unembedding, and virtual weights.

Elhage et al. (2021), "A Mathematical Framework for Transformer Circuits": a one-layer
attention-only transformer is a sum of paths, and each head's path splits into

    full QK circuit   W_E W_Q^h (W_K^h)^T W_E^T        [d_vocab (query), d_vocab (key)]
    full OV circuit   W_E W_V^h W_O^h W_U              [d_vocab (attended), d_vocab (logit)]

and, between any component that writes to the residual stream and any that reads it, the
virtual weight W_write W_read. All of these are returned as ``FactoredMatrix`` so nothing of
size d_vocab x d_vocab is formed unless you ask for ``.AB``.

LayerNorm (``fold_ln=True``, the default): a reader sees LN(x) = w * (x - mean(x)) / scale + b.
Its centering and its w are linear and are folded into the reading weights,
W -> (I - 11^T / d_model) diag(w) W (TransformerLens's fold_ln + centering); the input-
dependent scale and the bias b are left out, so for a LayerNorm model the circuits are exact up
to a per-position positive scale. For normalization="none" nothing changes.
"""

from __future__ import annotations

import re

from circuitlab.circuits.factored_matrix import FactoredMatrix
from circuitlab.errors import ConfigError
from circuitlab.transformer.norm import RMSNorm
from circuitlab.typing import Float, Tensor

QKV = ("q", "k", "v")


def check_head(model, layer: int, head: int | None = None) -> None:
    """Raise a ConfigError naming the bad layer or head index and the valid range."""
    cfg = model.cfg
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer < cfg.n_layers:
        raise ConfigError(
            f"layer {layer!r} out of range: this model has layers 0..{cfg.n_layers - 1} (n_layers={cfg.n_layers})"
        )
    if head is not None and (
        isinstance(head, bool) or not isinstance(head, int) or not 0 <= head < cfg.n_heads
    ):
        raise ConfigError(
            f"head {head!r} out of range: each layer has heads 0..{cfg.n_heads - 1} (n_heads={cfg.n_heads})"
        )


def fold_norm(norm, W: Float[Tensor, "... d_model d_out"]) -> Float[Tensor, "... d_model d_out"]:
    """(I - 11^T/d) diag(w) W: LayerNorm's linear part folded into a reading weight (identity for "none";
    diag(w) W for RMSNorm, which does not centre)."""
    if not hasattr(norm, "w"):
        return W
    W = norm.w[:, None] * W
    return W if isinstance(norm, RMSNorm) else W - W.mean(-2, keepdim=True)


def reader_weights(
    model, layer: int, which: str, fold_ln: bool = True
) -> Float[Tensor, "n_heads d_model d_head"]:
    """W_Q, W_K or W_V of one layer, with ln1 folded in when ``fold_ln``."""
    if which not in QKV:
        raise ConfigError(f"reader {which!r}: choose one of {', '.join(QKV)}")
    check_head(model, layer)
    block = model.blocks[layer]
    W = getattr(block.attn, f"W_{which.upper()}")
    return fold_norm(block.ln1, W) if fold_ln else W


def unembed_weights(model, fold_ln: bool = True) -> Float[Tensor, "d_model d_vocab"]:
    """W_U with ln_final folded in when ``fold_ln``."""
    return fold_norm(model.ln_final, model.W_U) if fold_ln else model.W_U


def full_ov_circuit(model, layer: int, head: int | None = None, fold_ln: bool = True) -> FactoredMatrix:
    """W_E W_V^h W_O^h W_U: [d_vocab, d_vocab] (or [n_heads, d_vocab, d_vocab] for head=None).

    Entry (a, c): how much attending to token a raises the logit of token c through this head
    (direct path only; for layer > 0 earlier layers also change what the head reads).
    Factored as (W_E W_V)(W_O W_U), inner dim d_head.
    """
    check_head(model, layer, head)
    W_V = reader_weights(model, layer, "v", fold_ln)
    W_O = model.blocks[layer].attn.W_O
    circuit = FactoredMatrix(model.W_E @ W_V, W_O @ unembed_weights(model, fold_ln))
    return circuit if head is None else circuit[head]


def full_qk_circuit(model, layer: int, head: int | None = None, fold_ln: bool = True) -> FactoredMatrix:
    """W_E W_Q^h (W_K^h)^T W_E^T: [d_vocab (query token), d_vocab (key token)] attention scores
    (before the 1/sqrt(d_head) scale) from tokens alone; [n_heads, ...] for head=None."""
    check_head(model, layer, head)
    W_Q = reader_weights(model, layer, "q", fold_ln)
    W_K = reader_weights(model, layer, "k", fold_ln)
    circuit = FactoredMatrix(model.W_E @ W_Q, (model.W_E @ W_K).transpose(-2, -1))
    return circuit if head is None else circuit[head]


def positional_qk_circuit(model, layer: int, head: int | None = None, fold_ln: bool = True) -> FactoredMatrix:
    """W_pos W_Q^h (W_K^h)^T W_pos^T: [n_ctx (query pos), n_ctx (key pos)], the part of the
    attention score that depends on positions alone.

    Learned/sinusoidal positions enter the residual stream and pass through ln1 (folded when
    ``fold_ln``); shortformer positions are added after ln1, straight into Q and K, so they meet
    the raw W_Q and W_K.
    """
    check_head(model, layer, head)
    if model.cfg.positional == "none":
        raise ConfigError('positional_qk_circuit: this model has positional="none", so no W_pos')
    fold = fold_ln and (model.cfg.positional != "shortformer" or model.cfg.shortformer_pos_in_norm)
    W_Q = reader_weights(model, layer, "q", fold)
    W_K = reader_weights(model, layer, "k", fold)
    W_pos = model.W_pos
    circuit = FactoredMatrix(W_pos @ W_Q, (W_pos @ W_K).transpose(-2, -1))
    return circuit if head is None else circuit[head]


# ---- virtual weights between any writer and any reader --------------------------------------
_WRITER = re.compile(r"^(embed|pos_embed|L(\d+)H(\d+)|mlp(\d+))$")
_READER = re.compile(r"^(unembed|L(\d+)H(\d+)\.([qkv])|mlp(\d+))$")
_LATE = 10**9


def _writer(model, spec: str) -> tuple[Tensor, tuple[int, int]]:
    """The writing matrix [d_in, d_model] and its place (layer, 0 attn / 1 mlp) in the stream."""
    m = _WRITER.match(spec) if isinstance(spec, str) else None
    if m is None:
        raise ConfigError(f"writer {spec!r}: use 'embed', 'pos_embed', 'L<layer>H<head>' or 'mlp<layer>'")
    if spec == "embed":
        return model.W_E, (-1, 0)
    if spec == "pos_embed":
        return model.W_pos, (-1, 0)
    if m.group(2) is not None:
        layer, head = int(m.group(2)), int(m.group(3))
        check_head(model, layer, head)
        return model.blocks[layer].attn.W_O[head], (layer, 0)
    layer = int(m.group(4))
    check_head(model, layer)
    if not model.cfg.has_mlp:
        raise ConfigError(f"writer {spec!r}: this model is attention-only and has no MLPs")
    return model.blocks[layer].mlp.W_out, (layer, 1)


def _reader(model, spec: str, fold_ln: bool, raw: bool) -> tuple[Tensor, tuple[int, int]]:
    """The reading matrix [d_model, d_out] and its place in the stream."""
    m = _READER.match(spec) if isinstance(spec, str) else None
    if m is None:
        raise ConfigError(f"reader {spec!r}: use 'unembed', 'L<layer>H<head>.q|k|v' or 'mlp<layer>'")
    if spec == "unembed":
        return unembed_weights(model, fold_ln), (_LATE, 0)
    if m.group(2) is not None:
        layer, head = int(m.group(2)), int(m.group(3))
        check_head(model, layer, head)
        return reader_weights(model, layer, m.group(4), fold_ln and not raw)[head], (layer, 0)
    layer = int(m.group(5))
    check_head(model, layer)
    if not model.cfg.has_mlp:
        raise ConfigError(f"reader {spec!r}: this model is attention-only and has no MLPs")
    block = model.blocks[layer]
    W_in = fold_norm(block.ln2, block.mlp.W_in) if fold_ln else block.mlp.W_in
    return W_in, (layer, 1)


def virtual_weights(model, writer: str, reader: str, fold_ln: bool = True) -> FactoredMatrix:
    """W_write W_read as a FactoredMatrix [d_in of writer, d_out of reader].

    Writers: 'embed' (W_E), 'pos_embed' (W_pos), 'L<l>H<h>' (W_O), 'mlp<l>' (W_out).
    Readers: 'L<l>H<h>.q|k|v' (W_Q/W_K/W_V), 'mlp<l>' (W_in), 'unembed' (W_U).
    The writer must write before the reader reads (an attention layer's output reaches the MLP
    of the same layer). Shortformer positions never enter the stream: 'pos_embed' then reaches
    only Q and K, added after ln1 (so no LayerNorm is folded on that path).
    Source: Elhage et al. (2021), "Virtual Weights and Convenient Analysis".
    """
    W_write, w_at = _writer(model, writer)
    shortformer_pos = writer == "pos_embed" and model.cfg.positional == "shortformer"
    if shortformer_pos and not re.search(r"\.[qk]$", str(reader)):
        raise ConfigError(
            f"virtual_weights(pos_embed, {reader!r}): shortformer positions reach only Q and K inputs; "
            "pick a reader 'L<l>H<h>.q' or '.k'"
        )
    W_read, r_at = _reader(
        model, reader, fold_ln, raw=shortformer_pos and not model.cfg.shortformer_pos_in_norm
    )
    if not w_at < r_at:
        raise ConfigError(
            f"virtual_weights({writer!r}, {reader!r}): {writer} writes after {reader} reads; "
            "pick a writer in an earlier layer (or a reader in a later one)"
        )
    return FactoredMatrix(W_write, W_read)


__all__ = [
    "check_head",
    "fold_norm",
    "full_ov_circuit",
    "full_qk_circuit",
    "positional_qk_circuit",
    "reader_weights",
    "unembed_weights",
    "virtual_weights",
]
