"""Writing files so that a crash never leaves a half-written one: the one atomic-write helper.

``atomic_write(path, data)`` writes to a temporary file beside ``path``, flushes and fsyncs it,
then renames it over ``path`` (``os.replace`` is atomic on POSIX and Windows): a reader sees the
old file or the new one, never a mix, and an error leaves the old file untouched.
``set_aside(folder)`` moves a folder that must not be overwritten to ``<folder>.previous``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO


def _write_bytes(f: BinaryIO, data: bytes) -> None:
    """The one place bytes reach the disk (tests replace it to simulate a full disk)."""
    f.write(data)


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Replace ``path`` with ``data`` (bytes, or text written as UTF-8) atomically; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_bytes(f, payload)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, doc: Any) -> Path:
    """``doc`` as indented JSON (NaN refused, UTF-8 kept), written with :func:`atomic_write`."""
    return atomic_write(path, json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def set_aside(folder: str | Path) -> None:
    """Move a non-empty ``folder`` to ``<folder>.previous`` (replacing an older one), so whatever
    is written there next starts from an empty folder and nothing saved is overwritten."""
    folder = Path(folder)
    if folder.is_dir() and any(folder.iterdir()):
        previous = folder.with_name(folder.name + ".previous")
        if previous.exists():
            shutil.rmtree(previous)
        folder.rename(previous)
