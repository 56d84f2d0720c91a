"""TransformerLens's weight processing, as options that never change what the model computes.

    fold_ln                 LN(x) W = x_hat (w * W) + b W: each norm's gain w scales the rows of the
                            weights that read it (W_Q, W_K, W_V; W_in, W_gate; W_U), its bias b moves
                            into their biases, and the norm is left with w = 1, b = 0. For LayerNorm
                            the readers are also centred over d_model (x_hat has zero mean).
    center_writing_weights  every matrix writing to the residual stream (W_E, W_pos, W_O, b_O, W_out,
                            b_out) loses its mean over d_model: LayerNorm removes that mean anyway.
    center_unembed          W_U and b_U lose their mean over the vocabulary: every logit of a position
                            moves by the same amount, so the log-probabilities are unchanged.
    fold_value_biases       b_O <- b_O + sum_h b_V^h W_O^h, b_V <- 0: a pattern row sums to 1, so the
                            value bias always adds exactly that.

The logits are unchanged (to float rounding) by fold_ln, center_writing_weights and
fold_value_biases; center_unembed shifts them by a constant per position (log_softmax unchanged),
as in TransformerLens. A tied unembedding is untied first when W_E or W_U would change.
Centring needs LayerNorm (RMSNorm keeps the mean), and folding needs a norm.
"""

from __future__ import annotations

import torch
from einops import einsum

from circuitlab.errors import ConfigError
from circuitlab.transformer import Transformer
from circuitlab.transformer.embed import Unembed


def untie(model: Transformer) -> None:
    """Give a tied model its own W_U = W_E^T (copied), so W_E and W_U can change apart."""
    if not model.cfg.tie_embeddings:
        return
    W_E, b_U = model.W_E, model.b_U
    unembed = Unembed(model.cfg.d_model, model.cfg.d_vocab).to(device=W_E.device, dtype=W_E.dtype)
    with torch.no_grad():
        unembed.W_U.copy_(W_E.T)
        unembed.b_U.copy_(b_U)
    model.unembed = unembed
    model.cfg = model.cfg.replace(tie_embeddings=False)


def fold_norm_into(
    norm: torch.nn.Module, readers: list[tuple[torch.Tensor, torch.Tensor]], center: bool
) -> None:
    """Fold ``norm``'s gain and bias into the [..., d_model, out] weights and [..., out] biases that read it."""
    b = getattr(norm, "b", None)
    for W, bias in readers:
        if b is not None:
            bias.add_(einsum(b, W, "d, ... d o -> ... o"))
        W.mul_(norm.w[:, None])
        if center:
            W.sub_(W.mean(-2, keepdim=True))
    norm.w.fill_(1.0)
    if b is not None:
        b.zero_()


def attention_readers(attn: torch.nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(W, b) of q, k and v, as stored (grouped key/value heads keep their own stacks)."""
    g = "_" if hasattr(attn, "_W_K") else ""
    return [
        (getattr(attn, f"{p}W_{x}"), getattr(attn, f"{p}b_{x}")) for p, x in (("", "Q"), (g, "K"), (g, "V"))
    ]


def fold_layer_norms(model: Transformer) -> None:
    if model.cfg.normalization not in ("layernorm", "rmsnorm"):
        raise ConfigError(f'fold_ln: normalization="{model.cfg.normalization}" has no norm to fold')
    center = model.cfg.normalization == "layernorm"
    for block in model.blocks:
        fold_norm_into(block.ln1, attention_readers(block.attn), center)
        if hasattr(block, "mlp"):
            mlp = block.mlp
            readers = [(mlp.W_in, mlp.b_in)] + ([(mlp.W_gate, mlp.b_gate)] if hasattr(mlp, "W_gate") else [])
            fold_norm_into(block.ln2, readers, center)
    untie(model)
    fold_norm_into(model.ln_final, [(model.unembed.W_U, model.unembed.b_U)], center)


def center_writers(model: Transformer) -> None:
    if model.cfg.normalization != "layernorm":
        raise ConfigError(
            f'center_writing_weights needs normalization="layernorm" (got "{model.cfg.normalization}"): '
            "only LayerNorm removes the mean the centring drops"
        )
    untie(model)
    writers = [model.W_E] + ([model.pos_embed.W_pos] if model.cfg.has_pos_embed else [])
    for block in model.blocks:
        writers += [block.attn.W_O, block.attn.b_O]
        if hasattr(block, "mlp"):
            writers += [block.mlp.W_out, block.mlp.b_out]
    for W in writers:
        W.sub_(W.mean(-1, keepdim=True))


def center_unembedding(model: Transformer) -> None:
    untie(model)
    model.unembed.W_U.sub_(model.unembed.W_U.mean(-1, keepdim=True))
    model.unembed.b_U.sub_(model.unembed.b_U.mean())


def fold_value_bias(model: Transformer) -> None:
    for block in model.blocks:
        attn = block.attn
        attn.b_O.add_(einsum(attn.b_V, attn.W_O, "h e, h e d -> d"))  # b_V per query head
        (attn._b_V if hasattr(attn, "_b_V") else attn.b_V).zero_()


def process_weights(
    model: Transformer,
    fold_ln: bool = False,
    center_writing_weights: bool = False,
    center_unembed: bool = False,
    fold_value_biases: bool = False,
) -> Transformer:
    """Apply the chosen steps in TransformerLens's order (see the module docstring); in place."""
    with torch.no_grad():
        if fold_ln:
            fold_layer_norms(model)
        if center_writing_weights:
            center_writers(model)
        if center_unembed:
            center_unembedding(model)
        if fold_value_biases:
            fold_value_bias(model)
    return model


__all__ = ["process_weights", "untie"]
