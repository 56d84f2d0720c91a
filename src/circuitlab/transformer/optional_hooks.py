"""TransformerLens's optional hook points, computed only when asked for.

    blocks.{l}.hook_attn_in                    [batch, pos, n_heads, d_model]  one copy of resid_pre per head
    blocks.{l}.hook_q_input, hook_k_input, hook_v_input   the same, one copy each for q, k and v
    blocks.{l}.hook_mlp_in                     [batch, pos, d_model]  the MLP's input (resid_mid)
    blocks.{l}.attn.hook_result                [batch, pos, n_heads, d_model]  r^h = z^h W_O^h
    hook_tokens                                [batch, pos]  the token ids (exists once switched on)

Each costs memory (the first four a residual stream per head), so TransformerLens computes them
only under a config flag. circuitlab has the same switches (``model.set_use_attn_in(True)``,
``set_use_split_qkv_input``, ``set_use_hook_mlp_in``, ``set_use_attn_result``,
``set_use_hook_tokens``) and also computes a point when a hook is attached to it
(``run_with_hooks``, or a ``run_with_cache`` whose ``names_filter`` selects it).
``run_with_cache()`` with no filter keeps the points that are switched on, as TransformerLens's.

With per-head inputs head h reads LN1(q_in^h) + W_pos, LN1(k_in^h) + W_pos and LN1(v_in^h): the
same numbers as the shared input, so an edit to one head's copy changes that head only. With
grouped-query attention hook_k_input and hook_v_input are [batch, pos, n_key_value_heads, d_model]:
one copy per key/value head j, read by its group of query heads (TransformerLens's shapes), and
hook_attn_in, which would give k and v one copy per query head, is refused.
"""

from __future__ import annotations

from typing import Any

import torch
from einops import repeat
from torch import nn

from circuitlab.errors import ConfigError
from circuitlab.hooks import HookPoint
from circuitlab.transformer.padding import Padding
from circuitlab.typing import Float, Tensor

GQA_ATTN_IN = (
    "hook_attn_in (one copy of resid_pre per query head, shared by q, k and v) cannot feed grouped-query "
    "attention's n_key_value_heads={n_kv} key/value heads (n_heads={n}); use set_use_split_qkv_input(True) "
    "instead (hook_k_input and hook_v_input then hold one copy per key/value head, as in TransformerLens)"
)
INPUT_HOOKS = ("hook_attn_in", "hook_q_input", "hook_k_input", "hook_v_input")
FLAGS = {  # switch -> the hook point names (in a block, or in its attention) it turns on
    "use_attn_in": ("hook_attn_in",),
    "use_split_qkv_input": ("hook_q_input", "hook_k_input", "hook_v_input"),
    "use_hook_mlp_in": ("hook_mlp_in",),
    "use_attn_result": ("attn.hook_result",),
}


def add_optional_hooks(block: nn.Module, has_mlp: bool) -> None:
    """Give a block its optional input hook points, all switched off."""
    for name in INPUT_HOOKS:
        setattr(block, name, HookPoint())
    if has_mlp:
        block.hook_mlp_in = HookPoint()
    block.use_attn_in = block.use_split_qkv_input = block.use_hook_mlp_in = False


def splits_input(block: nn.Module) -> bool:
    """True when the heads read per-head copies of resid_pre (switched on, or a copy is hooked)."""
    return (
        block.use_attn_in or block.use_split_qkv_input or any(getattr(block, n).active for n in INPUT_HOOKS)
    )


def per_head(point: HookPoint, resid: Float[Tensor, "batch pos d_model"], n: int) -> Tensor:
    """``resid`` repeated over ``n`` heads, through ``point`` (its own memory if a hook may edit it:
    a copy even for n = 1, where the repeat is a view of ``resid`` itself and an in-place edit
    would change the residual stream)."""
    copies = repeat(resid, "b p d -> b p h d", h=n)
    return point(copies.clone(memory_format=torch.contiguous_format) if point.edits else copies)


def split_attention(
    block: nn.Module,
    resid_pre: Float[Tensor, "batch pos d_model"],
    shortformer_pos: Tensor | None,
    padding: Padding | None,
) -> Float[Tensor, "batch pos d_model"]:
    """attn_out when each head reads its own copy of resid_pre (see the module docstring)."""
    attn = block.attn
    n, n_kv = attn.n_heads, getattr(attn, "n_kv_heads", attn.n_heads)
    attn_in = (
        per_head(block.hook_attn_in, resid_pre, n) if block.use_attn_in or block.hook_attn_in.active else None
    )
    if attn_in is None or block.use_split_qkv_input or block.hook_q_input.active:
        q_in = per_head(block.hook_q_input, resid_pre, n)
        k_in, v_in = (per_head(getattr(block, f"hook_{x}_input"), resid_pre, n_kv) for x in "kv")
    elif n_kv != n:
        raise ConfigError(GQA_ATTN_IN.format(n_kv=n_kv, n=n))
    else:
        q_in = k_in = v_in = attn_in
    pos = None if shortformer_pos is None else shortformer_pos.unsqueeze(-2)  # the same for every head
    ln = block.ln1
    if pos is not None and block.pos_in_norm:  # circuitlab's LN1(resid + W_pos) for q and k
        return attn(ln(q_in + pos), ln(k_in + pos), ln(v_in), padding=padding)
    if q_in is k_in:  # hook_attn_in alone: one copy (and one LN1) serves q, k and v
        x_q = x_k = x_v = ln(q_in)
    else:
        x_q, x_k, x_v = ln(q_in), ln(k_in), ln(v_in)
    if pos is not None:
        x_q, x_k = x_q + pos, x_k + pos
    return attn(x_q, x_k, x_v, padding=padding)


