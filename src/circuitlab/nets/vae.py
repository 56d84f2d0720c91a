"""The variational autoencoder (Kingma & Welling 2014), with the reparameterization trick.

    encoder:  h = relu(W_1 x + b_1),  mu = W_mu h + b_mu,  logvar = W_lv h + b_lv
    sample:   z = mu + exp(logvar / 2) * eps,   eps ~ N(0, I)        (reparameterization)
    decoder:  p(x | z) = Bernoulli(sigmoid(W_3 relu(W_2 z + b_2) + b_3))
    loss:     -ELBO = E_q[-log p(x | z)] + KL(N(mu, diag exp(logvar)) || N(0, I))
              KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j))    (closed form)

Inputs are vectors in [0, 1] (e.g. 8x8 digits scaled by 1/16), shape ``[batch, d_in]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from jaxtyping import Float
from torch import Tensor, nn
from torch.nn import functional as F

from circuitlab.config import Config, check_int, config_or_fields
from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import HookedModule, HookPoint


@dataclass(frozen=True)
class VAEConfig(Config):
    """Widths of the VAE: input ``d_in``, hidden ``d_hidden`` (encoder and decoder), latent ``d_latent``."""

    d_in: int
    d_hidden: int
    d_latent: int

    def __post_init__(self) -> None:
        for name in ("d_in", "d_hidden", "d_latent"):
            check_int(self, name, low=1)


@dataclass(frozen=True)
class VAEOutput:
    """One forward pass: ``recon`` (Bernoulli means, [batch, d_in]), ``mu`` and ``logvar`` of
    q(z|x) ([batch, d_latent]), the reparameterized sample ``z``, and the decoder ``logits``."""

    recon: Tensor
    mu: Tensor
    logvar: Tensor
    z: Tensor
    logits: Tensor


@dataclass(frozen=True)
class VAELoss:
    """Negative ELBO and its two parts, each averaged over the batch (nats per example)."""

    total: Tensor
    reconstruction: Tensor
    kl: Tensor


class VAE(HookedModule):
    """``VAE(cfg)`` or ``VAE(d_in, d_hidden, d_latent)``; hooks ``hook_hidden, hook_mu, hook_logvar,
    hook_z, hook_dec_hidden, hook_recon``."""

    def __init__(
        self, d_in: VAEConfig | int, d_hidden: int | None = None, d_latent: int | None = None
    ) -> None:
        super().__init__()
        self.cfg = cfg = config_or_fields(VAEConfig, d_in, d_hidden=d_hidden, d_latent=d_latent)
        self.enc = nn.Linear(cfg.d_in, cfg.d_hidden)
        self.to_mu = nn.Linear(cfg.d_hidden, cfg.d_latent)
        self.to_logvar = nn.Linear(cfg.d_hidden, cfg.d_latent)
        self.dec_hidden = nn.Linear(cfg.d_latent, cfg.d_hidden)
        self.dec_out = nn.Linear(cfg.d_hidden, cfg.d_in)
        for name in ("hidden", "mu", "logvar", "z", "dec_hidden", "recon"):
            setattr(self, f"hook_{name}", HookPoint())

    def _check(self, x: Tensor) -> None:
        d = self.cfg.d_in
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != d or not x.is_floating_point():
            got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"VAE input: expected shape [batch, {d}] floating point, got {got}")

    def encode(self, x: Float[Tensor, "batch d_in"]) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of q(z | x), each ``[batch, d_latent]``."""
        self._check(x)
        h = self.hook_hidden(torch.relu(self.enc(x)))
        return self.hook_mu(self.to_mu(h)), self.hook_logvar(self.to_logvar(h))

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``z = mu + exp(logvar / 2) * eps`` with eps ~ N(0, I): differentiable in mu and logvar."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(logvar / 2) * eps

    def decode_logits(self, z: Float[Tensor, "batch d_latent"]) -> Float[Tensor, "batch d_in"]:
        return self.dec_out(self.hook_dec_hidden(torch.relu(self.dec_hidden(z))))

    def decode(self, z: Float[Tensor, "batch d_latent"]) -> Float[Tensor, "batch d_in"]:
        """Bernoulli means ``sigmoid(logits)`` of p(x | z)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Float[Tensor, "batch d_in"], generator: torch.Generator | None = None) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = self.hook_z(self.reparameterize(mu, logvar, generator))
        logits = self.decode_logits(z)
        return VAEOutput(self.hook_recon(torch.sigmoid(logits)), mu, logvar, z, logits)

    def loss_terms(self, x: Float[Tensor, "batch d_in"], generator: torch.Generator | None = None) -> VAELoss:
        """Negative ELBO = Bernoulli reconstruction NLL + closed-form KL, means over the batch."""
        self._check(x)
        if bool((x < 0).any() or (x > 1).any()):
            raise ShapeError(
                f"VAE input: expected values in [0, 1] (Bernoulli likelihood), got range "
                f"[{x.min().item():.3g}, {x.max().item():.3g}]; scale the data, e.g. x / x.max()"
            )
        out = self(x, generator)
        rec = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").sum(1).mean()
        kl = (-0.5 * (1 + out.logvar - out.mu.pow(2) - out.logvar.exp()).sum(1)).mean()
        return VAELoss(rec + kl, rec, kl)

    def loss(self, x: Float[Tensor, "batch d_in"], generator: torch.Generator | None = None) -> Tensor:
        """The negative ELBO (a scalar to minimise); ``loss_terms`` gives its parts."""
        return self.loss_terms(x, generator).total

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Float[Tensor, "n d_in"]:
        """``n`` draws from the prior pushed through the decoder: Bernoulli means ``[n, d_in]``."""
        if int(n) < 1:
            raise ConfigError(f"VAE.sample n={n}: must be a positive integer")
        w = self.dec_hidden.weight
        z = torch.randn(int(n), self.cfg.d_latent, generator=generator, device=w.device, dtype=w.dtype)
        return self.decode(z)
