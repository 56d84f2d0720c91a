"""Memory for hooked activations that the previous forward's hooks have let go of.

Caching every activation of the headline model allocates six tensors of 32 MiB (attention
scores, pattern and per-head results of each layer) per call. glibc serves a block that large
with a fresh ``mmap`` each time and returns it to the kernel when freed, so every call pays
the kernel's page faults and zero-filling for all of it again (on a 2-core VM, reusing the
memory took a headline ``run_with_cache`` from ~140 to ~106 ms). A layer that writes such an activation can ask its
hook point for the memory the previous call used (``HookPoint.out_buffer``); it gets it back
only if no tensor outside this module shares that memory any more (the storage's reference
count says so), so nothing a user still holds is ever overwritten. Otherwise it gets new memory,
which then becomes the one kept.

CPU only (CUDA's caching allocator already reuses memory), and only outside autograd and
torch.func transforms (``out=`` is not differentiable and has no batching rules). The memory kept is one activation per hook point that asked
for it, freed with the model or by ``HookedModule.release_activation_memory()``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch
from torch import Tensor

_kept: weakref.WeakKeyDictionary[object, Tensor] = weakref.WeakKeyDictionary()


def _storage_users(t: Tensor) -> int:
    return torch._C._storage_Use_Count(t.untyped_storage()._cdata)


def is_transformed(t: Tensor) -> bool:
    """True for the wrapped tensors of torch.func transforms (vmap, grad), which ``out=`` refuses."""
    check = getattr(getattr(torch._C, "_functorch", None), "is_functorch_wrapped_tensor", None)
    return bool(check and check(t))


_COUNTABLE = hasattr(torch._C, "_storage_Use_Count")
# a tensor whose storage nothing else shares, counted the way _storage_users counts
_ALONE = _storage_users(torch.empty(1)) if _COUNTABLE else -1


def reusable_memory(
    owner: object, shape: Sequence[int], like: Tensor, inputs: Sequence[Tensor] = ()
) -> Tensor | None:
    """An uninitialised tensor of ``shape`` (``like``'s dtype and device) to pass as ``out=``,
    in the memory ``owner`` kept from its last call when nobody else holds it; None when the op
    should allocate for itself (not on CPU, or autograd would record it)."""
    if like.device.type != "cpu" or not _COUNTABLE or is_transformed(like):
        return None
    if torch.is_grad_enabled() and any(t.requires_grad for t in inputs):
        return None
    shape = torch.Size(shape)
    kept = _kept.get(owner)
    if (
        kept is None
        or kept.shape != shape
        or kept.dtype != like.dtype
        # memory made under torch.inference_mode may not be written outside it (and the reverse
        # would make inference tensors of normal ones' views)
        or kept.is_inference() != torch.is_inference_mode_enabled()
        or _storage_users(kept) != _ALONE
    ):
        kept = torch.empty(shape, dtype=like.dtype, device=like.device)
        _kept[owner] = kept
    # a new view each call: whoever keeps the activation holds the storage, not ``kept`` itself
    return kept.view(shape)


def release(owner: object) -> None:
    """Forget the memory ``owner`` kept (it is freed once no tensor uses it)."""
    _kept.pop(owner, None)


__all__ = ["is_transformed", "release", "reusable_memory"]
