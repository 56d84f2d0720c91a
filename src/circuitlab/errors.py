"""Errors that name the problem and the fix.

Every error a user can trigger with bad input is one of these. The CLI prints ``str(err)`` as
one line (no traceback unless ``--debug``) and exits non-zero.
"""

from __future__ import annotations


class CircuitlabError(Exception):
    """Base class: a message that names the value, the limit and the fix."""


class ConfigError(CircuitlabError, ValueError):
    """A configuration value that cannot work."""


class ShapeError(CircuitlabError, ValueError):
    """A tensor of the wrong shape, dtype or value range."""


class HookNameError(CircuitlabError, ValueError, KeyError):
    """A hook name that the model does not have.

    Also a ``KeyError``: TransformerLens raises one for an unknown hook name (``mod_dict[name]``),
    and code written for it catches that. ``str(err)`` is the plain one-line message (a
    ``KeyError`` alone would quote it).
    """

    __str__ = Exception.__str__


class DataError(CircuitlabError, ValueError):
    """A corpus or data set that cannot be used (missing, empty, undecodable)."""


class CheckpointError(CircuitlabError):
    """A checkpoint that is missing, corrupt, unsafe or of another config."""


class TrainingError(CircuitlabError):
    """Training that cannot go on (a NaN or inf loss, a failed write)."""


def expect_shape(name: str, tensor, expected: str, ok: bool) -> None:
    """Raise a ShapeError naming ``name``, the expected shape and the received one."""
    if not ok:
        got = tuple(tensor.shape) if hasattr(tensor, "shape") else type(tensor).__name__
        dtype = getattr(tensor, "dtype", None)
        raise ShapeError(f"{name}: expected shape {expected}, got {got} (dtype {dtype})")
