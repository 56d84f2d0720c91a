"""The decoder-only transformer: embed, blocks on the residual stream, unembed."""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from circuitlab.errors import ShapeError
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.transformer.block import TransformerBlock
from circuitlab.transformer.config import TransformerConfig
from circuitlab.transformer.embed import Embed, PosEmbed, Unembed, init_normal_, sinusoidal_table
from circuitlab.transformer.forward_options import (
    Output,
    check_resid,
    check_return_type,
    layer_range,
    lm_output,
)
from circuitlab.transformer.model_helpers import ModelHelpers
from circuitlab.transformer.norm import make_norm
from circuitlab.transformer.optional_hooks import OptionalHooks
from circuitlab.transformer.padding import Padding
from circuitlab.transformer.sampling import Sampling
from circuitlab.transformer.strings import Strings
from circuitlab.transformer.tied import TiedUnembed
from circuitlab.typing import Float, Int, Tensor


class Transformer(OptionalHooks, Strings, Sampling, ModelHelpers, HookedModule):
    """logits = Unembed(LN_final(resid_L)),  resid_0 = W_E[t] (+ W_pos for sinusoidal/learned).

    ``n_layers = 0`` gives logits = W_E[t] W_U + b_U (with LN_final in between when
    normalization="layernorm"): the bigram model of the Mathematical Framework. Weights are
    initialised from ``cfg.seed`` with a private generator (the global RNG is not touched).
    Weight and hook names follow TransformerLens (see DESIGN.md), and so do the forward options,
    the optional hook points (``set_use_*``), the string helpers (``tokenizer``, ``to_tokens``...),
    ``generate`` and the model helpers: docs/transformer-lens.md lists them.
    """

    computes_lm_loss = True  # forward(tokens, return_type="loss", targets=...): see training.next_token_loss

    def __init__(self, cfg: TransformerConfig, tokenizer: Any = None) -> None:
        super().__init__()
        if not isinstance(cfg, TransformerConfig):
            raise TypeError(f"Transformer needs a TransformerConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.embed = Embed(cfg.d_vocab, cfg.d_model)
        self.hook_embed = HookPoint()
        if cfg.has_pos_embed:
            self.pos_embed = PosEmbed(cfg.n_ctx, cfg.d_model, learned=cfg.positional != "sinusoidal")
            self.hook_pos_embed = HookPoint()
        self.blocks = nn.ModuleList(TransformerBlock(cfg) for _ in range(cfg.n_layers))
        self.ln_final = make_norm(cfg.normalization, cfg.d_model, cfg.ln_eps, cfg.ln_bias)
        if cfg.tie_embeddings:
            self.unembed = TiedUnembed(self.embed, cfg.d_vocab)
        else:
            self.unembed = Unembed(cfg.d_model, cfg.d_vocab)
        self.tokenizer = tokenizer  # transformer.strings: to_tokens, string input, generate
        self.init_weights()

    @classmethod
    def from_pretrained(cls, name_or_path: str, **options) -> Transformer:
        """A GPT-2, GPT-NeoX (Pythia) or Llama-family model from a Hugging Face folder or cache name.

        See :func:`circuitlab.pretrained.from_pretrained` for the options (device, dtype, n_ctx,
        fold_ln, center_writing_weights, center_unembed, fold_value_biases)."""
        from circuitlab.pretrained import from_pretrained  # pretrained builds on transformer

        return from_pretrained(name_or_path, **options)

    def init_weights(self) -> None:
        """Every matrix ~ N(0, init_range^2); biases 0; LayerNorm w = 1, b = 0.

        A learned W_pos ~ N(0, pos_init_range^2), or pos_init_range * sinusoidal table when
        ``cfg.pos_init == "sinusoidal"`` (see TransformerConfig).
        """
        if self.W_E.is_meta:  # built to receive pretrained weights: nothing to draw
            return
        gen = torch.Generator().manual_seed(self.cfg.seed)
        pos_std = self.cfg.pos_init_range or self.cfg.init_range
        for name, param in self.named_parameters():
            if name.split(".")[-1].lstrip("_").startswith("W_"):  # _W_K, _W_V: grouped key/value heads
                init_normal_(param, pos_std if name == "pos_embed.W_pos" else self.cfg.init_range, gen)
        if self.cfg.pos_init == "sinusoidal" and isinstance(getattr(self, "pos_embed", None), PosEmbed):
            W_pos = self.pos_embed.W_pos
            if isinstance(W_pos, nn.Parameter):
                with torch.no_grad():
                    W_pos.copy_(sinusoidal_table(*W_pos.shape) * pos_std)

    def check_tokens(self, tokens: Tensor) -> Int[Tensor, "batch pos"]:
        """Validate token ids and return them as int64 [batch, pos] (1-D: one sequence)."""
        if not isinstance(tokens, Tensor):
            raise ShapeError(f"tokens must be a torch.Tensor of int64 ids, got {type(tokens).__name__}")
        if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
            raise ShapeError(f"tokens must be integer ids (int64), got dtype {tokens.dtype}; use .long()")
        if tokens.ndim == 1:
            tokens = tokens[None]
        if tokens.ndim != 2:
            raise ShapeError(
                f"tokens must be [batch, pos] (or one sequence [pos]), got {tokens.ndim}-D shape "
                f"{tuple(tokens.shape)}"
            )
        n = tokens.shape[1]
        if n > self.cfg.n_ctx:
            raise ShapeError(
                f"sequence length {n} exceeds n_ctx={self.cfg.n_ctx}; crop to the last n_ctx tokens"
            )
        if tokens.numel() == 0:
            raise ShapeError(
                f"tokens has shape {tuple(tokens.shape)}: give at least one sequence of one token"
            )
        lo, hi = (int(t) for t in torch.aminmax(tokens))
        if lo < 0 or hi >= self.cfg.d_vocab:
            bad = lo if lo < 0 else hi
            raise ShapeError(
                f"token id {bad} out of range [0, {self.cfg.d_vocab - 1}] (d_vocab={self.cfg.d_vocab})"
            )
        return tokens.long()

    def forward(
        self,
        input: Int[Tensor, "batch pos"] | str | list[str] | Float[Tensor, "batch pos d_model"],
        return_type: Literal["logits", "loss", "both"] | None = "logits",
        loss_per_token: bool = False,
        prepend_bos: bool | None = None,
        padding_side: Literal["left", "right"] | None = None,
        start_at_layer: int | None = None,
        tokens: Int[Tensor, "batch pos"] | None = None,
        shortformer_pos_embed: Float[Tensor, "batch pos d_model"] | None = None,
        attention_mask: Int[Tensor, "batch pos"] | None = None,
        stop_at_layer: int | None = None,
        *,
        targets: Int[Tensor, "batch pos"] | None = None,
    ) -> Tensor | Output | None:
        """Logits; the mean next-token cross-entropy (``return_type="loss"``: position i predicts
        ``tokens[:, i + 1]``, or ``targets[:, i]``), ``Output(logits, loss)`` ("both") or None, with
        TransformerLens's options (``transformer.forward_options``): ``loss_per_token``, text input
        when the model has a tokenizer (``prepend_bos``, ``padding_side``: ``transformer.strings``),
        a padded batch (``attention_mask``, made from the pads under left padding:
        ``transformer.padding``), and part of the blocks (``start_at_layer`` takes resid_pre of that
        block as the input, ``stop_at_layer`` returns the residual stream before that block)."""
        check_return_type(return_type, targets)
        blocks = layer_range(self.cfg.n_layers, start_at_layer, stop_at_layer)
        targets = None if targets is None else self.check_tokens(targets)
        if start_at_layer is None:
            tokens, attention_mask = self.input_tokens(input, prepend_bos, padding_side, attention_mask)
            padding = Padding.of(attention_mask, tokens.shape, tokens.device)
            tokens, resid, shortformer_pos_embed = self.embed_input(tokens, padding)
        else:
            resid = check_resid(input, self.cfg.d_model)
            tokens = None if tokens is None else self.check_tokens(tokens)
            padding = Padding.of(attention_mask, resid.shape[:2], resid.device)
        for layer in blocks:
            resid = self.blocks[layer](resid, shortformer_pos_embed, padding)
        if stop_at_layer is not None:
            return resid
        x = self.ln_final(resid)
        if return_type is None:
            return None
        mask = None if padding is None else padding.mask
        return lm_output(self, x, return_type, tokens, targets, mask, loss_per_token)

    def input_tokens(
        self, input: Tensor | str | list[str], bos: bool | None, side: str | None, mask: Tensor | None
    ) -> tuple[Int[Tensor, "batch pos"], Tensor | None]:
        """forward's input as checked ids on the model's device, and its attention mask: the one
        given, else (a tokenizer and left padding, as TransformerLens) 0 on the leading pads."""
        text = isinstance(input, str) or (isinstance(input, list) and input and isinstance(input[0], str))
        tokens = self.check_tokens(self.to_tokens(input, bos, side) if text else input).to(self.W_E.device)
        if mask is None and self.tokenizer is not None and self.resolve(bos, side)[1] == "left":
            mask = self.attention_mask_for(tokens, bos, side)
        return tokens, mask

    def embed_input(
        self, tokens: Int[Tensor, "batch pos"], padding: Padding | None
    ) -> tuple[Int[Tensor, "batch pos"], Float[Tensor, "batch pos d_model"], Tensor | None]:
        """(the tokens after hook_tokens, resid_pre of block 0, the shortformer positions or None)."""
        if hasattr(self, "hook_tokens"):  # set_use_hook_tokens(True)
            tokens = self.hook_tokens(tokens)
        resid = self.hook_embed(self.embed(tokens))
        if not self.cfg.has_pos_embed:
            return tokens, resid, None
        if padding is not None:  # each token's position among the tokens; 0 at the pads
            pos = self.hook_pos_embed(padding.pos_embed(self.pos_embed.W_pos))
        else:
            pos = self.pos_embed(tokens.shape[1])  # [pos, d_model], broadcast over the batch
            if self.hook_pos_embed.active:  # hooks see [batch, pos, d_model], as in TransformerLens
                batched = pos.expand(tokens.shape[0], -1, -1)
                if self.hook_pos_embed.edits:  # a hook may edit it (in place too): its own memory
                    pos = self.hook_pos_embed(batched.contiguous())
                else:  # hooks that only read see the broadcast view; pos stays one row
                    self.hook_pos_embed(batched)
        if self.cfg.positional == "shortformer":
            return tokens, resid, pos
        return tokens, resid + pos, None

    # Weights as the papers name them, stacked over layers: [n_layers, n_heads, ...].
    def _stack(self, name: str) -> Tensor:
        if not self.blocks:
            raise ShapeError(f"a {self.cfg.n_layers}-layer model has no {name}")
        parts = [
            getattr(b.attn, name) if hasattr(b.attn, name) else getattr(b.mlp, name) for b in self.blocks
        ]
        return torch.stack(parts)

    W_Q = property(lambda self: self._stack("W_Q"), doc="[n_layers, n_heads, d_model, d_head]")
    W_K = property(lambda self: self._stack("W_K"), doc="[n_layers, n_heads, d_model, d_head]")
    W_V = property(lambda self: self._stack("W_V"), doc="[n_layers, n_heads, d_model, d_head]")
    W_O = property(lambda self: self._stack("W_O"), doc="[n_layers, n_heads, d_head, d_model]")
    b_Q = property(lambda self: self._stack("b_Q"), doc="[n_layers, n_heads, d_head]")
    b_K = property(lambda self: self._stack("b_K"), doc="[n_layers, n_heads, d_head]")
    b_V = property(lambda self: self._stack("b_V"), doc="[n_layers, n_heads, d_head]")
    b_O = property(lambda self: self._stack("b_O"), doc="[n_layers, d_model]")
    W_in = property(lambda self: self._stack("W_in"), doc="[n_layers, d_model, d_mlp]")
    W_out = property(lambda self: self._stack("W_out"), doc="[n_layers, d_mlp, d_model]")
    b_in = property(lambda self: self._stack("b_in"), doc="[n_layers, d_mlp]")
    b_out = property(lambda self: self._stack("b_out"), doc="[n_layers, d_model]")

    @property
    def W_E(self) -> Float[Tensor, "d_vocab d_model"]:
        return self.embed.W_E

    @property
    def W_pos(self) -> Float[Tensor, "n_ctx d_model"]:
        if not self.cfg.has_pos_embed:
            raise ShapeError(f"a model with positional={self.cfg.positional!r} has no W_pos")
        return self.pos_embed.W_pos

    @property
    def W_U(self) -> Float[Tensor, "d_model d_vocab"]:
        return self.unembed.W_U

    @property
    def b_U(self) -> Float[Tensor, " d_vocab"]:
        return self.unembed.b_U

    @property
    def QK(self):
        """W_QK = W_Q W_K^T per head, kept factored: FactoredMatrix [n_layers, n_heads, d_model, d_model]."""
        from circuitlab.circuits.factored_matrix import FactoredMatrix  # circuits builds on transformer

        return FactoredMatrix(self.W_Q, self.W_K.transpose(-2, -1))

    @property
    def OV(self):
        """W_OV = W_V W_O per head, kept factored: FactoredMatrix [n_layers, n_heads, d_model, d_model]."""
        from circuitlab.circuits.factored_matrix import FactoredMatrix

        return FactoredMatrix(self.W_V, self.W_O)
