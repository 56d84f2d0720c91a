"""Training a sparse autoencoder of any architecture, one step at a time.

Every step: L = sae.loss(x) (TopK given its dead latents for AuxK), backward, the decoder
gradient's component along each row removed, an Adam step, the decoder rows renormalised. A latent
is dead once it has fired on none of the last ``cfg.dead_tokens`` inputs. Under torchrun the
gradients and the firing counts are summed over ranks (all_reduce) before they are used, so every
rank takes the same step on the union of the ranks' batches, as DistributedDataParallel would.

``SAETrainer`` holds the state a checkpoint needs (``train_state``/``load_train_state`` give and
take it as JSON; the weights and Adam's moments go to safetensors through circuitlab.training).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.distributed as dist
from jaxtyping import Float
from torch import Tensor

from circuitlab.errors import DataError, TrainingError, expect_shape
from circuitlab.superposition.sae.config import SAEConfig
from circuitlab.superposition.sae.evaluate import SAEMetrics, evaluate_sae
from circuitlab.superposition.sae.model import SAELoss, SparseAutoencoder
from circuitlab.superposition.sae.resample import resample_dead


@dataclass
class StepStats:
    """What a progress bar shows: the loss of the last batch, its L0, the dead fraction so far."""

    step: int
    loss: float
    mse: float
    l0: float
    dead_fraction: float


@dataclass
class SAETrainResult:
    """A trained SAE, its metrics on the training activations, and what training did."""

    sae: SparseAutoencoder
    metrics: SAEMetrics
    loss_history: list[float]
    resampled: int
    seconds: float
    hook_name: str | None = None


def _world() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def check_finite_acts(x: Tensor, where: str) -> None:
    """A one-line DataError when activations hold NaN or inf."""
    if not bool(torch.isfinite(x).all()):
        raise DataError(
            f"activations from {where} contain NaN or inf; check the model's weights and inputs "
            "(a NaN in the model spreads to every later hook)"
        )


class SAETrainer:
    """A fresh SAE of ``cfg`` (seeded by ``cfg.seed``), its Adam optimiser and its training state."""

    def __init__(self, cfg: SAEConfig, device: str | torch.device = "cpu") -> None:
        self.cfg = cfg
        self.sae = SparseAutoencoder(cfg, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
        self.opt = torch.optim.Adam(self.sae.parameters(), lr=cfg.lr)
        self.step = 0
        self.since_fired = torch.zeros(cfg.n_latents, dtype=torch.long, device=device)
        self.fired = torch.zeros(cfg.n_latents, dtype=torch.bool, device=device)
        self.history: list[float] = []
        self.resampled = 0
        self.gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)  # resampling draws

    @torch.no_grad()
    def init_b_dec(self, acts: Float[Tensor, "n d_in"]) -> None:
        """b_dec = the mean activation (so the encoder starts on centred inputs)."""
        self.sae.b_dec.copy_(acts.mean(0))

    def dead(self) -> Tensor:
        """Ids of the latents that fired on none of the last ``dead_tokens`` inputs."""
        return (self.since_fired >= self.cfg.dead_tokens).nonzero().flatten()

    def _sync(self, counts: Tensor) -> Tensor:
        if _world() > 1:
            for p in self.sae.parameters():
                if p.grad is not None:
                    dist.all_reduce(p.grad)
                    p.grad.div_(_world())
            dist.all_reduce(counts)
        return counts

    def train_step(self, x: Float[Tensor, "batch d_in"]) -> SAELoss:
        """One optimiser step on the batch ``x`` (every rank's batch under torchrun)."""
        dead = self.dead() if self.cfg.architecture == "topk" else None
        loss = self.sae.loss(x, dead)
        self.opt.zero_grad(set_to_none=True)
        loss.total.backward()
        counts = self._sync(loss.out.fire_counts().detach())
        self.sae.remove_parallel_decoder_grad()
        self.opt.step()
        self.sae.normalize_decoder()
        with torch.no_grad():
            fired = counts > 0
            self.fired |= fired
            self.since_fired += x.shape[0] * _world()
            self.since_fired[fired] = 0
        self.step += 1
        return loss

    def record(self, loss: SAELoss) -> None:
        """Keep the loss in the history; a NaN or inf loss is a TrainingError naming the step."""
        value = float(loss.total.detach())
        if value != value or value in (float("inf"), float("-inf")):
            raise TrainingError(f"SAE loss became {value} at step {self.step}; lower lr ({self.cfg.lr})")
        self.history.append(value)

    def stats(self, loss: SAELoss, batch: int) -> StepStats:
        dead = float((self.since_fired >= self.cfg.dead_tokens).float().mean())
        l0 = float(loss.out.fire_counts().sum()) / batch
        return StepStats(self.step, float(loss.total.detach()), float(loss.mse.detach()), l0, dead)

    def maybe_resample(self, pool: Callable[[], Tensor], gen: torch.Generator) -> None:
        """Every ``resample_every`` steps (ReLU and JumpReLU; TopK has AuxK), point the latents that
        did not fire since the last check at badly reconstructed inputs drawn from ``pool()``."""
        every = self.cfg.resample_every
        if self.cfg.architecture == "topk" or not every or self.step % every:
            return
        if self.step <= self.cfg.steps - every:
            self.resampled += resample_dead(self.sae, self.opt, ~self.fired, pool(), gen)
            self.fired.zero_()

    def train_state(self) -> dict:
        """The JSON a checkpoint keeps besides weights and optimiser: step, history, firing state."""
        return {
            "step": self.step,
            "history": self.history,
            "resampled": self.resampled,
            "since_fired": self.since_fired.tolist(),
            "fired": self.fired.tolist(),
            "generator": self.gen.get_state().tolist(),
        }

    def load_train_state(self, state: dict) -> None:
        self.step, self.history, self.resampled = (
            int(state["step"]),
            list(state["history"]),
            int(state["resampled"]),
        )
        device = self.since_fired.device
        self.since_fired = torch.tensor(state["since_fired"], dtype=torch.long, device=device)
        self.fired = torch.tensor(state["fired"], dtype=torch.bool, device=device)
        self.gen.set_state(torch.tensor(state["generator"], dtype=torch.uint8))


def fit(
    trainer: SAETrainer,
    next_batch: Callable[[], Tensor],
    pool: Callable[[], Tensor],
    gen: torch.Generator,
    on_step: Callable[[SAETrainer, SAELoss], None] | None = None,
    stop_at: int | None = None,
) -> None:
    """Run ``trainer`` from its step to ``cfg.steps`` (or ``stop_at``, if sooner) on batches from
    ``next_batch()``: history every 50 steps and at the end, resampling from ``pool()``,
    ``on_step(trainer, loss)`` after each step."""
    last = trainer.cfg.steps if stop_at is None else min(stop_at, trainer.cfg.steps)
    while trainer.step < last:
        loss = trainer.train_step(next_batch())
        if trainer.step % 50 == 0 or trainer.step == trainer.cfg.steps:
            trainer.record(loss)
        trainer.maybe_resample(pool, gen)
        if on_step is not None:
            on_step(trainer, loss)


def train_sae_on_activations(
    acts: Float[Tensor, "n d_in"], cfg: SAEConfig, hook_name: str | None = None
) -> SAETrainResult:
    """Train a fresh SAE on minibatches drawn with replacement (seeded by ``cfg.seed``) from ``acts``."""
    expect_shape("acts", acts, f"[n, d_in={cfg.d_in}]", acts.ndim == 2 and acts.shape[-1] == cfg.d_in)
    if acts.shape[0] == 0:
        raise DataError("acts is empty; collect activations from at least one input")
    check_finite_acts(acts, hook_name or "acts")
    gen = torch.Generator(device=acts.device).manual_seed(cfg.seed)
    trainer = SAETrainer(cfg, device=acts.device)
    trainer.init_b_dec(acts)
    start = time.perf_counter()

    def next_batch() -> Tensor:
        return acts[torch.randint(0, acts.shape[0], (cfg.batch_size,), generator=gen, device=acts.device)]

    fit(trainer, next_batch, lambda: acts, gen)
    return SAETrainResult(
        sae=trainer.sae,
        metrics=evaluate_sae(trainer.sae, acts),
        loss_history=trainer.history,
        resampled=trainer.resampled,
        seconds=time.perf_counter() - start,
        hook_name=hook_name,
    )
