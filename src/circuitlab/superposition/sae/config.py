"""One frozen, validated config for every sparse autoencoder architecture.

``SAEConfig(d_in, architecture="relu" | "topk" | "jumprelu", ...)``: the fields every SAE shares
(width, optimiser, steps), then each architecture's own (``l1_coeff`` for ReLU; ``k``, ``aux_k``,
``aux_coeff`` for TopK; ``l0_coeff``, ``threshold_init``, ``bandwidth`` for JumpReLU). A field that
another architecture owns is kept but unused, so one JSON schema covers every checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuitlab.config import Config, check_choice, check_int, check_number
from circuitlab.errors import ConfigError

ARCHITECTURES = ("relu", "topk", "jumprelu")


@dataclass(frozen=True)
class SAEConfig(Config):
    """Shape and training of a sparse autoencoder; validated on creation.

    Shared: ``d_in`` (width of the activation read), ``expansion`` (latents per input dimension,
    ``n_latents = expansion * d_in`` unless ``d_sae`` names the count), ``lr``, ``steps``,
    ``batch_size``, ``seed``; ``hook_name`` records where in a model the SAE reads (None: not
    tied to a model); ``dead_tokens``: a latent that fired on none of the last that many
    training inputs is dead (Gao et al. use 10M tokens at their scale).

    ``relu``: ``l1_coeff`` weighs the L1 penalty; ``resample_every`` steps, latents that did not
    fire since the last check are resampled (0: off; none in the last ``resample_every`` steps).
    ``topk``: ``k`` latents active per input; AuxK reconstructs the residual with the
    ``aux_k`` (default ``d_in // 2``) largest dead latents, weighted by ``aux_coeff`` (1/32, Gao
    et al. 2024). ``jumprelu``: ``l0_coeff`` weighs the L0 penalty; thresholds start at
    ``threshold_init``; ``bandwidth`` is the kernel width ε of the straight-through estimator
    (Rajamanoharan et al. 2024 use 0.001 for both on inputs normalised to E||x||² = 1).
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
    d_sae: int | None = None
    k: int = 32
    aux_k: int | None = None
    aux_coeff: float = 1 / 32
    l0_coeff: float = 1e-3
    threshold_init: float = 1e-3
    bandwidth: float = 1e-3
    dead_tokens: int = 100_000
    hook_name: str | None = None

    def __post_init__(self) -> None:
        for name in ("d_in", "expansion", "steps", "batch_size", "k", "dead_tokens"):
            check_int(self, name, low=1)
        check_int(self, "d_sae", low=1, optional=True)
        check_int(self, "aux_k", low=1, optional=True)
        check_int(self, "resample_every", low=0)  # 0 is off
        check_int(self, "seed", low=0)
        for name in ("l1_coeff", "aux_coeff", "l0_coeff"):
            check_number(self, name, low=0)
        for name in ("lr", "threshold_init", "bandwidth"):
            check_number(self, name, low=0, strict_low=True)
        check_choice(self, "architecture", ARCHITECTURES)
        if self.hook_name is not None and not (isinstance(self.hook_name, str) and self.hook_name):
            raise ConfigError(f"SAEConfig.hook_name={self.hook_name!r}: must be a hook name or None")
        if self.architecture == "topk" and self.k > self.n_latents:
            raise ConfigError(
                f"SAEConfig.k={self.k} > d_sae={self.n_latents}: a TopK SAE keeps at most all its "
                "latents; lower k or raise expansion"
            )

    @property
    def n_latents(self) -> int:
        """The dictionary size d_sae: ``d_sae`` when given, else ``expansion * d_in``."""
        return self.d_sae if self.d_sae is not None else self.expansion * self.d_in

    @property
    def k_aux(self) -> int:
        """How many dead latents AuxK may use: ``aux_k``, by default ``d_in // 2`` (at least 1)."""
        return self.aux_k if self.aux_k is not None else max(self.d_in // 2, 1)
