"""Splicing SAEs into a model through the hook system: ``run_with_saes``.

Each SAE replaces the activation at its ``cfg.hook_name`` by its reconstruction x_hat for one
forward pass (a forward hook that returns ``sae(act).recon``), as SAELens's
``HookedSAETransformer.run_with_saes`` does. The SAE's own hook points are reachable under the
name SAELens gives them, ``{hook_name}.{sae hook}``: ``blocks.1.hook_resid_post.hook_sae_acts_post``
is latent f of the SAE spliced at ``blocks.1.hook_resid_post``. Every hook is removed on exit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from torch import Tensor

from circuitlab.errors import ConfigError, HookNameError, ShapeError
from circuitlab.hooks import ActivationCache, HookedModule, HookPoint, ReadsOnly
from circuitlab.superposition.sae.model import SparseAutoencoder

SAEs = Sequence[SparseAutoencoder] | Mapping[str, SparseAutoencoder]


def saes_by_hook(saes: SAEs) -> dict[str, SparseAutoencoder]:
    """``{hook_name: sae}`` from a list (each SAE's ``cfg.hook_name``) or a mapping."""
    if isinstance(saes, Mapping):
        return dict(saes)
    out: dict[str, SparseAutoencoder] = {}
    for sae in saes:
        name = sae.cfg.hook_name
        if name is None:
            raise ConfigError(
                "an SAE in saes=[...] has no cfg.hook_name; build it with SAEConfig(hook_name=...) "
                "or pass saes={hook_name: sae}"
            )
        if name in out:
            raise ConfigError(f"two SAEs are spliced at {name!r}; pass one SAE per hook")
        out[name] = sae
    return out


def splice_hook(sae: SparseAutoencoder, hook_name: str) -> Callable[[Tensor, HookPoint], Tensor]:
    """A forward hook that returns the SAE's reconstruction of the activation (in its dtype)."""

    def replace(act: Tensor, hook: HookPoint) -> Tensor:
        if act.shape[-1] != sae.cfg.d_in:
            raise ShapeError(
                f"{hook_name!r} gives vectors of width {act.shape[-1]} but the SAE has d_in={sae.cfg.d_in}; "
                f"train or load an SAE with d_in={act.shape[-1]} for this hook"
            )
        return sae(act.to(sae.W_enc.dtype)).recon.to(act.dtype)

    return replace


def _split_hooks(
    fwd_hooks: Iterable[tuple[str, Any]], by_hook: dict[str, SparseAutoencoder]
) -> tuple[list[tuple[str, Any]], dict[str, list[tuple[str, Any]]]]:
    """Model hooks, and per spliced hook name the hooks on that SAE's own points."""
    model_hooks: list[tuple[str, Any]] = []
    sae_hooks: dict[str, list[tuple[str, Any]]] = {name: [] for name in by_hook}
    for name, fn in fwd_hooks:
        owner = next((h for h in by_hook if isinstance(name, str) and name.startswith(h + ".")), None)
        if owner is None:
            model_hooks.append((name, fn))
            continue
        inner = name[len(owner) + 1 :]
        if inner not in by_hook[owner].hook_dict:
            raise HookNameError(
                f"no hook point {inner!r} in the SAE at {owner!r}; it has {', '.join(by_hook[owner].hook_names)}"
            )
        sae_hooks[owner].append((inner, fn))
    return model_hooks, sae_hooks


def run_with_saes(
    model: HookedModule, *args: Any, saes: SAEs, fwd_hooks: Iterable[tuple[str, Any]] = (), **kwargs: Any
) -> Any:
    """``model(*args, **kwargs)`` with every SAE's reconstruction in place of its hook's activation.

    ``fwd_hooks`` may name model hooks or the spliced SAEs' own (``{hook_name}.hook_sae_acts_post``).
    A hook the model lacks raises HookNameError; an SAE whose d_in differs from the hook's width
    raises ShapeError."""
    by_hook = saes_by_hook(saes)
    model_hooks, sae_hooks = _split_hooks(fwd_hooks, by_hook)
    splices = [(name, splice_hook(sae, name)) for name, sae in by_hook.items()]
    with ExitStack() as stack:
        for name, sae in by_hook.items():
            stack.enter_context(sae.hooks(sae_hooks[name]))
        stack.enter_context(model.hooks(splices + model_hooks))
        return model(*args, **kwargs)


def run_with_cache_with_saes(
    model: HookedModule,
    *args: Any,
    saes: SAEs,
    names_filter: Callable[[str], bool] | None = None,
    **kwargs: Any,
) -> tuple[Any, ActivationCache]:
    """``run_with_saes`` that also keeps activations (detached): the model's and each spliced SAE's
    (``{hook_name}.hook_sae_acts_post`` ...); ``names_filter`` selects by name (None: all)."""
    by_hook = saes_by_hook(saes)
    store: dict[str, Tensor] = {}
    names = list(model.hook_names) + [f"{h}.{n}" for h, sae in by_hook.items() for n in sae.hook_names]
    chosen = [n for n in names if names_filter is None or names_filter(n)]

    def keeper(name: str) -> ReadsOnly:
        return ReadsOnly(lambda act, hook: store.__setitem__(name, act.detach()))

    out = run_with_saes(model, *args, saes=by_hook, fwd_hooks=[(n, keeper(n)) for n in chosen], **kwargs)
    return out, ActivationCache(store, model=model)
