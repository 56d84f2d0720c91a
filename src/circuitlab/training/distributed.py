"""Several processes: ``torchrun --nproc_per_node=N -m circuitlab train ...``.

Under torchrun (``WORLD_SIZE > 1``) ``setup`` joins the process group (gloo on CPU, nccl on
GPU) and the model is wrapped in DistributedDataParallel. Each rank takes its contiguous slice
of the global batch, so N processes see the same data and compute the same mean loss as one
process with the whole batch. Rank 0 alone writes checkpoints and logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from circuitlab.errors import ConfigError


@dataclass
class DistContext:
    """Where this process stands: its rank among ``world_size`` and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """DistributedDataParallel around ``model`` when several processes run, else ``model``."""
        if not self.distributed:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids)

    def mean(self, value: Tensor) -> Tensor:
        """The mean of ``value`` over all ranks (``value`` itself in one process)."""
        if not self.distributed:
            return value
        out = value.detach().clone().to(self.device)
        dist.all_reduce(out, op=dist.ReduceOp.SUM)
        return out / self.world_size

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is True on any rank."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def _device(name: str, local_rank: int, distributed: bool) -> torch.device:
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: torch.cuda.is_available() is False here; use --device cpu")
        if distributed and device.index is None:
            device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    return device


def setup(device: str = "cpu") -> DistContext:
    """Join the torchrun process group when there is one (gloo on CPU, nccl on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        dev = _device(device, local_rank, dist.get_world_size() > 1)
        return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev)
    if world <= 1:
        return DistContext(0, 1, 0, _device(device, 0, False))
    dev = _device(device, local_rank, True)
    # torch.distributed.nn binds the live default group into its functions' default arguments
    # (group=group.WORLD) when it is first imported, and torch.optim imports it lazily. Imported
    # after the group exists, it keeps the group alive past destroy_process_group: the gloo
    # threads then outlive the interpreter and a rank can abort at exit ("terminate called
    # without an active exception"). Imported first, it binds the placeholder instead.
    import torch.distributed.nn  # noqa: F401

    dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns_group=True)
