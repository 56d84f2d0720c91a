"""A sparse autoencoder that undoes superposition (Bricken et al. 2023, "Towards Monosemanticity").

    f     = ReLU((x - b_dec) W_enc + b_enc)       latents: [..., n_latents]
    x_hat = f W_dec + b_dec                        W_dec: [n_latents, d_in], each row unit norm
    L     = E ||x - x_hat||^2 + l1_coeff E ||f||_1

Each decoder row W_dec[j] (a column of the decoder matrix D = W_dec^T) is latent j's direction in
the input space; keeping it at unit norm makes the L1 penalty mean something (the model cannot
shrink f by growing W_dec). ``n_latents = expansion * d_in``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.config import Config, check_choice, check_int, check_number
from circuitlab.errors import ConfigError, expect_shape
from circuitlab.hooks import HookedModule, HookPoint

ARCHITECTURES = ("relu",)  # the latent nonlinearity f = ReLU(...); TopK / JumpReLU add their names here


@dataclass(frozen=True)
class SAEConfig(Config):
    """Shape and training of a sparse autoencoder; validated on creation.

    ``expansion``: latents per input dimension (``n_latents = expansion * d_in``).
    ``resample_every``: every that many steps, latents that did not fire since the last check are
    resampled (0 turns resampling off); no resampling in the last ``resample_every`` steps.
    ``architecture``: how latents are computed from the encoder's pre-activation (one of
    ``ARCHITECTURES``); a checkpoint records it, so a saved SAE reloads as the same kind.
    """

    d_in: int
    expansion: int = 4
    l1_coeff: float = 1e-3
    lr: float = 1e-3
    steps: int = 2000
    batch_size: int = 1024
    resample_every: int = 500
    seed: int = 0
    architecture: str = "relu"

    def __post_init__(self) -> None:
        for name in ("d_in", "expansion", "steps", "batch_size"):
            check_int(self, name, low=1)
        check_int(self, "resample_every", low=0)  # 0 is off
        check_int(self, "seed", low=0)
        check_number(self, "l1_coeff", low=0)
        check_number(self, "lr", low=0, strict_low=True)
        check_choice(self, "architecture", ARCHITECTURES)

    @property
    def n_latents(self) -> int:
        return self.expansion * self.d_in


@dataclass
class SAEOutput:
    """``recon``: x_hat [..., d_in]; ``latents``: f [..., n_latents]."""

    recon: Float[Tensor, "... d_in"]
    latents: Float[Tensor, "... n_latents"]


@dataclass
class SAELoss:
    """``total = mse + l1_coeff * l1``; each a mean over the batch; ``latents`` f of the batch."""

    total: Tensor
    mse: Tensor
    l1: Tensor
    latents: Tensor


class SparseAutoencoder(HookedModule):
    """Encoder, ReLU latents, unit-norm decoder; hook points ``hook_latents`` (f) and ``hook_recon``
    (x_hat). Initialised with random unit decoder rows and the encoder tied to them
    (W_enc = W_dec^T), biases at zero. ``SparseAutoencoder(cfg)`` as every circuitlab model."""

    def __init__(self, cfg: SAEConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        W_dec = torch.randn(cfg.n_latents, cfg.d_in, generator=generator)
        W_dec = W_dec / W_dec.norm(dim=-1, keepdim=True)
        self.W_dec = nn.Parameter(W_dec)
        self.W_enc = nn.Parameter(W_dec.T.clone())
        self.b_enc = nn.Parameter(torch.zeros(cfg.n_latents))
        self.b_dec = nn.Parameter(torch.zeros(cfg.d_in))
        self.hook_latents = HookPoint()
        self.hook_recon = HookPoint()

    def _check(self, x: Tensor) -> None:
        expect_shape("x", x, f"[..., d_in={self.cfg.d_in}]", x.ndim >= 1 and x.shape[-1] == self.cfg.d_in)

    def encode(self, x: Float[Tensor, "... d_in"]) -> Float[Tensor, "... n_latents"]:
        """f = ReLU((x - b_dec) W_enc + b_enc)."""
        self._check(x)
        return self.hook_latents(torch.relu((x - self.b_dec) @ self.W_enc + self.b_enc))

    def decode(self, f: Float[Tensor, "... n_latents"]) -> Float[Tensor, "... d_in"]:
        """x_hat = f W_dec + b_dec."""
        return self.hook_recon(f @ self.W_dec + self.b_dec)

    def forward(self, x: Float[Tensor, "... d_in"]) -> SAEOutput:
        f = self.encode(x)
        return SAEOutput(recon=self.decode(f), latents=f)

    def loss(self, x: Float[Tensor, "batch d_in"]) -> SAELoss:
        """E ||x - x_hat||^2 + l1_coeff E ||f||_1."""
        out = self(x)
        mse = ((x - out.recon) ** 2).sum(-1).mean()
        l1 = out.latents.abs().sum(-1).mean()
        return SAELoss(total=mse + self.cfg.l1_coeff * l1, mse=mse, l1=l1, latents=out.latents)

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
    def directions(self) -> Float[Tensor, "n_latents d_in"]:
        """Each latent's unit direction in the input space (W_dec rows)."""
        return self.W_dec.detach()


def fraction_variance_explained(x: Tensor, recon: Tensor) -> float:
    """1 - sum ||x - x_hat||^2 / sum ||x - mean(x)||^2 over a [n, d_in] set."""
    residual = ((x - recon) ** 2).sum()
    total = ((x - x.mean(0)) ** 2).sum()
    return float(1.0 - residual / total.clamp_min(1e-12))


def max_cosine_similarity(
    directions: Float[Tensor, "n_latents d_in"], truth: Float[Tensor, "n_true d_in"]
) -> Float[Tensor, " n_true"]:
    """For each true direction, the largest cosine similarity with any learned direction."""
    a = directions / directions.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b = truth / truth.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if a.shape[-1] != b.shape[-1]:
        raise ConfigError(
            f"directions have width {a.shape[-1]} but true features have width {b.shape[-1]}; "
            "compare directions in the same space"
        )
    return (b @ a.T).max(dim=-1).values
