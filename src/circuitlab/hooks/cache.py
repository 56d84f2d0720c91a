"""ActivationCache: the activations of one forward pass, by hook name.

The methods beyond a mapping follow TransformerLens 3.9's ``ActivationCache`` (same arguments,
results and labels; docs/transformer-lens.md lists where circuitlab differs): the residual
stream's decompositions live in ``hooks.resid``, ``hooks.components`` and ``hooks.decomposition``.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from circuitlab.errors import ConfigError, ShapeError
from circuitlab.hooks import components, decomposition, resid
from circuitlab.hooks.names import act_name
from circuitlab.hooks.slice import Slice, SliceInput

log = logging.getLogger(__name__)


class ActivationCache(Mapping[str, Tensor]):
    """Mapping from hook name to activation (``cache_dict`` holds them).

    ``cache["blocks.0.attn.hook_pattern"]``, ``cache["pattern", 0]``, ``cache["resid_post", -1]``
    (negative layers count from the end), ``cache["scale", 2, "ln1"]`` and ``cache["embed"]``
    all work (``hooks.act_name`` resolves short names). ``repr`` lists every name with its shape.
    ``model`` is the model that produced it: the methods that need weights (``logit_attrs``'s
    W_U, ``apply_ln_to_stack``'s ln_final, head and neuron results' W_O and W_out) read them there.
    """

    def __init__(self, cache_dict: dict[str, Tensor], model: Any = None, has_batch_dim: bool = True) -> None:
        self.cache_dict = dict(cache_dict)
        self.model = model
        self.has_batch_dim = has_batch_dim

    # --- the mapping ---------------------------------------------------------------------------

    def _n_layers(self) -> int:
        if self.model is not None:
            return self.model.cfg.n_layers
        return 1 + max((int(k.split(".")[1]) for k in self.cache_dict if k.startswith("blocks.")), default=-1)

    def _resolve(self, key: Any) -> str:
        if isinstance(key, str):
            return key if key in self.cache_dict else act_name(key)
        if not isinstance(key, tuple) or not key or not isinstance(key[0], str):
            raise KeyError(f"cache keys are hook names or tuples (name, layer[, layer_type]), got {key!r}")
        name, layer, *rest = (*key, None) if len(key) == 1 else key
        if isinstance(layer, int) and layer < 0:
            layer += self._n_layers()
        return act_name(name, layer, *rest)

    def __getitem__(self, key: Any) -> Tensor:
        name = self._resolve(key)
        if name not in self.cache_dict:
            hint = "; give its layer, e.g. cache['pattern', 0]" if name.count(".") == 0 else ""
            raise KeyError(
                f"{name!r} is not in this cache (it holds {len(self.cache_dict)} activations){hint}; "
                "widen names_filter in run_with_cache to keep it"
            )
        return self.cache_dict[name]

    def __contains__(self, key: object) -> bool:
        try:
            return self._resolve(key) in self.cache_dict
        except (KeyError, ValueError, TypeError):
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.cache_dict)

    def __len__(self) -> int:
        return len(self.cache_dict)

    def __repr__(self) -> str:
        lines = [f"  {k}: {tuple(v.shape)} {str(v.dtype).replace('torch.', '')}" for k, v in self.items()]
        return "ActivationCache(\n" + "\n".join(lines) + "\n)"

    def layer_names(self, pattern: str) -> list[str]:
        """Names matching a regular expression, in cache order."""
        rx = re.compile(pattern)
        return [k for k in self.cache_dict if rx.search(k)]

    # --- the batch and the device --------------------------------------------------------------

    def batch_size(self) -> int:
        """The most common leading size over the cached tensors (1 when there are none)."""
        sizes = Counter(v.shape[0] for v in self.cache_dict.values() if v.ndim > 0)
        return sizes.most_common(1)[0][0] if sizes else 1

    def remove_batch_dim(self) -> ActivationCache:
        """Drop a batch dimension of size 1 from every activation, in place (returns ``self``)."""
        if not self.has_batch_dim:
            log.warning("remove_batch_dim: this cache has no batch dimension any more")
            return self
        if self.batch_size() != 1:
            raise ShapeError(
                f"remove_batch_dim needs batch size 1; this cache's batch size is {self.batch_size()} "
                "(use apply_slice_to_batch_dim(i) to keep one sequence)"
            )
        for name, act in self.cache_dict.items():
            if act.ndim > 0 and act.shape[0] == 1:
                self.cache_dict[name] = act[0]
        self.has_batch_dim = False
        return self

    def apply_slice_to_batch_dim(self, batch_slice: Slice | SliceInput) -> ActivationCache:
        """A new cache of the sequences ``batch_slice`` selects (an int drops the batch dimension)."""
        batch_slice = Slice.of(batch_slice)
        if not self.has_batch_dim:
            raise ShapeError(
                "apply_slice_to_batch_dim: this cache has no batch dimension (remove_batch_dim ran)"
            )
        size = self.batch_size()
        sliced = {
            name: batch_slice.apply(act, dim=0) if act.ndim > 0 and act.shape[0] == size else act
            for name, act in self.cache_dict.items()
        }
        return ActivationCache(sliced, self.model, has_batch_dim=batch_slice.mode != "int")

    def to(self, device: str | torch.device) -> ActivationCache:
        """Move every activation to ``device``, in place (returns ``self``)."""
        self.cache_dict = {k: v.to(device) for k, v in self.cache_dict.items()}
        return self

    def toggle_autodiff(self, mode: bool = False) -> None:
        """``torch.set_grad_enabled(mode)``: global state, as TransformerLens's (prefer
        ``torch.inference_mode()`` as a context manager)."""
        log.warning("toggle_autodiff changed global state: autodiff is now %s", "on" if mode else "off")
        torch.set_grad_enabled(mode)

    def _model(self) -> Any:
        if self.model is None:
            raise ConfigError("this ActivationCache has no model; make it with model.run_with_cache(tokens)")
        return self.model

    # --- TransformerLens's analysis methods (hooks.resid, hooks.components) ---------------------

    accumulated_resid = resid.accumulated_resid
    decompose_resid = resid.decompose_resid
    apply_ln_to_stack = resid.apply_ln_to_stack
    logit_attrs = resid.logit_attrs
    compute_head_results = components.compute_head_results
    stack_head_results = components.stack_head_results
    stack_activation = components.stack_activation
    get_neuron_results = components.get_neuron_results
    stack_neuron_results = components.stack_neuron_results
    get_full_resid_decomposition = decomposition.get_full_resid_decomposition


__all__ = ["ActivationCache"]
