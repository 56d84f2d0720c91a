"""The sparse autoencoder every architecture shares: encoder, latents, unit-norm decoder.

    pre   = (x - b_dec) W_enc + b_enc        W_enc: [d_in, d_sae], b_enc: [d_sae]
    f     = σ(pre)                            σ: ReLU (relu.py), ReLU∘TopK_k (topk.py), JumpReLU_θ (jumprelu.py)
    x_hat = f W_dec + b_dec                   W_dec: [d_sae, d_in], each row unit norm

The weight names and shapes are SAELens's (``W_enc [d_in, d_sae]``, ``W_dec [d_sae, d_in]``,
``b_enc``, ``b_dec``, ``threshold`` θ for JumpReLU, stored here as ``log_threshold``), and so are
the hook points: ``hook_sae_input`` (x), ``hook_sae_acts_pre`` (pre), ``hook_sae_acts_post`` (f),
``hook_sae_recons`` (x_hat). A TopK SAE with nothing hooked on ``hook_sae_acts_pre`` or
``hook_sae_acts_post`` takes the fast path (fast_topk.py's encoder, decoding from the k active rows);
with a hook there it takes the reference path (dense pre-activations, ``torch.topk``, dense f and
autograd throughout). Tests hold the two equal, outputs and gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.errors import expect_shape
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.superposition.sae import jumprelu, relu, topk
from circuitlab.superposition.sae.config import SAEConfig
from circuitlab.superposition.sae.fast_topk import TopKEncode


@dataclass
class SAEOutput:
    """``recon``: x_hat [..., d_in]; ``pre``: pre-activations; ``latents``: f [..., d_sae] (for a
    TopK SAE on its fast path built from ``top`` on first use)."""

    recon: Float[Tensor, "... d_in"]
    pre: Float[Tensor, "... d_sae"]
    top: topk.TopKLatents | None = None
    _latents: Tensor | None = field(default=None, repr=False)

    @property
    def latents(self) -> Float[Tensor, "... d_sae"]:
        if self._latents is None:
            assert self.top is not None
            self._latents = self.top.dense(self.pre.shape[-1])
        return self._latents

    def fire_counts(self) -> Tensor:
        """How many inputs of the batch each latent fired on (f > 0), [d_sae]."""
        if self.top is not None and self._latents is None:
            return self.top.counts(self.pre.shape[-1])
        return (self.latents > 0).reshape(-1, self.pre.shape[-1]).sum(0)


@dataclass
class SAELoss:
    """``total = mse + penalty``, each a mean over the batch. ``penalty`` is the architecture's
    weighted term (``l1_coeff * l1``, ``aux_coeff * aux``, ``l0_coeff * l0``); ``l1``, ``l0`` and
    ``aux`` are unweighted (``aux`` 0 unless TopK was given dead latents)."""

    total: Tensor
    mse: Tensor
    l1: Tensor
    l0: Tensor
    aux: Tensor
    out: SAEOutput

    @property
    def latents(self) -> Tensor:
        return self.out.latents


class SparseAutoencoder(HookedModule):
    """``SparseAutoencoder(cfg)`` for every ``cfg.architecture``. Initialised with random unit decoder
    rows, the encoder tied to them (W_enc = W_dec^T, as Gao et al. and Bricken et al. do), biases at
    zero and, for JumpReLU, θ = ``threshold_init``."""

    def __init__(self, cfg: SAEConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        W_dec = torch.randn(cfg.n_latents, cfg.d_in, generator=generator)
        W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(cfg.n_latents))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))
        if cfg.architecture == "jumprelu":
            self.log_threshold = nn.Parameter(torch.full((cfg.n_latents,), math.log(cfg.threshold_init)))
        self.hook_sae_input = HookPoint()
        self.hook_sae_acts_pre = HookPoint()
        self.hook_sae_acts_post = HookPoint()
        self.hook_sae_recons = HookPoint()

    @property
    def threshold(self) -> Float[Tensor, " d_sae"]:
        """JumpReLU's θ = exp(log_threshold) (SAELens's ``threshold``)."""
        return self.log_threshold.exp()

    def _check(self, x: Tensor) -> None:
        expect_shape("x", x, f"[..., d_in={self.cfg.d_in}]", x.ndim >= 1 and x.shape[-1] == self.cfg.d_in)

    def pre_acts(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        """pre = (x - b_dec) W_enc + b_enc."""
        self._check(x)
        return self.hook_sae_acts_pre((self.hook_sae_input(x) - self.b_dec) @ self.W_enc + self.b_enc)

    def activate(self, pre: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_sae"]:
        """f = σ(pre), dense, for the architecture."""
        arch = self.cfg.architecture
        if arch == "topk":
            return topk.topk_latents(pre, self.cfg.k).dense(self.cfg.n_latents)
        if arch == "jumprelu":
            return jumprelu.jumprelu_latents(pre, self.threshold, self.cfg.bandwidth)
        return relu.relu_latents(pre)

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... d_sae"]:
        """f = σ((x - b_dec) W_enc + b_enc), through ``hook_sae_acts_post``."""
        return self.hook_sae_acts_post(self.activate(self.pre_acts(x)))

    def decode(self, f: Float[Tensor, "... d_sae"]) -> Float[Tensor, "... d_in"]:
        """x_hat = f W_dec + b_dec."""
        return self.hook_sae_recons(f @ self.W_dec + self.b_dec)

    def _fast_topk(self, x: Tensor) -> SAEOutput:
        """TopK with nothing hooked on pre or f: the encoder Function whose backward reads only the
        k chosen entries per input, and the decoder over the k chosen rows."""
        x = self.hook_sae_input(x)
        self._check(x)
        lead = x.shape[:-1]
        values, indices, pre = TopKEncode.apply(
            x.reshape(-1, x.shape[-1]), self.W_enc, self.b_enc, self.b_dec, self.cfg.k
        )
        top = topk.TopKLatents(values.reshape(*lead, -1), indices.reshape(*lead, -1))
        recon = self.hook_sae_recons(topk.decode_rows(top.values, top.indices, self.W_dec) + self.b_dec)
        return SAEOutput(recon=recon, pre=pre.reshape(*lead, -1), top=top)

    def forward(self, x: Float[Tensor, "... d_in"]) -> SAEOutput:
        if self.cfg.architecture == "topk" and not (
            self.hook_sae_acts_pre.active or self.hook_sae_acts_post.active
        ):
            return self._fast_topk(x)
        pre = self.pre_acts(x)
        f = self.hook_sae_acts_post(self.activate(pre))
        return SAEOutput(recon=self.decode(f), pre=pre, _latents=f)

    def loss(self, x: Float[Tensor, "batch d_in"], dead: Tensor | None = None) -> SAELoss:
        """E ||x - x_hat||^2 plus the architecture's penalty. ``dead``: ids of dead latents, used by
        TopK's AuxK (ignored by the others)."""
        out = self(x)
        mse = ((x - out.recon) ** 2).sum(-1).mean()
        zero = mse.new_zeros(())
        arch, cfg = self.cfg.architecture, self.cfg
        if arch == "topk":
            l1 = out.top.values.sum(-1).mean() if out.top is not None else relu.l1_penalty(out.latents)
            aux = zero
            if dead is not None and dead.numel():
                x_c = x - self.b_dec
                aux = topk.auxk_loss(x_c, x - out.recon, self.W_enc, self.b_enc, self.W_dec, dead, cfg.k_aux)
            return SAELoss(mse + cfg.aux_coeff * aux, mse, l1.detach(), zero, aux, out)
        if arch == "jumprelu":
            l0 = jumprelu.l0_penalty(out.pre, self.threshold, cfg.bandwidth)
            return SAELoss(
                mse + cfg.l0_coeff * l0, mse, out.latents.abs().sum(-1).mean().detach(), l0, zero, out
            )
        l1 = relu.l1_penalty(out.latents)
        return SAELoss(mse + cfg.l1_coeff * l1, mse, l1, zero, zero, out)

    @torch.no_grad()
    def normalize_decoder(self) -> None:
        """Put every decoder row back on the unit sphere (after each optimiser step)."""
        self.W_dec.div_(self.W_dec.norm(dim=-1, keepdim=True).clamp_min(1e-8))

    @torch.no_grad()
    def remove_parallel_decoder_grad(self) -> None:
        """Drop the part of W_dec's gradient along each row, which renormalising would undo."""
        if self.W_dec.grad is not None:
            g = self.W_dec.grad
            g.sub_((g * self.W_dec).sum(-1, keepdim=True) * self.W_dec)

    @property
    def directions(self) -> Float[Tensor, "d_sae d_in"]:
        """Each latent's unit direction in the input space (W_dec rows)."""
        return self.W_dec.detach()
