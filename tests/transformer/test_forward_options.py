"""forward's TransformerLens options: return types, per-token loss, part of the blocks, and the
optional hook points that are computed only when switched on or hooked."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model, tokens

from circuitlab.errors import ConfigError, HookNameError, ShapeError
from circuitlab.transformer.forward_options import Output

MLP = dict(attn_only=False, d_mlp=8, positional="learned")


def test_return_type_none_runs_up_to_ln_final_and_returns_nothing() -> None:
    model, seen = tiny_model(), []
    hook = ("ln_final.hook_normalized", lambda x, h: seen.append(x.shape))
    assert model.run_with_hooks(tokens(), return_type=None, fwd_hooks=[hook]) is None
    assert seen == [(3, 10, model.cfg.d_model)]


def test_both_is_a_named_pair_and_the_per_token_loss_averages_to_the_loss() -> None:
    model, toks = tiny_model(), tokens()
    out = model(toks, return_type="both")
    assert isinstance(out, Output)
    logits, loss = out
    torch.testing.assert_close(logits, model(toks))
    torch.testing.assert_close(loss, model(toks, return_type="loss"), atol=1e-6, rtol=1e-5)
    per_token = model(toks, return_type="loss", loss_per_token=True)
    assert per_token.shape == (3, 9)
    torch.testing.assert_close(per_token.mean(), loss, atol=1e-6, rtol=1e-5)
    logp = logits.log_softmax(-1)[:, :-1].gather(-1, toks[:, 1:, None])[..., 0]
    torch.testing.assert_close(per_token, -logp, atol=1e-5, rtol=1e-5)


def test_targets_score_every_position_per_token_too() -> None:
    model, toks = tiny_model(), tokens()
    targets = tokens(seed=1)
    per_token = model(toks, return_type="loss", loss_per_token=True, targets=targets)
    assert per_token.shape == (3, 10)
    torch.testing.assert_close(per_token.mean(), model(toks, return_type="loss", targets=targets))


@pytest.mark.parametrize("split", [0, 1, 2, -1])
@pytest.mark.parametrize("spec", [MLP, dict(positional="shortformer")], ids=["learned", "shortformer"])
def test_stop_at_layer_then_start_at_layer_is_the_whole_forward(spec, split) -> None:
    model, toks = tiny_model(**spec), tokens()
    resid = model(toks, stop_at_layer=split)
    assert resid.shape == (3, 10, model.cfg.d_model)
    pos = None
    if spec["positional"] == "shortformer":  # the positions reach q and k of every block
        pos = model.W_pos[:10].expand(3, -1, -1)
    logits = model(resid, start_at_layer=split, shortformer_pos_embed=pos)
    torch.testing.assert_close(logits, model(toks), atol=1e-5, rtol=1e-5)
    loss = model(resid, start_at_layer=split, tokens=toks, return_type="loss", shortformer_pos_embed=pos)
    torch.testing.assert_close(loss, model(toks, return_type="loss"), atol=1e-5, rtol=1e-5)


def test_stop_at_layer_zero_is_the_embedding() -> None:
    model, toks = tiny_model(**MLP), tokens()
    _, cache = model.run_with_cache(toks, names_filter="blocks.0.hook_resid_pre")
    torch.testing.assert_close(model(toks, stop_at_layer=0), cache["resid_pre", 0])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(return_type="probs"), ConfigError, "return_type"),
        (dict(stop_at_layer=1.0), ConfigError, "integer layer index"),
        (dict(start_at_layer=0), ShapeError, "residual stream"),
        (dict(targets=tokens()), ConfigError, "targets are scored only"),
    ],
    ids=["return-type", "float-layer", "tokens-as-resid", "targets-with-logits"],
)
def test_bad_forward_options_are_refused(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        tiny_model()(tokens(), **kwargs)


def test_a_loss_from_a_middle_layer_needs_the_tokens() -> None:
    model = tiny_model()
    with pytest.raises(ConfigError, match="needs the tokens"):
        model(model(tokens(), stop_at_layer=1), start_at_layer=1, return_type="loss")


OPTIONAL = ("hook_attn_in", "hook_q_input", "hook_k_input", "hook_v_input", "hook_mlp_in", "attn.hook_result")


def optional_names(model) -> list[str]:
    return [n for n in model.hook_names if n.endswith(OPTIONAL)]


def test_optional_hooks_stay_out_of_the_default_cache_until_switched_on() -> None:
    model, toks = tiny_model(**MLP), tokens()
    _, cache = model.run_with_cache(toks)
    assert len(optional_names(model)) == 12 and not set(optional_names(model)) & set(cache)
    model.set_use_attn_result(True)
    model.set_use_split_qkv_input(True)
    model.set_use_hook_mlp_in(True)
    logits, cache = model.run_with_cache(toks)
    assert {n for n in optional_names(model) if "attn_in" not in n} <= set(cache)
    torch.testing.assert_close(logits, model(toks), atol=1e-5, rtol=1e-5)
    assert cache["blocks.1.hook_q_input"].shape == (3, 10, 2, model.cfg.d_model)
    torch.testing.assert_close(cache["blocks.1.hook_k_input"][:, :, 1], cache["resid_pre", 1])
    torch.testing.assert_close(cache["blocks.0.hook_mlp_in"], cache["resid_mid", 0])
    torch.testing.assert_close(cache["result", 1].sum(-2) + model.blocks[1].attn.b_O, cache["attn_out", 1])


def test_a_filter_that_names_an_optional_hook_computes_it() -> None:
    model, toks = tiny_model(**MLP), tokens()
    _, cache = model.run_with_cache(toks, names_filter=["blocks.0.attn.hook_result", "blocks.0.hook_attn_in"])
    assert cache["result", 0].shape == (3, 10, 2, model.cfg.d_model)
    torch.testing.assert_close(cache["blocks.0.hook_attn_in"][:, :, 0], model(toks, stop_at_layer=0))


@pytest.mark.parametrize("point", ["hook_q_input", "hook_k_input", "hook_v_input", "hook_attn_in"])
@pytest.mark.parametrize("positional", ["learned", "shortformer"])
def test_editing_one_heads_input_changes_that_head_only(point, positional) -> None:
    model, toks = tiny_model(positional=positional), tokens()

    def shift_head_1(x, hook):  # in place: the copy is the head's own memory (LN1 undoes a scale)
        x[:, :, 1] += torch.linspace(-2, 2, x.shape[-1])

    seen = "v" if point in ("hook_v_input", "hook_attn_in") else "attn_scores"  # what the edit moves
    names = lambda n: n.endswith((f"hook_{seen}", "hook_resid_pre"))  # noqa: E731
    _, clean = model.run_with_cache(toks, names_filter=names)
    with model.hooks(fwd_hooks=[(f"blocks.1.{point}", shift_head_1)]):
        _, edited = model.run_with_cache(toks, names_filter=names)
    head = (lambda c, h: c[seen, 1][:, :, h]) if seen == "v" else (lambda c, h: c[seen, 1][:, h])
    torch.testing.assert_close(head(edited, 0), head(clean, 0), atol=1e-6, rtol=1e-5)
    assert (head(edited, 1) - head(clean, 1)).nan_to_num().abs().max() > 1e-3  # -inf - -inf: masked
    torch.testing.assert_close(edited["resid_pre", 1], clean["resid_pre", 1])  # the stream is untouched


def test_editing_hook_mlp_in_changes_the_mlp_but_not_resid_mid() -> None:
    model, toks = tiny_model(**MLP), tokens()
    names = ["blocks.0.hook_resid_mid", "blocks.0.hook_mlp_out"]
    _, clean = model.run_with_cache(toks, names_filter=names)

    def zero_(x, hook):
        x.zero_()

    with model.hooks(fwd_hooks=[("blocks.0.hook_mlp_in", zero_)]):
        _, edited = model.run_with_cache(toks, names_filter=names)
    torch.testing.assert_close(edited["resid_mid", 0], clean["resid_mid", 0])
    ln2 = model.blocks[0].ln2
    torch.testing.assert_close(
        edited["mlp_out", 0], model.blocks[0].mlp(ln2(torch.zeros_like(clean["resid_mid", 0])))
    )


def test_hook_tokens_exists_once_switched_on_and_sees_the_ids() -> None:
    model, toks = tiny_model(), tokens()
    with pytest.raises(HookNameError):
        model.run_with_cache(toks, names_filter="hook_tokens")
    model.set_use_hook_tokens(True)
    _, cache = model.run_with_cache(toks)
    assert torch.equal(cache["hook_tokens"], toks)
    flipped = model.run_with_hooks(toks, fwd_hooks=[("hook_tokens", lambda t, h: t.flip(0))])
    torch.testing.assert_close(flipped, model(toks.flip(0)))
    model.set_use_hook_tokens(False)
    assert "hook_tokens" not in model.hook_names


def test_switches_are_checked() -> None:
    with pytest.raises(ConfigError, match="attention-only"):
        tiny_model().set_use_hook_mlp_in(True)
    with pytest.raises(ConfigError, match="True or False"):
        tiny_model().set_use_attn_result("yes")


@pytest.mark.parametrize("n_kv", [1, 2])
@pytest.mark.parametrize("positional", ["learned", "shortformer", "rotary"])
def test_split_inputs_with_grouped_query_attention_give_one_copy_per_key_value_head(n_kv, positional) -> None:
    model, toks = tiny_model(n_heads=4, n_key_value_heads=n_kv, positional=positional), tokens()
    clean = model(toks)
    model.set_use_split_qkv_input(True)
    names = ("hook_q_input", "hook_k_input", "hook_v_input", "hook_resid_pre")
    logits, cache = model.run_with_cache(toks, names_filter=lambda n: n.endswith(names))
    torch.testing.assert_close(logits, clean, atol=1e-5, rtol=1e-5)
    assert cache["blocks.1.hook_q_input"].shape == (3, 10, 4, model.cfg.d_model)
    assert cache["blocks.1.hook_k_input"].shape == cache["blocks.1.hook_v_input"].shape == (3, 10, n_kv, 16)

    def zero_last_kv_head(x, hook):  # in place: the copy must be the head's own memory, also for n_kv=1
        x[:, :, -1] = 0

    edit = [("blocks.1.hook_k_input", zero_last_kv_head), ("blocks.1.hook_v_input", zero_last_kv_head)]
    with model.hooks(fwd_hooks=edit):
        _, edited = model.run_with_cache(toks, names_filter=lambda n: n.startswith("blocks.1.hook_resid"))
    torch.testing.assert_close(edited["resid_pre", 1], cache["resid_pre", 1])  # the stream is untouched
    assert not torch.allclose(edited["resid_post", 1], model.run_with_cache(toks)[1]["resid_post", 1])


def test_attn_in_with_grouped_query_attention_names_the_split_inputs_as_the_fix() -> None:
    model, toks = tiny_model(n_heads=4, n_key_value_heads=2), tokens()
    with pytest.raises(ConfigError, match=r"n_key_value_heads=2 .*use set_use_split_qkv_input\(True\)"):
        model.set_use_attn_in(True)
    with pytest.raises(ConfigError, match="hook_attn_in"):
        model.run_with_hooks(toks, fwd_hooks=[("blocks.0.hook_attn_in", lambda x, hook: None)])
    model.set_use_attn_in(False)  # switching it off is always allowed
