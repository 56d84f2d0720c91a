"""Training: a loop that knows no model, crash-safe checkpoints, and torchrun support."""

from circuitlab.training.batches import make_optimizer, next_token_loss
from circuitlab.training.cached import train_or_load
from circuitlab.training.checkpoint import (
    Checkpoint,
    kind_of,
    load,
    load_checkpoint,
    read_meta,
    read_tokenizer,
    register_model,
    restore_training_state,
    save,
    save_checkpoint,
)
from circuitlab.training.config import TrainConfig
from circuitlab.training.distributed import DistContext
from circuitlab.training.fit import fit
from circuitlab.training.induction_tracker import InductionTracker
from circuitlab.training.loop import TrainResult, TrainState, evaluate, train

__all__ = [
    "InductionTracker",
    "fit",
    "train_or_load",
    "Checkpoint",
    "DistContext",
    "TrainConfig",
    "TrainResult",
    "TrainState",
    "evaluate",
    "kind_of",
    "load",
    "load_checkpoint",
    "make_optimizer",
    "next_token_loss",
    "read_meta",
    "read_tokenizer",
    "register_model",
    "restore_training_state",
    "save",
    "save_checkpoint",
    "train",
]
