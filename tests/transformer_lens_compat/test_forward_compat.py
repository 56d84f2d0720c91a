"""Transformer.forward's options against TransformerLens 3.9's HookedTransformer.forward.

Each scenario runs on a circuitlab Transformer and on its TransformerLens twin
(``cl.interop.to_transformer_lens``) and the results must be equal: return types, the per-token
loss, stop_at_layer / start_at_layer, padded batches (left and right), and the optional hook
points (use_attn_result, use_split_qkv_input, use_attn_in, use_hook_mlp_in, use_hook_tokens).
"""

from __future__ import annotations

import pytest
import torch
from compat_models import assert_same, make_pair, tokens

pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)
from transformer_lens.hook_points import HookPoint as TLHookPoint  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

KINDS = {
    "learned-mlp": dict(),
    "shortformer-attn-only": dict(attn_only=True, positional="shortformer"),
    "sinusoidal-no-norm": dict(positional="sinusoidal", normalization="none"),
}
TOKENS = tokens(batch=3, pos=9)


@pytest.fixture(scope="module", params=list(KINDS), ids=list(KINDS))
def pair(request):
    return make_pair(**KINDS[request.param])


@pytest.fixture(autouse=True)
def _switches_off(pair):
    yield
    for model in pair:
        model.reset_hooks(including_permanent=True)
        for switch in ("attn_result", "split_qkv_input", "attn_in"):
            getattr(model, f"set_use_{switch}")(False)
        if not model.cfg.attn_only:
            model.set_use_hook_mlp_in(False)


def both(pair, scenario):
    ours, theirs = (scenario(model) for model in pair)
    assert_same(ours, theirs)
    return ours


def padded(side: str) -> tuple[torch.Tensor, torch.Tensor]:
    """TOKENS with rows 1 and 2 padded (ids kept: the mask alone says what is padding)."""
    mask = torch.ones_like(TOKENS)
    for row, n in ((1, 5), (2, 2)):
        mask[row, : 9 - n] = 0 if side == "left" else 1
        mask[row, n:] = 1 if side == "left" else 0
    return TOKENS, mask


@pytest.mark.parametrize("per_token", [False, True], ids=["mean", "per-token"])
@pytest.mark.parametrize("return_type", ["logits", "loss", "both", None])
def test_return_types_and_the_per_token_loss(pair, return_type, per_token) -> None:
    out = both(pair, lambda m: m(TOKENS, return_type=return_type, loss_per_token=per_token))
    if return_type == "both":
        assert out.loss.shape == (() if not per_token else (3, 8)) and out.logits.shape == (3, 9, 23)


@pytest.mark.parametrize("stop", [0, 1, -1, 2])
def test_stop_at_layer_returns_the_residual_stream(pair, stop) -> None:
    both(pair, lambda m: m(TOKENS, stop_at_layer=stop))


@pytest.mark.parametrize("start", [0, 1, -1])
@pytest.mark.parametrize("return_type", ["logits", "loss"])
def test_start_at_layer_takes_the_residual_stream(pair, start, return_type) -> None:
    ours, _ = pair
    resid = ours(TOKENS, stop_at_layer=start).detach()
    pos = None
    if ours.cfg.positional == "shortformer":
        pos = ours.W_pos[:9].detach().expand(3, -1, -1)
    kwargs = dict(start_at_layer=start, tokens=TOKENS, return_type=return_type, shortformer_pos_embed=pos)
    both(pair, lambda m: m(resid, **kwargs))


def test_stop_and_start_together_run_the_blocks_between(pair) -> None:
    resid = pair[0](TOKENS, stop_at_layer=0).detach()
    pos = pair[0].W_pos[:9].detach().expand(3, -1, -1) if pair[0].cfg.positional == "shortformer" else None
    both(pair, lambda m: m(resid, start_at_layer=0, stop_at_layer=1, shortformer_pos_embed=pos))


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("return_type", ["logits", "loss", "both"])
def test_a_padded_batch_with_an_attention_mask(pair, side, return_type) -> None:
    toks, mask = padded(side)
    both(pair, lambda m: m(toks, return_type=return_type, attention_mask=mask))
    both(pair, lambda m: m(toks, return_type="loss", loss_per_token=True, attention_mask=mask))


@pytest.mark.parametrize("side", ["left", "right"])
def test_a_padded_batch_caches_the_same_activations(pair, side) -> None:
    toks, mask = padded(side)

    def scenario(model):
        _, cache = model.run_with_cache(toks, attention_mask=mask)
        return {name: cache[name] for name in sorted(cache.keys())}

    both(pair, scenario)  # hook_attn_scores holds -inf where TransformerLens's does; pad rows' pattern is 0