def mlp_input(
    block: nn.Module, resid: Float[Tensor, "batch pos d_model"]
) -> Float[Tensor, "batch pos d_model"]:
    """resid through hook_mlp_in when it is hooked (a copy when a hook may edit it, so the residual
    stream itself never changes), else ``resid``."""
    point = getattr(block, "hook_mlp_in", None)
    if point is None or not point.active:
        return resid
    return point(resid.clone() if point.edits else resid)


def switched_off(model: nn.Module) -> set[str]:
    """The optional hook names whose switch is off: run_with_cache's default leaves them out."""
    off = set()
    for l, block in enumerate(model.blocks):
        for flag, names in FLAGS.items():
            if not getattr(block.attn if flag == "use_attn_result" else block, flag, False):
                off |= {f"blocks.{l}.{name}" for name in names}
    return off


def set_flag(model: nn.Module, flag: str, on: bool) -> None:
    """Switch one optional hook family on or off in every block."""
    if not isinstance(on, bool):
        raise ConfigError(f"{flag} must be True or False, got {on!r}")
    for block in model.blocks:
        setattr(block.attn if flag == "use_attn_result" else block, flag, on)
    setattr(model, flag, on)


class OptionalHooks:
    """TransformerLens's ``set_use_*`` switches (mixed into ``Transformer``), and caching (``run_with_cache``,
    ``get_caching_hooks``, ...) whose default keeps the optional points that are switched on."""

    use_attn_result = use_split_qkv_input = use_attn_in = use_hook_mlp_in = use_hook_tokens = False

    def set_use_attn_result(self, use_attn_result: bool) -> None:
        """Compute and cache each head's write r^h = z^h W_O^h (blocks.{l}.attn.hook_result)."""
        set_flag(self, "use_attn_result", use_attn_result)

    def set_use_split_qkv_input(self, use_split_qkv_input: bool) -> None:
        """Give q, k and v of each head its own copy of resid_pre (hook_q_input, hook_k_input, hook_v_input;
        with grouped-query attention k and v get one copy per key/value head)."""
        set_flag(self, "use_split_qkv_input", use_split_qkv_input)

    def set_use_attn_in(self, use_attn_in: bool) -> None:
        """Give each head one copy of resid_pre for q, k and v (hook_attn_in). Not with grouped-query
        attention (``ConfigError``; TransformerLens asserts): use ``set_use_split_qkv_input``."""
        if use_attn_in is True and self.cfg.n_kv_heads != self.cfg.n_heads:
            raise ConfigError(
                "set_use_attn_in(True): " + GQA_ATTN_IN.format(n_kv=self.cfg.n_kv_heads, n=self.cfg.n_heads)
            )
        set_flag(self, "use_attn_in", use_attn_in)

    def set_use_hook_mlp_in(self, use_hook_mlp_in: bool) -> None:
        """Expose the MLP's input (hook_mlp_in)."""
        if not self.cfg.has_mlp:
            raise ConfigError("set_use_hook_mlp_in: an attention-only model has no MLP input to hook")
        set_flag(self, "use_hook_mlp_in", use_hook_mlp_in)

    def set_use_hook_tokens(self, use_hook_tokens: bool) -> None:
        """Add (or remove) the ``hook_tokens`` point, which sees the token ids [batch, pos]."""
        if not isinstance(use_hook_tokens, bool):
            raise ConfigError(f"use_hook_tokens must be True or False, got {use_hook_tokens!r}")
        if use_hook_tokens and not hasattr(self, "hook_tokens"):
            self.hook_tokens = HookPoint()
        elif not use_hook_tokens and hasattr(self, "hook_tokens"):
            del self.hook_tokens
        self.use_hook_tokens = use_hook_tokens

    def cache_selection(self, names_filter: Any) -> list[str]:
        """The names ``run_with_cache`` and the caching hooks keep: with no ``names_filter`` every
        hook point but the optional ones switched off. A filter that names an optional point
        computes it; a predicate selects hook_result and hook_mlp_in but never a switched-off
        per-head input copy (that would change the shapes LN1's hooks see, which TransformerLens's
        predicates never do)."""
        off = switched_off(self)
        if names_filter is None:
            names_filter = [name for name in self.hook_dict if name not in off]
        elif callable(names_filter):  # a predicate never switches the heads to per-head input copies
            copies, selects = {n for n in off if n.endswith(INPUT_HOOKS)}, names_filter
            names_filter = lambda name: selects(name) and name not in copies  # noqa: E731
        return super().cache_selection(names_filter)


__all__ = [
    "OptionalHooks",
    "add_optional_hooks",
    "mlp_input",
    "set_flag",
    "split_attention",
    "splits_input",
    "switched_off",
]
