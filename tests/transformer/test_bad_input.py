"""Bad input to the transformer: each mistake is one clear error naming the value and the limit."""

from __future__ import annotations

import pytest
import torch
from tiny_models import TINY, tiny_model

from circuitlab.errors import ConfigError, HookNameError, ShapeError
from circuitlab.transformer import TransformerConfig


@pytest.fixture(scope="module")
def model():
    return tiny_model()  # d_vocab 23, n_ctx 10


@pytest.mark.parametrize(
    "toks, match",
    [
        (torch.tensor([[1, 2, 23]]), r"token id 23 out of range \[0, 22\].*d_vocab=23"),
        (torch.tensor([[1, -1, 2]]), r"token id -1 out of range \[0, 22\]"),
        (torch.tensor([[1.0, 2.0]]), r"integer ids.*torch.float32.*\.long\(\)"),
        (torch.tensor([[True, False]]), r"integer ids.*torch.bool"),
        (torch.tensor(3), r"\[batch, pos\].*0-D shape \(\)"),
        (torch.zeros(2, 3, 4, dtype=torch.long), r"\[batch, pos\].*3-D shape \(2, 3, 4\)"),
        (torch.zeros(2, 11, dtype=torch.long), r"sequence length 11 exceeds n_ctx=10"),
        (torch.zeros(2, 0, dtype=torch.long), r"shape \(2, 0\).*at least one"),
        ([[1, 2]], r"torch.Tensor.*got list"),
    ],
    ids=["id-too-large", "negative-id", "float", "bool", "0-D", "3-D", "too-long", "empty", "list"],
)
def test_bad_tokens_raise_a_shape_error_naming_value_and_limit(model, toks, match) -> None:
    with pytest.raises(ShapeError, match=match):
        model(toks)


def test_a_one_dimensional_tensor_is_one_sequence(model) -> None:
    assert model(torch.tensor([1, 2, 3])).shape == (1, 3, 23)


def test_int32_tokens_are_accepted(model) -> None:
    toks = torch.tensor([[1, 2, 3]])
    torch.testing.assert_close(model(toks.int()), model(toks))


@pytest.mark.parametrize("how", ["run_with_hooks", "run_with_cache"])
def test_a_hook_name_that_does_not_exist_is_named_with_a_suggestion(model, how) -> None:
    toks = torch.tensor([[1, 2]])
    with pytest.raises(HookNameError, match=r"'blocks.0.attn.hook_patern'.*hook_pattern"):
        if how == "run_with_hooks":
            model.run_with_hooks(toks, fwd_hooks=[("blocks.0.attn.hook_patern", lambda a, h: None)])
        else:
            model.run_with_cache(toks, names_filter="blocks.0.attn.hook_patern")
    assert not any(p.active for p in model.hook_dict.values())


@pytest.mark.parametrize(
    "changes, match",
    [
        (dict(n_ctx=0), r"n_ctx=0: must be an integer >= 1"),
        (dict(d_head=0), r"d_head=0: must be an integer >= 1"),
        (dict(d_vocab=1), r"d_vocab=1: must be an integer >= 2"),
        (dict(n_layers=-1), r"n_layers=-1: must be an integer >= 0"),
        (dict(d_model=2.5), r"d_model=2.5: must be an integer >= 1"),
        (
            dict(positional="alibi"),
            r"positional='alibi': choose one of sinusoidal, learned, shortformer, rotary, none",
        ),
        (dict(normalization="rms"), r"normalization='rms': choose one of layernorm, rmsnorm, none"),
        (dict(attn_only=True, d_mlp=64), r"d_mlp=64: an attention-only model has no MLP"),
        (dict(attn_only=False, d_mlp=0), r"d_mlp=0: must be an integer >= 1"),
        (dict(ln_eps=0.0), r"ln_eps=0.0: must be .*> 0"),
    ],
    ids=[
        "n_ctx",
        "d_head",
        "d_vocab",
        "n_layers",
        "float-d_model",
        "positional",
        "norm",
        "d_mlp-attn-only",
        "d_mlp-zero",
        "ln_eps",
    ],
)
def test_configs_that_cannot_work_raise_a_config_error(changes, match) -> None:
    with pytest.raises(ConfigError, match=match):
        TransformerConfig(**{**TINY, **changes})


def test_transformer_refuses_something_that_is_not_a_config() -> None:
    from circuitlab.transformer import Transformer

    with pytest.raises(TypeError, match="TransformerConfig.*dict"):
        Transformer(dict(TINY))  # type: ignore[arg-type]


def test_error_messages_are_one_line(model) -> None:
    with pytest.raises(ShapeError) as info:
        model(torch.tensor([[99]]))
    assert "\n" not in str(info.value)