def test_the_default_cache_holds_the_same_names_until_hook_result_is_switched_on(pair) -> None:
    def names(model):
        _, cache = model.run_with_cache(TOKENS)
        return sorted(cache.keys())

    assert not [n for n in both(pair, names) if n.endswith("hook_result")]
    for model in pair:
        model.set_use_attn_result(True)
    assert len([n for n in both(pair, names) if n.endswith("hook_result")]) == 2


def cache_of(names):
    def scenario(model):
        _, cache = model.run_with_cache(TOKENS, names_filter=lambda n: n.endswith(names))
        return {name: cache[name] for name in sorted(cache.keys())}

    return scenario


@pytest.mark.parametrize(
    "switch, names",
    [
        ("attn_result", ("hook_result",)),
        ("split_qkv_input", ("hook_q_input", "hook_k_input", "hook_v_input", "hook_normalized", "hook_q")),
        ("attn_in", ("hook_attn_in", "hook_normalized", "hook_k")),
    ],
)
def test_switched_on_hooks_cache_what_transformer_lens_caches(pair, switch, names) -> None:
    for model in pair:
        getattr(model, f"set_use_{switch}")(True)
    cache = both(pair, cache_of(names))
    assert cache, "the switch exposed nothing"


def test_hook_mlp_in_caches_and_edits_as_in_transformer_lens(pair) -> None:
    if pair[0].cfg.attn_only:
        pytest.skip("an attention-only model has no MLP input")
    for model in pair:
        model.set_use_hook_mlp_in(True)
    both(pair, cache_of(("hook_mlp_in",)))
    edit = [("blocks.0.hook_mlp_in", lambda x, hook: x * 0.5)]
    both(pair, lambda m: m.run_with_hooks(TOKENS, fwd_hooks=edit))


@pytest.mark.parametrize("point", ["hook_q_input", "hook_k_input", "hook_v_input"])
def test_editing_one_heads_split_input_gives_the_same_logits(pair, point) -> None:
    def edit(x, hook):
        x[:, :, 1] = x[:, :, 1].flip(1)  # head 1 reads the positions reversed

    for model in pair:
        model.set_use_split_qkv_input(True)
    both(pair, lambda m: m.run_with_hooks(TOKENS, fwd_hooks=[(f"blocks.1.{point}", edit)]))


def test_editing_hook_attn_in_gives_the_same_logits(pair) -> None:
    for model in pair:
        model.set_use_attn_in(True)
    edit = [("blocks.0.hook_attn_in", lambda x, hook: x * torch.tensor([1.0, -1.0])[:, None])]
    both(pair, lambda m: m.run_with_hooks(TOKENS, fwd_hooks=edit))


def test_editing_hook_result_gives_the_same_logits(pair) -> None:
    for model in pair:
        model.set_use_attn_result(True)
    edit = [("blocks.0.attn.hook_result", lambda r, hook: r * torch.tensor([0.0, 2.0])[:, None])]
    both(pair, lambda m: m.run_with_hooks(TOKENS, fwd_hooks=edit))


def test_hook_tokens_sees_and_edits_the_ids(pair) -> None:
    ours, theirs = pair
    ours.set_use_hook_tokens(True)
    theirs.cfg.use_hook_tokens, theirs.hook_tokens = True, TLHookPoint()  # TL: a constructor flag
    theirs.setup()
    try:
        both(pair, cache_of(("hook_tokens",)))
        edit = [("hook_tokens", lambda t, hook: t.flip(-1))]
        both(pair, lambda m: m.run_with_hooks(TOKENS, return_type="loss", fwd_hooks=edit))
    finally:
        ours.set_use_hook_tokens(False)
        theirs.cfg.use_hook_tokens = False
        del theirs.hook_tokens
        theirs.setup()


def test_model_helpers(pair) -> None:
    ours, theirs = pair
    table = ours.cfg.n_ctx * ours.cfg.d_model if ours.cfg.positional == "sinusoidal" else 0  # a buffer here
    assert ours.n_params == theirs.cfg.n_params and ours.n_params_total + table == theirs.n_params_total
    assert ours.device == torch.device(theirs.cfg.device)
    both(pair, lambda m: m.all_head_labels())
    both(pair, lambda m: [m.tokens_to_residual_directions(t) for t in (3, torch.tensor(4), TOKENS[:2])])
    both(pair, lambda m: m.W_E_pos)
    stacks = ["W_E", "W_pos", "W_U", "b_U", "W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"]
    if not ours.cfg.attn_only:
        stacks += ["W_in", "W_out", "b_in", "b_out"]
    both(pair, lambda m: {name: getattr(m, name) for name in stacks})
    both(pair, lambda m: [m.QK.AB, m.OV.AB])
    if not ours.cfg.attn_only:  # TransformerLens reads block.mlp.b_out even without an MLP
        cases = [(0, False, True), (1, True, True), (2, False, True), (2, False, False), (1, True, False)]
        both(pair, lambda m: [m.accumulated_bias(l, mlp_input=i, include_mlp_biases=b) for l, i, b in cases])
