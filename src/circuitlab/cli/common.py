"""Checks every subcommand shares: an output folder that can be written, a device that exists."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from circuitlab.errors import ConfigError


def check_out_dir(out: Path) -> Path:
    """Create ``out`` and prove it writable, or raise a one-line ConfigError."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file: name a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ConfigError(
            f"--out {out} is not a writable folder ({err.strerror or err}): pick another"
        ) from None
    return out


def check_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA GPU is visible to torch; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise ConfigError(f"--device {device!r} is not known: use cpu, cuda or cuda:N")
    return device
