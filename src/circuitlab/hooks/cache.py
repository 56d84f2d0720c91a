"""ActivationCache: the activations of one forward pass, by hook name."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

import torch
from torch import Tensor

_SHORT = {
    "embed": "hook_embed",
    "pos_embed": "hook_pos_embed",
    "resid_pre": "blocks.{l}.hook_resid_pre",
    "resid_mid": "blocks.{l}.hook_resid_mid",
    "resid_post": "blocks.{l}.hook_resid_post",
    "attn_out": "blocks.{l}.hook_attn_out",
    "mlp_out": "blocks.{l}.hook_mlp_out",
    "q": "blocks.{l}.attn.hook_q",
    "k": "blocks.{l}.attn.hook_k",
    "v": "blocks.{l}.attn.hook_v",
    "z": "blocks.{l}.attn.hook_z",
    "attn_scores": "blocks.{l}.attn.hook_attn_scores",
    "pattern": "blocks.{l}.attn.hook_pattern",
    "result": "blocks.{l}.attn.hook_result",
    "pre": "blocks.{l}.mlp.hook_pre",
    "post": "blocks.{l}.mlp.hook_post",
    "ln_final": "ln_final.hook_normalized",
}


def act_name(name: str, layer: int | None = None) -> str:
    """Full hook name from a short one: ``act_name("pattern", 0) == "blocks.0.attn.hook_pattern"``."""
    template = _SHORT.get(name)
    if template is None:
        return name
    if "{l}" in template:
        if layer is None:
            raise ValueError(f"activation {name!r} lives in a block: give its layer index")
        return template.format(l=layer)
    return template


class ActivationCache(Mapping[str, Tensor]):
    """Read-only mapping from hook name to activation.

    ``cache["blocks.0.attn.hook_pattern"]``, ``cache["pattern", 0]`` and ``cache["embed"]`` all
    work. ``repr`` lists every name with its shape. ``model`` is the model that produced it, so
    the tools in ``circuitlab.circuits`` can read its weights.
    """

    def __init__(self, acts: dict[str, Tensor], model=None, has_batch_dim: bool = True) -> None:
        self._acts = dict(acts)
        self.model = model
        self.has_batch_dim = has_batch_dim

    def _resolve(self, key) -> str:
        if isinstance(key, tuple):
            return act_name(*key)
        return act_name(key) if key in _SHORT and key not in self._acts else key

    def __getitem__(self, key) -> Tensor:
        name = self._resolve(key)
        if name not in self._acts:
            raise KeyError(
                f"{name!r} is not in this cache (it holds {len(self._acts)} activations); "
                "widen names_filter in run_with_cache to keep it"
            )
        return self._acts[name]

    def __contains__(self, key) -> bool:
        try:
            return self._resolve(key) in self._acts
        except ValueError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._acts)

    def __len__(self) -> int:
        return len(self._acts)

    def __repr__(self) -> str:
        lines = [f"  {k}: {tuple(v.shape)} {str(v.dtype).replace('torch.', '')}" for k, v in self.items()]
        return "ActivationCache(\n" + "\n".join(lines) + "\n)"

    def to(self, device: str | torch.device) -> ActivationCache:
        return ActivationCache({k: v.to(device) for k, v in self.items()}, self.model, self.has_batch_dim)

    def remove_batch_dim(self) -> ActivationCache:
        """Drop a batch dimension of size 1 from every activation."""
        if not self.has_batch_dim:
            return self
        for k, v in self.items():
            if v.shape[0] != 1:
                raise ValueError(f"remove_batch_dim needs batch size 1; {k!r} has {tuple(v.shape)}")
        return ActivationCache({k: v[0] for k, v in self.items()}, self.model, has_batch_dim=False)

    def layer_names(self, pattern: str) -> list[str]:
        """Names matching a regular expression, in cache order."""
        rx = re.compile(pattern)
        return [k for k in self._acts if rx.search(k)]
