"""Run under torchrun: join the group, build an optimiser (torch.optim imports torch.distributed.nn
lazily), close the group, and print how many gloo threads the process still runs."""

import os

import torch

from circuitlab.training.distributed import setup

ctx = setup("cpu")
weight = torch.nn.Parameter(torch.ones(3))
torch.optim.AdamW([weight]).step()
ctx.mean(torch.ones(1))
ctx.barrier()
ctx.close()
names = [open(f"/proc/self/task/{task}/comm").read() for task in os.listdir("/proc/self/task")]
print(f"rank {ctx.rank}: {sum('gloo' in name for name in names)} gloo threads after close", flush=True)
