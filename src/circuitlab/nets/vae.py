"""The variational autoencoder (Kingma & Welling 2014, "Auto-Encoding Variational Bayes").

    encoder   q_phi(z | x) = N(mu, diag(sigma^2)):
                h      = relu(W_1 x + b_1)
                mu     = W_mu h + b_mu
                logvar = W_logvar h + b_logvar                     (logvar = log sigma^2)
    sample    z = mu + sigma * eps,  sigma = exp(logvar / 2),  eps ~ N(0, I)   (reparameterisation)
    decoder   p_theta(x | z) = Bernoulli(recon):
                h_dec  = relu(W_2 z + b_2)
                logits = W_3 h_dec + b_3,   recon = sigmoid(logits)
    loss      -ELBO = E_q[-log p_theta(x | z)] + KL(q_phi(z | x) || N(0, I))
              KL = -1/2 sum_j (1 + logvar_j - mu_j^2 - sigma_j^2)            (closed form)

phi = (W_1, b_1, W_mu, b_mu, W_logvar, b_logvar) and theta = (W_2, b_2, W_3, b_3) are the
parameters under those names; weights left-multiply (``W_1: [d_hidden, d_in]``) and start as
``nn.Linear``'s do. Inputs are vectors in [0, 1] (e.g. 8x8 digits scaled by 1/16), ``[batch, d_in]``.
"""

from __future__ import annotations

import math
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
    q_phi(z|x) ([batch, d_latent]), the reparameterised sample ``z``, and the decoder ``logits``."""

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


def _linear(d_in: int, d_out: int) -> tuple[nn.Parameter, nn.Parameter]:
    """``W: [d_out, d_in]`` and ``b: [d_out]``, initialised exactly as ``nn.Linear(d_in, d_out)``."""
    W = nn.Parameter(torch.empty(d_out, d_in))
    nn.init.kaiming_uniform_(W, a=math.sqrt(5))
    bound = 1 / math.sqrt(d_in)
    return W, nn.Parameter(torch.empty(d_out).uniform_(-bound, bound))


class VAE(HookedModule):
    """``VAE(cfg)`` or ``VAE(d_in, d_hidden, d_latent)``; hooks ``hook_h, hook_mu, hook_logvar,
    hook_z, hook_h_dec, hook_recon`` (the equations' names)."""

    def __init__(
        self, d_in: VAEConfig | int, d_hidden: int | None = None, d_latent: int | None = None
    ) -> None:
        super().__init__()
        self.cfg = cfg = config_or_fields(VAEConfig, d_in, d_hidden=d_hidden, d_latent=d_latent)
        self.W_1, self.b_1 = _linear(cfg.d_in, cfg.d_hidden)
        self.W_mu, self.b_mu = _linear(cfg.d_hidden, cfg.d_latent)
        self.W_logvar, self.b_logvar = _linear(cfg.d_hidden, cfg.d_latent)
        self.W_2, self.b_2 = _linear(cfg.d_latent, cfg.d_hidden)
        self.W_3, self.b_3 = _linear(cfg.d_hidden, cfg.d_in)
        for name in ("h", "mu", "logvar", "z", "h_dec", "recon"):
            setattr(self, f"hook_{name}", HookPoint())

    def _check(self, x: Tensor) -> None:
        d = self.cfg.d_in
        if not isinstance(x, Tensor) or x.ndim != 2 or x.shape[1] != d or not x.is_floating_point():
            got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
            raise ShapeError(f"VAE input: expected shape [batch, {d}] floating point, got {got}")

    def encode(self, x: Float[Tensor, "batch d_in"]) -> tuple[Tensor, Tensor]:
        """``(mu, logvar)`` of q_phi(z | x), each ``[batch, d_latent]``."""
        self._check(x)
        h = self.hook_h(torch.relu(F.linear(x, self.W_1, self.b_1)))
        mu = self.hook_mu(F.linear(h, self.W_mu, self.b_mu))
        logvar = self.hook_logvar(F.linear(h, self.W_logvar, self.b_logvar))
        return mu, logvar

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``z = mu + sigma * eps`` with ``sigma = exp(logvar / 2)``, eps ~ N(0, I): differentiable
        in mu and logvar."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        sigma = torch.exp(logvar / 2)
        return mu + sigma * eps

    def decode_logits(self, z: Float[Tensor, "batch d_latent"]) -> Float[Tensor, "batch d_in"]:
        """``logits = W_3 h_dec + b_3`` with ``h_dec = relu(W_2 z + b_2)``."""
        h_dec = self.hook_h_dec(torch.relu(F.linear(z, self.W_2, self.b_2)))
        return F.linear(h_dec, self.W_3, self.b_3)

    def decode(self, z: Float[Tensor, "batch d_latent"]) -> Float[Tensor, "batch d_in"]:
        """Bernoulli means ``recon = sigmoid(logits)`` of p_theta(x | z)."""
        return torch.sigmoid(self.decode_logits(z))

    def forward(self, x: Float[Tensor, "batch d_in"], generator: torch.Generator | None = None) -> VAEOutput:
        mu, logvar = self.encode(x)
        z = self.hook_z(self.reparameterize(mu, logvar, generator))
        logits = self.decode_logits(z)
        return VAEOutput(self.hook_recon(torch.sigmoid(logits)), mu, logvar, z, logits)

    def loss_terms(self, x: Float[Tensor, "batch d_in"], generator: torch.Generator | None = None) -> VAELoss:
        """-ELBO = E_q[-log p_theta(x | z)] (Bernoulli NLL) + closed-form KL, means over the batch."""
        self._check(x)
        if bool((x < 0).any() or (x > 1).any()):
            raise ShapeError(
                f"VAE input: expected values in [0, 1] (Bernoulli likelihood), got range "
                f"[{x.min().item():.3g}, {x.max().item():.3g}]; scale the data, e.g. x / x.max()"
            )
        out = self(x, generator)
        reconstruction = F.binary_cross_entropy_with_logits(out.logits, x, reduction="none").sum(1).mean()
        sigma2 = out.logvar.exp()
        kl = (-0.5 * (1 + out.logvar - out.mu.pow(2) - sigma2).sum(1)).mean()
        return VAELoss(reconstruction + kl, reconstruction, kl)

    def loss(self, x: Float[Tensor, "batch d_in"], generator: torch.Generator | None = None) -> Tensor:
        """The negative ELBO (a scalar to minimise); ``loss_terms`` gives its parts."""
        return self.loss_terms(x, generator).total

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Float[Tensor, "n d_in"]:
        """``n`` draws z ~ N(0, I) pushed through the decoder: Bernoulli means ``[n, d_in]``."""
        if int(n) < 1:
            raise ConfigError(f"VAE.sample n={n}: must be a positive integer")
        W = self.W_2
        z = torch.randn(int(n), self.cfg.d_latent, generator=generator, device=W.device, dtype=W.dtype)
        return self.decode(z)
