"""TransformerLens 3.9's model helpers: counts, labels, directions and biases read off the weights.

model.device                          where the weights are (TransformerLens: model.cfg.device)
model.n_params                        the hidden weights, attention W_Q W_K W_V W_O and MLP W_in
                                      (W_gate) W_out: no embeddings, biases or norms (cfg.n_params)
model.n_params_total                  every parameter
model.all_head_labels()               ["L0H0", "L0H1", ...]
model.tokens_to_residual_directions(t) = W_U[:, t]: the direction whose dot product with the
                                      final residual is t's logit (before ln_final's scale)
model.accumulated_bias(l)             sum of the b_O (and b_out) of blocks < l: what the biases
                                      alone have written into resid_pre of block l
model.W_E_pos                         [W_E; W_pos] stacked: [d_vocab + n_ctx, d_model]
"""

from __future__ import annotations

import torch
from einops import rearrange

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.typing import Float, Tensor

HIDDEN = ("W_Q", "W_K", "W_V", "W_O", "W_in", "W_gate", "W_out")


class ModelHelpers:
    """Mixed into ``Transformer``; reads ``cfg``, ``blocks`` and the weight stacks."""

    @property
    def device(self) -> torch.device:
        return self.W_E.device

    @property
    def n_params(self) -> int:
        """The hidden weights (TransformerLens's ``cfg.n_params``, the scaling-laws convention)."""
        return sum(
            p.numel() for name, p in self.named_parameters() if name.split(".")[-1].lstrip("_") in HIDDEN
        )

    @property
    def n_params_total(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def all_head_labels(self) -> list[str]:
        return [f"L{l}H{h}" for l in range(self.cfg.n_layers) for h in range(self.cfg.n_heads)]

    def tokens_to_residual_directions(
        self, tokens: str | int | Tensor
    ) -> Float[Tensor, " d_model"] | Float[Tensor, "... d_model"]:
        """W_U[:, t] for one token (an id, a 1-element tensor or a one-token string) -> [d_model], or
        for a tensor of ids [...] -> [..., d_model]."""
        if isinstance(tokens, Tensor) and tokens.numel() > 1:
            return rearrange(self.W_U[:, tokens], "d_model ... -> ... d_model")
        if isinstance(tokens, str):
            token = self.to_single_token(tokens)
        elif isinstance(tokens, Tensor) and tokens.numel() == 1:
            token = int(tokens.item())
        elif isinstance(tokens, int) and not isinstance(tokens, bool):
            token = tokens
        else:
            raise ConfigError(
                f"tokens_to_residual_directions takes a token id, ids or a string, got {tokens!r}"
            )
        return self.W_U[:, token]

    def accumulated_bias(
        self, layer: int, mlp_input: bool = False, include_mlp_biases: bool = True
    ) -> Float[Tensor, " d_model"]:
        """sum_{l < layer} (b_O^l + b_out^l), plus b_O^layer with ``mlp_input`` (the bias part of the
        MLP's input). ``layer`` in [0, n_layers]; an attention-only block adds no b_out."""
        n = self.cfg.n_layers
        if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= n:
            raise ConfigError(f"accumulated_bias(layer={layer!r}): layer must be an integer in [0, {n}]")
        if mlp_input and layer == n:
            raise ConfigError(
                f"accumulated_bias(layer={n}, mlp_input=True): there is no block {n}; use layer < {n}"
            )
        total = torch.zeros(self.cfg.d_model, device=self.device, dtype=self.W_E.dtype)
        for block in self.blocks[:layer]:
            total = total + block.attn.b_O
            if include_mlp_biases and hasattr(block, "mlp"):
                total = total + block.mlp.b_out
        if mlp_input:
            total = total + self.blocks[layer].attn.b_O
        return total

    @property
    def W_E_pos(self) -> Float[Tensor, "d_vocab_plus_n_ctx d_model"]:
        """W_E and W_pos stacked: one embedding space for tokens and positions."""
        if not hasattr(self, "pos_embed"):
            raise ShapeError(f'a model with positional="{self.cfg.positional}" has no W_pos, so no W_E_pos')
        return torch.cat([self.W_E, self.W_pos], dim=0)


__all__ = ["ModelHelpers"]
