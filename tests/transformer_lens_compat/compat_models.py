"""A circuitlab Transformer and its TransformerLens twin (``cl.interop.to_transformer_lens``)."""

from __future__ import annotations

import warnings

import torch
from tiny_models import randomise_non_weights

from circuitlab.interop import to_transformer_lens
from circuitlab.transformer import Transformer, TransformerConfig

D_VOCAB, N_CTX = 23, 12


def make_pair(
    attn_only: bool = False, positional: str = "learned", normalization: str = "layernorm", seed: int = 0
):
    """(ours, theirs): a tiny model whose biases and LayerNorm weights are random too, and its twin."""
    cfg = TransformerConfig(
        n_layers=2,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_vocab=D_VOCAB,
        n_ctx=N_CTX,
        attn_only=attn_only,
        d_mlp=None if attn_only else 12,
        positional=positional,
        normalization=normalization,
        init_range=0.3,
        seed=seed,
    )
    ours = randomise_non_weights(Transformer(cfg), seed=seed + 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        theirs = to_transformer_lens(ours)
    return ours.eval(), theirs.eval()


def tokens(batch: int = 2, pos: int = 7, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, D_VOCAB, (batch, pos), generator=torch.Generator().manual_seed(seed))


def assert_same(ours, theirs, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Equal results: tensors to float rounding (gradients dropped), containers element by element."""
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, torch.Tensor), f"expected a tensor, got {type(ours).__name__}"
        torch.testing.assert_close(ours.detach(), theirs.detach(), atol=atol, rtol=rtol)
    elif isinstance(theirs, tuple | list):
        assert isinstance(ours, tuple | list) and len(ours) == len(theirs), (ours, theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert_same(a, b, atol, rtol)
    elif isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), (ours, theirs)
        for key in theirs:
            assert_same(ours[key], theirs[key], atol, rtol)
    elif isinstance(theirs, float):  # a float read off an activation (.item()): float rounding too
        assert isinstance(ours, float) and abs(ours - theirs) <= atol + rtol * abs(theirs), (ours, theirs)
    else:
        assert ours == theirs


def both(pair, scenario):
    """Run ``scenario(model)`` on ours and theirs, assert the results are equal, return ours."""
    ours, theirs = (scenario(model) for model in pair)
    assert_same(ours, theirs)
    return ours


def recorder(log: list, tag: str):
    """A hook that appends (tag, hook.name) to ``log``."""
    return lambda act, hook: log.append((tag, hook.name))


def make_gqa_pair(n_kv_heads: int = 2, positional: str = "learned", seed: int = 0):
    """(ours, theirs) with grouped-query attention: 4 query heads sharing ``n_kv_heads`` key/value
    heads. ``to_transformer_lens`` refuses GQA, so the twin is built here: the same
    HookedTransformerConfig plus ``n_key_value_heads``, loaded with our weights (TL's GQA stores
    ``_W_K``, ``_W_V``, ``_b_K``, ``_b_V`` under circuitlab's names)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from circuitlab.interop.transformer_lens import _tl_config_kwargs

    cfg = TransformerConfig(
        n_layers=2, d_model=16, n_heads=4, d_head=4, d_vocab=D_VOCAB, n_ctx=N_CTX, d_mlp=12,
        attn_only=False, positional=positional, n_key_value_heads=n_kv_heads, init_range=0.3, seed=seed,
    )  # fmt: skip
    ours = randomise_non_weights(Transformer(cfg), seed=seed + 1)
    kwargs = _tl_config_kwargs(cfg.replace(n_key_value_heads=None)) | {"n_key_value_heads": n_kv_heads}
    theirs = HookedTransformer(HookedTransformerConfig(**kwargs))
    missing, unexpected = theirs.load_state_dict(ours.state_dict(), strict=False)
    assert not unexpected and all(k.endswith((".mask", ".IGNORE")) for k in missing), (missing, unexpected)
    return ours.eval(), theirs.eval()
