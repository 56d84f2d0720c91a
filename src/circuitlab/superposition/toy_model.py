"""The toy model of superposition (Elhage et al. 2022, "Toy Models of Superposition", section 2).

    h  = W x                      W: [d_hidden, n_features]
    x' = ReLU(W^T h + b)          (or W^T h + b for the linear model)
    L  = E_x sum_i I_i (x_i - x'_i)^2

Many instances (each with its own feature probability) are stored side by side in one weight
tensor ``W: [n_instances, d_hidden, n_features]`` and trained at once by one einsum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from jaxtyping import Float
from torch import Tensor, nn

from circuitlab.config import Config, check_choice, check_int, is_int
from circuitlab.errors import ConfigError, expect_shape
from circuitlab.hooks import HookedModule, HookPoint
from circuitlab.typing import Features

ToyActivation = Literal["relu", "linear"]
Table = tuple[tuple[float, ...], ...]  # [n_instances][n_features]
Values = float | Sequence[float] | Sequence[Sequence[float]] | Tensor | None


def geometric_importance(n_features: int, base: float) -> list[float]:
    """I_i = base^i, the paper's importance profile (0.9^i for 5->2, 0.7^i for 20->5)."""
    return [base**i for i in range(n_features)]


def sparsity_sweep(n_instances: int, p_min: float) -> list[float]:
    """Feature probabilities from 1 down to ``p_min``, evenly spaced in log (the paper's
    ``20 ** -linspace(0, 1, n)`` is ``sparsity_sweep(n, 0.05)``)."""
    if n_instances == 1:
        return [1.0]
    return [p_min ** (k / (n_instances - 1)) for k in range(n_instances)]


def _table(name: str, values: Values, n_instances: int, n_features: int, per: str) -> Table:
    """Broadcast a scalar, a 1-D list (one value per ``per``) or a 2-D table to
    [n_instances][n_features], checking the length and that every value is in [0, 1]."""
    t = torch.as_tensor(values, dtype=torch.float64)
    if t.ndim == 0:
        t = t.expand(n_instances, n_features)
    elif t.ndim == 1:
        want = n_features if per == "feature" else n_instances
        if t.numel() != want:
            raise ConfigError(
                f"{name} has length {t.numel()}; expected {want} values (one per {per}, "
                f"n_{per}s = {want}) or a [n_instances, n_features] = [{n_instances}, {n_features}] table"
            )
        t = (
            t[None, :].expand(n_instances, n_features)
            if per == "feature"
            else t[:, None].expand(n_instances, n_features)
        )
    elif tuple(t.shape) != (n_instances, n_features):
        raise ConfigError(
            f"{name} has shape {tuple(t.shape)}; expected [n_instances, n_features] = "
            f"[{n_instances}, {n_features}], a list of one value per {per}, or a scalar"
        )
    bad = ~((t >= 0) & (t <= 1))
    if bool(bad.any()):
        idx = tuple(int(i) for i in bad.nonzero()[0])
        raise ConfigError(
            f"{name}{list(idx)} = {float(t[idx]):g} is outside [0, 1]; give every {name} value in [0, 1]"
        )
    return tuple(tuple(float(v) for v in row) for row in t.tolist())


@dataclass(frozen=True)
class ToyModelConfig(Config):
    """Shapes, importance and sparsity of a batch of toy models; validated on creation.

    ``importance[k][i]`` is I_i for instance k, ``feature_probability[k][i]`` is the chance that
    x_i is non-zero (sparsity S = 1 - p); both are ``[n_instances][n_features]`` tables of floats
    in [0, 1], so the config is plain JSON and a saved model keeps them exactly. Build one with
    ``ToyModelConfig.create`` to pass scalars, per-feature / per-instance lists or tensors.
    """

    n_features: int
    d_hidden: int
    n_instances: int
    importance: Table
    feature_probability: Table
    activation: ToyActivation = "relu"

    def __post_init__(self) -> None:
        for name in ("n_features", "d_hidden", "n_instances"):
            check_int(self, name, low=1)
        check_choice(self, "activation", ("relu", "linear"))
        for name, per in (("importance", "feature"), ("feature_probability", "instance")):
            value = getattr(self, name)
            if _table(name, value, self.n_instances, self.n_features, per) != value:
                raise ConfigError(
                    f"ToyModelConfig.{name}: must be a tuple of n_instances tuples of n_features floats; "
                    "build the config with ToyModelConfig.create(...) to pass a scalar, list or tensor"
                )

    @classmethod
    def create(
        cls,
        n_features: int,
        d_hidden: int,
        n_instances: int = 1,
        importance: Values = None,
        feature_probability: Values = 1.0,
        activation: ToyActivation = "relu",
    ) -> ToyModelConfig:
        """``importance``: None (all 1), a scalar, one value per feature, or a table.
        ``feature_probability``: a scalar, one value per instance, or a table (floats or tensors)."""
        imp: Values = 1.0 if importance is None else importance
        prob = feature_probability
        if all(is_int(v, 1) for v in (n_features, d_hidden, n_instances)):  # else __post_init__ says which
            imp = _table("importance", imp, n_instances, n_features, "feature")
            prob = _table("feature_probability", prob, n_instances, n_features, "instance")
        return cls(n_features, d_hidden, n_instances, imp, prob, activation)  # type: ignore[arg-type]

    @property
    def sparsity(self) -> list[float]:
        """S = 1 - p of each instance's first feature."""
        return [1.0 - row[0] for row in self.feature_probability]


