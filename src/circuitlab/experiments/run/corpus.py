"""The corpus a reproduce run trains its language-model claims on, checked before anything trains.

``circuitlab reproduce --corpus SPEC`` names ``"stdlib"`` (the embedded corpus: the Python
standard library source of the running interpreter) or any text file, folder or glob that
:func:`circuitlab.data.load_corpus` reads. :func:`check_corpus` turns a path into an absolute
one (so ``results.json`` names the same corpus from any working directory) and reads the first
``MIN_CORPUS_BYTES`` of it, so a missing path, a glob that matches nothing, a folder without
UTF-8 text or a corpus too small to cut training windows from fails at once with a
:class:`~circuitlab.errors.DataError` naming the fix, not minutes later inside a claim.
"""

from __future__ import annotations

import os

from circuitlab.data import STDLIB, load_corpus
from circuitlab.errors import DataError

# The smallest corpus worth training on: ~5k BPE tokens, so the 10% held out for validation
# still holds a few 128-token windows. Learning anything takes megabytes.
MIN_CORPUS_BYTES = 20_000


def check_corpus(spec: str) -> str:
    """``spec`` as the run records it: ``"stdlib"``, or the absolute path or glob of readable text.

    Raises DataError (one line, with the fix) when ``spec`` names no UTF-8 text or less than
    ``MIN_CORPUS_BYTES`` of it.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise DataError(f"corpus {spec!r}: name a text file, a folder or a glob, or use --corpus {STDLIB}")
    if spec == STDLIB:
        return spec
    path = os.path.abspath(os.path.expanduser(spec))
    size = _text_bytes(path, MIN_CORPUS_BYTES)
    if size < MIN_CORPUS_BYTES:  # the cap cuts at a line break: count it all before refusing
        size = _text_bytes(path, None)
    if size < MIN_CORPUS_BYTES:
        raise DataError(
            f"corpus {spec!r} holds {size:,} bytes of text: the language-model claims need at least "
            f"{MIN_CORPUS_BYTES:,} (megabytes to learn from); pass more text or use --corpus {STDLIB}"
        )
    return path


def _text_bytes(path: str, cap: int | None) -> int:
    return sum(len(d.text.encode("utf-8")) for d in load_corpus(path, max_bytes=cap).documents)


__all__ = ["MIN_CORPUS_BYTES", "check_corpus"]
