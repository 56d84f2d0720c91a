"""What ``Transformer.forward`` returns, and the layers it runs: TransformerLens 3.9's options.

    return_type  "logits"  x W_U + b_U                                     [batch, pos, d_vocab]
                 "loss"    mean next-token cross-entropy                    []
                 "both"    Output(logits, loss)
                 None      nothing (the forward runs up to ln_final, for its hooks)
    loss_per_token         -log p(t_{i+1} | t_{<=i}) per position           [batch, pos - 1]
    start_at_layer=s       the input is resid_pre of block s: run blocks s.. (negative: from the end)
    stop_at_layer=e        return resid_pre of block e (blocks ..e-1 run): stop_at_layer=0 is the embedding

With an attention mask m, a prediction counts only where its position and the next one are tokens
(m_i = m_{i+1} = 1): the mean is over those, and the per-token loss is 0 elsewhere, as in
TransformerLens. ``targets`` (circuitlab's own option) scores position i against ``targets[:, i]``
instead, [batch, pos] per token. The mean loss without ``loss_per_token`` never materialises the
logits (``transformer.loss.unembed_cross_entropy``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch.nn.functional as F

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.transformer.loss import unembed_cross_entropy
from circuitlab.typing import Float, Int, Tensor

RETURN_TYPES = (None, "logits", "loss", "both")


class Output(NamedTuple):
    """``return_type="both"``: the logits and the loss (unpacks as ``logits, loss``)."""

    logits: Float[Tensor, "batch pos d_vocab"]
    loss: Tensor


def check_return_type(return_type: Any, targets: Tensor | None) -> None:
    if return_type not in RETURN_TYPES:
        raise ConfigError(f"return_type={return_type!r}: choose one of logits, loss, both or None")
    if targets is not None and return_type not in ("loss", "both"):
        raise ConfigError('targets are scored only with return_type="loss" or "both"; pass one of them')


def layer_range(n_layers: int, start: int | None, stop: int | None) -> range:
    """The blocks a forward runs: ``range(n_layers)[start:stop]`` (Python slicing, as TransformerLens)."""
    for name, value in (("start_at_layer", start), ("stop_at_layer", stop)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ConfigError(
                f"{name}={value!r}: must be an integer layer index (negative counts from the end)"
            )
    return range(n_layers)[start:stop]


def check_resid(resid: Any, d_model: int) -> Float[Tensor, "batch pos d_model"]:
    """The residual stream given to ``forward(resid, start_at_layer=...)``."""
    if not isinstance(resid, Tensor) or not resid.is_floating_point() or resid.ndim != 3:
        got = (
            f"shape {tuple(resid.shape)} {resid.dtype}" if isinstance(resid, Tensor) else type(resid).__name__
        )
        raise ShapeError(
            f"with start_at_layer the input is the residual stream [batch, pos, d_model={d_model}], got {got}; "
            "e.g. model(tokens, stop_at_layer=s) gives it"
        )
    if resid.shape[-1] != d_model:
        raise ShapeError(f"residual stream width {resid.shape[-1]} != d_model={d_model}")
    return resid


def scored(
    tokens: Tensor | None, targets: Tensor | None, mask: Tensor | None
) -> tuple[slice, Int[Tensor, "batch n"], Tensor | None]:
    """(the positions scored, their targets, which of them count or None for all)."""
    if targets is not None:
        if tokens is not None and targets.shape != tokens.shape:
            raise ShapeError(
                f"targets have shape {tuple(targets.shape)}, tokens {tuple(tokens.shape)}: give one target per token"
            )
        return slice(None), targets, mask
    if tokens is None:
        raise ConfigError(
            'a loss with start_at_layer needs the tokens: forward(resid, start_at_layer=s, tokens=tokens, return_type="loss")'
        )
    if tokens.shape[1] < 2:
        raise ShapeError(
            f"tokens have shape {tuple(tokens.shape)}: a next-token loss needs at least 2 tokens "
            "per sequence; pass longer sequences, or targets"
        )
    valid = None if mask is None else mask[:, :-1] & mask[:, 1:]
    return slice(None, -1), tokens[:, 1:], valid


def lm_output(
    model: Any,
    x: Float[Tensor, "batch pos d_model"],
    return_type: str,
    tokens: Tensor | None,
    targets: Tensor | None,
    mask: Tensor | None,
    per_token: bool,
) -> Tensor | Output:
    """logits, loss or Output(logits, loss) from the final normalised residual ``x``."""
    if return_type == "logits":
        return model.unembed(x)
    positions, target, valid = scored(tokens, targets, mask)
    hooked = any(getattr(getattr(model.unembed, n, None), "active", False) for n in ("hook_in", "hook_out"))
    if return_type == "loss" and not per_token and not hooked:  # the logits are never held whole
        xs = x[:, positions]
        if valid is not None:
            xs, target = xs[valid], target[valid]
        return unembed_cross_entropy(xs, model.W_U, model.b_U, target)
    logits = model.unembed(x)
    scores = logits[:, positions]
    losses = F.cross_entropy(scores.flatten(0, 1), target.flatten(), reduction="none").view(target.shape)
    if valid is not None:
        losses = losses.masked_fill(~valid, 0.0)
    loss = losses if per_token else losses.sum() / (losses.numel() if valid is None else valid.sum())
    return loss if return_type == "loss" else Output(logits, loss)


__all__ = ["Output", "check_resid", "check_return_type", "layer_range", "lm_output"]