class ToyModel(HookedModule):
    """``n_instances`` toy models h = W x, x' = ReLU(W^T h + b), trained side by side.

    ``W: [n_instances, d_hidden, n_features]`` (column W_i is feature i's direction in the
    hidden space), ``b_final: [n_instances, n_features]``. Hook points: ``hook_hidden``
    (h: [batch, n_instances, d_hidden]) and ``hook_out`` (x': [batch, n_instances, n_features]).
    W is initialised Xavier-normal as in the paper's notebook, b at zero.

    ``ToyModel(cfg)``, or the shim ``ToyModel(n_features, d_hidden, n_instances, importance,
    feature_probability)`` which builds it with ``ToyModelConfig.create``. The buffers
    ``importance`` and ``feature_probability`` ([n_instances, n_features], float32) are made from
    the config and left out of the state_dict: the config is their one saved copy.
    """

    def __init__(
        self,
        n_features: int | ToyModelConfig,
        d_hidden: int | None = None,
        n_instances: int = 1,
        importance: Values = None,
        feature_probability: Values = 1.0,
        activation: ToyActivation = "relu",
        linear: bool = False,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if isinstance(n_features, ToyModelConfig):
            cfg = n_features
        else:
            if d_hidden is None:
                raise ConfigError("d_hidden is missing; give ToyModel(n_features, d_hidden, ...)")
            act: ToyActivation = "linear" if linear else activation
            cfg = ToyModelConfig.create(
                n_features, d_hidden, n_instances, importance, feature_probability, act
            )
        self.cfg = cfg
        std = math.sqrt(2.0 / (cfg.n_features + cfg.d_hidden))
        w = torch.randn(cfg.n_instances, cfg.d_hidden, cfg.n_features, generator=generator) * std
        self.W = nn.Parameter(w)
        self.b_final = nn.Parameter(torch.zeros(cfg.n_instances, cfg.n_features))
        # derived from the config, which a checkpoint stores: not part of the state_dict
        importance = torch.tensor(cfg.importance, dtype=torch.float32)
        self.register_buffer("importance", importance, persistent=False)
        probability = torch.tensor(cfg.feature_probability, dtype=torch.float32)
        self.register_buffer("feature_probability", probability, persistent=False)
        self.hook_hidden = HookPoint()
        self.hook_out = HookPoint()

    def forward(self, x: Features) -> Features:
        """x: [batch, n_instances, n_features] -> x': same shape."""
        cfg = self.cfg
        expect_shape(
            "x",
            x,
            f"[batch, n_instances={cfg.n_instances}, n_features={cfg.n_features}]",
            x.ndim == 3 and tuple(x.shape[1:]) == (cfg.n_instances, cfg.n_features),
        )
        h = self.hook_hidden(torch.einsum("ihf,bif->bih", self.W, x))
        out = torch.einsum("ihf,bih->bif", self.W, h) + self.b_final
        if cfg.activation == "relu":
            out = torch.relu(out)
        return self.hook_out(out)

    def generate_batch(self, batch: int, generator: torch.Generator | None = None) -> Features:
        """x_i ~ U[0, 1] with probability p_i (per instance), else 0: [batch, n_instances, n_features]."""
        shape = (batch, self.cfg.n_instances, self.cfg.n_features)
        dev = self.W.device
        values = torch.rand(shape, generator=generator, device=dev)
        keep = torch.rand(shape, generator=generator, device=dev) < self.feature_probability
        return values * keep

    def loss_per_instance(self, x: Features, x_hat: Features) -> Float[Tensor, " n_instances"]:
        """E_batch sum_i I_i (x_i - x'_i)^2, one value per instance."""
        return (self.importance * (x - x_hat) ** 2).sum(-1).mean(0)

    @property
    def W_hat(self) -> Float[Tensor, "n_instances d_hidden n_features"]:
        """Unit feature directions W_i / ||W_i|| (zero columns stay zero)."""
        norms = self.W.detach().norm(dim=-2, keepdim=True)
        return self.W.detach() / norms.clamp_min(1e-12)
