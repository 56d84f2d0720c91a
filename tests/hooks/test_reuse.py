"""Hooked activations reuse the memory of the previous call only when nobody holds it."""

from __future__ import annotations

import torch

import circuitlab.hooks.reuse as reuse
from circuitlab.hooks import ReadsOnly
from circuitlab.transformer import Transformer, TransformerConfig

PATTERN = "blocks.0.attn.hook_pattern"
BIG = ("blocks.0.attn.hook_attn_scores", PATTERN, "blocks.0.attn.hook_result")


def _model() -> Transformer:
    cfg = TransformerConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=31, n_ctx=12, attn_only=True)
    return Transformer(cfg)


def _tokens(seed: int) -> torch.Tensor:
    return torch.randint(0, 31, (3, 12), generator=torch.Generator().manual_seed(seed))


def _cache(model: Transformer, seed: int, **kwargs):
    with torch.no_grad():
        return model.run_with_cache(_tokens(seed), **kwargs)[1]


def test_memory_dropped_by_the_user_is_written_again_by_the_next_call() -> None:
    model = _model()
    ptrs = {name: _cache(model, 0)[name].data_ptr() for name in BIG}  # each cache dropped at once
    again = _cache(model, 1)
    assert {name: again[name].data_ptr() for name in BIG} == ptrs


def test_a_cache_that_is_still_held_is_never_overwritten() -> None:
    model = _model()
    first = _cache(model, 0)
    kept = {name: first[name].clone() for name in BIG}
    second = _cache(model, 1)
    for name in BIG:
        assert first[name].data_ptr() != second[name].data_ptr()
        torch.testing.assert_close(first[name], kept[name], atol=0, rtol=0)
        assert not torch.equal(second[name], kept[name])


def test_holding_any_view_or_array_of_the_activation_keeps_it() -> None:
    model = _model()
    row = _cache(model, 0)[PATTERN][0, 1]
    row_copy = row.clone()
    array = _cache(model, 2, names_filter=PATTERN)[PATTERN].numpy()
    array_copy = array.copy()
    _cache(model, 1)
    _cache(model, 3, names_filter=PATTERN)
    torch.testing.assert_close(row, row_copy, atol=0, rtol=0)
    assert (array == array_copy).all()


def test_a_hook_that_stores_the_activation_itself_keeps_it() -> None:
    model = _model()
    stored = []
    with torch.no_grad():
        model.run_with_hooks(_tokens(0), fwd_hooks=[(PATTERN, lambda act, hook: stored.append(act))])
        reference = stored[0].clone()
        model.run_with_hooks(_tokens(1), fwd_hooks=[(PATTERN, lambda act, hook: stored.append(act))])
    torch.testing.assert_close(stored[0], reference, atol=0, rtol=0)
    assert stored[0].data_ptr() != stored[1].data_ptr()


def test_reused_memory_gives_the_same_cache_as_fresh_memory(monkeypatch) -> None:
    model = _model()
    _cache(model, 0)
    reused = _cache(model, 1)
    monkeypatch.setattr(reuse, "_COUNTABLE", False)
    fresh = _cache(model, 1)
    for name in reused:
        torch.testing.assert_close(reused[name], fresh[name], atol=0, rtol=0)


def test_nothing_is_kept_under_autograd_or_by_idle_hook_points() -> None:
    model = _model()
    model(_tokens(0))
    _, cache = model.run_with_cache(_tokens(0))  # grad mode: the weights require grad
    del cache
    assert not any(point in reuse._kept for point in model.hook_dict.values())


def test_release_activation_memory_forgets_what_was_kept() -> None:
    model = _model()
    _cache(model, 0)
    assert any(point in reuse._kept for point in model.hook_dict.values())
    model.release_activation_memory()
    assert not any(point in reuse._kept for point in model.hook_dict.values())


def test_scores_replaced_by_a_hook_give_their_softmax() -> None:
    model = _model()
    causal = torch.full((12, 12), float("-inf")).triu(1)  # equal scores wherever attention may look
    uniform = torch.softmax(causal, -1).expand(3, 2, 12, 12)
    seen: list[torch.Tensor] = []
    for _ in range(2):  # the second call writes into kept memory
        seen.clear()
        with torch.no_grad():
            model.run_with_hooks(
                _tokens(0),
                fwd_hooks=[
                    ("blocks.0.attn.hook_attn_scores", lambda s, hook: causal.expand_as(s).clone()),
                    (PATTERN, lambda p, hook: seen.append(p.clone())),
                ],
            )
        torch.testing.assert_close(seen[0], uniform)


def test_inference_mode_and_no_grad_calls_may_alternate() -> None:
    model = _model()
    caches = []
    for mode in (
        torch.inference_mode,
        torch.no_grad,
        torch.no_grad,
        torch.inference_mode,
        torch.inference_mode,
    ):
        with mode():
            caches.append(model.run_with_cache(_tokens(0))[1][PATTERN].clone())
    _, cache = model.run_with_cache(_tokens(0))  # grad mode after both
    for pattern in caches:
        torch.testing.assert_close(pattern, cache[PATTERN], atol=0, rtol=0)


def test_torch_func_grad_through_a_hooked_model_equals_autograd() -> None:
    model = _model()
    tokens = _tokens(0)
    params = dict(model.named_parameters())
    seen = []

    def loss_of(W_Q: torch.Tensor) -> torch.Tensor:
        with model.hooks([(PATTERN, ReadsOnly(lambda p, hook: seen.append(1)))]):
            return torch.func.functional_call(model, {**params, "blocks.0.attn.W_Q": W_Q}, (tokens,)).sum()

    for _ in range(2):
        grad = torch.func.grad(loss_of)(params["blocks.0.attn.W_Q"].detach())
    model.zero_grad()
    loss_of(params["blocks.0.attn.W_Q"]).backward()
    torch.testing.assert_close(grad, model.blocks[0].attn.W_Q.grad)
    assert seen == [1, 1, 1]


def test_vmap_over_a_hooked_attention_layer_allocates_for_itself() -> None:
    model = _model()
    attn = model.blocks[0].attn
    x = torch.randn(3, 2, 12, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), model.hooks([(PATTERN, ReadsOnly(lambda p, hook: None))]):
        mapped = torch.func.vmap(attn)(x)
        looped = torch.stack([attn(one) for one in x])
    torch.testing.assert_close(mapped, looped)
