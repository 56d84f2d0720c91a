"""circuitlab <-> TransformerLens 3.9: the same function, the same activations, the same analysis."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
import torch
from tiny_models import randomise_non_weights

from circuitlab.errors import ConfigError
from circuitlab.interop import (
    from_transformer_lens,
    load_transformer_lens,
    save_transformer_lens,
    to_transformer_lens,
)
from circuitlab.transformer import Transformer, TransformerConfig

tl = pytest.importorskip(
    "transformer_lens", reason="transformer-lens is not installed (pip install circuitlab[interop])"
)
from transformer_lens import head_detector  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

D_VOCAB, N_CTX = 23, 16


def make_model(
    n_layers: int = 2,
    attn_only: bool = True,
    positional: str = "shortformer",
    normalization: str = "layernorm",
    seed: int = 0,
    init_range: float = 0.3,
) -> Transformer:
    """A tiny model whose biases and LayerNorm weights are random too (nothing hides at 0 or 1)."""
    cfg = TransformerConfig(
        n_layers=n_layers,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_vocab=D_VOCAB,
        n_ctx=N_CTX,
        attn_only=attn_only,
        d_mlp=None if attn_only else 24,
        positional=positional,
        normalization=normalization,
        activation="gelu" if seed % 2 == 0 else "relu",
        init_range=init_range,
        seed=seed,
    )
    return randomise_non_weights(Transformer(cfg), seed=seed + 1).eval()


def case(attn_only: bool, positional: str, normalization: str, n_layers: int, seed: int):
    spec = dict(
        n_layers=n_layers, attn_only=attn_only, positional=positional, normalization=normalization, seed=seed
    )
    name = f"{'attn-only' if attn_only else 'mlp'}-{positional}-{normalization}-{n_layers}L"
    return pytest.param(spec, id=name)


POSITIONALS = ("shortformer", "learned", "sinusoidal", "none")
# Every scheme x attention-only/MLP x LayerNorm/none at two layers, and each scheme at 0 and 1 layers.
CASES = [
    case(a, p, norm, 2, i)
    for i, (a, p, norm) in enumerate(itertools.product((True, False), POSITIONALS, ("layernorm", "none")))
] + [
    case(i % 2 == 0, p, ("layernorm", "none")[(i + n) % 2], n, 16 + 2 * i + n)
    for i, p in enumerate(POSITIONALS)
    for n in (0, 1)
]


def random_tokens(seed: int = 0, batch: int = 3, pos: int = N_CTX) -> torch.Tensor:
    return torch.randint(0, D_VOCAB, (batch, pos), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("spec", CASES)
def test_converted_model_gives_the_same_logits_as_circuitlab(spec: dict) -> None:
    model = make_model(**spec)
    tokens = random_tokens(spec["seed"])
    hooked = to_transformer_lens(model)
    torch.testing.assert_close(hooked(tokens), model(tokens), atol=1e-4, rtol=0)


@pytest.mark.parametrize("positional", ["shortformer", "learned"])
def test_return_type_loss_equals_transformer_lens_loss(positional: str) -> None:
    model = make_model(positional=positional)
    tokens = random_tokens(5)
    hooked = to_transformer_lens(model)
    torch.testing.assert_close(
        model(tokens, return_type="loss"), hooked(tokens, return_type="loss"), atol=1e-5, rtol=0
    )


@pytest.mark.parametrize("spec", CASES)
def test_activations_under_shared_hook_names_are_equal(spec: dict) -> None:
    model = make_model(**spec)
    tokens = random_tokens(spec["seed"])
    hooked = to_transformer_lens(model)
    _, ours = model.run_with_cache(tokens)
    _, theirs = hooked.run_with_cache(tokens)
    # LayerNorm's hook_normalized is checked on its own below (one clear failure, not one per case).
    shared = sorted(n for n in set(ours.keys()) & set(theirs.keys()) if not n.endswith("hook_normalized"))
    expected = {"hook_embed"} | {f"blocks.{l}.attn.hook_pattern" for l in range(spec["n_layers"])}
    assert expected <= set(shared)
    for name in shared:  # same names, same shapes (hook_pos_embed included: [batch, pos, d_model])
        torch.testing.assert_close(ours[name], theirs[name], atol=1e-4, rtol=1e-4, msg=name)


def test_layernorm_hook_normalized_is_the_pre_affine_x_hat_as_in_transformer_lens() -> None:
    """TL's ``ln*.hook_normalized`` is x_hat = (x - mu) / scale, before ``w * x_hat + b``."""
    model = make_model(n_layers=1, attn_only=False, positional="learned")
    hooked = to_transformer_lens(model)
    tokens = random_tokens()
    _, ours = model.run_with_cache(tokens)
    _, theirs = hooked.run_with_cache(tokens)
    names = [n for n in theirs.keys() if n.endswith("hook_normalized")]
    assert names == [
        "blocks.0.ln1.hook_normalized",
        "blocks.0.ln2.hook_normalized",
        "ln_final.hook_normalized",
    ]
    for name in names:
        torch.testing.assert_close(ours[name], theirs[name], atol=1e-4, rtol=1e-4, msg=name)


@pytest.mark.parametrize("spec", CASES)
def test_round_trip_through_transformer_lens_returns_an_equal_model(spec: dict) -> None:
    model = make_model(**spec)
    back = from_transformer_lens(to_transformer_lens(model), positional=spec["positional"])
    assert back.cfg == model.cfg
    mine, theirs = model.state_dict(), back.state_dict()
    assert mine.keys() == theirs.keys()
    for name in mine:
        assert torch.equal(mine[name], theirs[name]), name


@pytest.mark.parametrize("positional", ["sinusoidal", "none"])
def test_fixed_positions_come_back_as_learned_by_default_with_equal_logits(positional: str) -> None:
    model = make_model(positional=positional)
    hooked = to_transformer_lens(model)
    assert not hooked.pos_embed.W_pos.requires_grad  # fixed in circuitlab, frozen in TL
    back = from_transformer_lens(hooked)
    assert back.cfg.positional == "learned"
    tokens = random_tokens()
    torch.testing.assert_close(back(tokens), model(tokens), atol=0, rtol=0)


def test_asking_for_fixed_positions_refuses_learned_ones() -> None:
    hooked = to_transformer_lens(make_model(positional="learned"))
    for positional in ("sinusoidal", "none"):
        with pytest.raises(ConfigError, match="W_pos differs"):
            from_transformer_lens(hooked, positional=positional)
    with pytest.raises(ConfigError, match="shortformer"):
        from_transformer_lens(hooked, positional="shortformer")


@pytest.mark.parametrize("positional", ["shortformer", "learned"])
@pytest.mark.parametrize("mode", ["Q", "K", "V"])
def test_composition_scores_equal_transformer_lens_all_composition_scores(positional: str, mode: str) -> None:
    from circuitlab.circuits import composition_scores

    model = make_model(n_layers=3, positional=positional, seed=4)
    hooked = to_transformer_lens(model)
    torch.testing.assert_close(
        composition_scores(model, mode), hooked.all_composition_scores(mode), atol=1e-5, rtol=1e-4
    )


HEAD_KINDS = {
    "previous_token": "previous_token_head",
    "duplicate": "duplicate_token_head",
    "induction": "induction_head",
}


@pytest.mark.parametrize("kind", list(HEAD_KINDS))
@pytest.mark.parametrize(
    "exclude", [(False, False), (True, False), (False, True)], ids=["all", "exclude-bos", "exclude-current"]
)
def test_head_scores_equal_transformer_lens_head_detector(
    kind: str, exclude: tuple[bool, bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    from circuitlab.circuits import head_scores, repeated_random_tokens

    model = make_model(n_layers=2, positional="learned", seed=2, init_range=1.0)
    hooked = to_transformer_lens(model)
    tokens = repeated_random_tokens(D_VOCAB, half_len=6, batch=3, seed=5)  # BOS + R + R: 13 < n_ctx
    # TL's detector tokenizes strings; this tokenizer-free model is given token ids directly.
    monkeypatch.setattr(hooked, "to_tokens", lambda seq, **_: seq)
    exclude_bos, exclude_current = exclude
    theirs = torch.stack(
        [
            head_detector.detect_head(
                hooked,
                row[None],
                HEAD_KINDS[kind],
                exclude_bos=exclude_bos,
                exclude_current_token=exclude_current,
            )
            for row in tokens
        ]
    ).mean(0)
    ours = head_scores(
        model, kind, tokens, denominator="all", exclude_bos=exclude_bos, exclude_current_token=exclude_current
    )
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def tl_model(**changes) -> tl.HookedTransformer:
    base = dict(
        n_layers=1,
        d_model=16,
        n_heads=2,
        d_head=8,
        d_vocab=D_VOCAB,
        n_ctx=N_CTX,
        d_mlp=24,
        act_fn="gelu",
        device="cpu",
        default_prepend_bos=False,
        init_weights=False,
    )
    return tl.HookedTransformer(tl.HookedTransformerConfig(**(base | changes)))


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(positional_embedding_type="rotary"), "positional_embedding_type"),
        (dict(positional_embedding_type="alibi"), "positional_embedding_type"),
        (dict(normalization_type="LNPre"), "normalization_type"),
        (dict(normalization_type="RMS"), "normalization_type"),
        (dict(parallel_attn_mlp=True), "parallel_attn_mlp"),
        (dict(n_key_value_heads=1), "n_key_value_heads"),
        (dict(gated_mlp=True), "gated_mlp"),
        (dict(act_fn="gelu_new"), "act_fn"),
        (dict(d_vocab_out=7), "d_vocab_out"),
        (dict(attention_dir="bidirectional"), "attention_dir"),
    ],
    ids=[
        "rotary",
        "alibi",
        "LNPre-folded",
        "RMSNorm",
        "parallel-attn-mlp",
        "grouped-query",
        "gated-mlp",
        "gelu_new",
        "other-output-vocab",
        "bidirectional",
    ],
)
def test_unsupported_transformer_lens_configs_are_refused_by_name(changes: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        from_transformer_lens(tl_model(**changes))


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(positional="rotary"), "positional='rotary'"),
        (dict(normalization="rmsnorm"), "normalization='rmsnorm'"),
        (dict(attn_only=False, mlp="gated"), "mlp='gated'"),
        (dict(n_key_value_heads=1), "n_key_value_heads=1"),
        (dict(attn_only=False, parallel_attn_mlp=True), "parallel_attn_mlp=True"),
        (dict(tie_embeddings=True), "tie_embeddings=True"),
        (dict(ln_bias=False), "ln_bias=False"),
        (dict(attn_only=False, activation="silu"), "activation='silu'"),
    ],
    ids=["rotary", "rmsnorm", "gated", "gqa", "parallel", "tied", "ln-no-bias", "silu"],
)
def test_configs_the_round_trip_cannot_carry_are_refused_by_name(changes: dict, field: str) -> None:
    model = Transformer(TransformerConfig(n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=11, **changes))
    with pytest.raises(ConfigError, match=f"TransformerConfig.{field}: the TransformerLens round trip"):
        to_transformer_lens(model)


def test_a_transformer_lens_model_converts_to_circuitlab_with_equal_logits() -> None:
    hooked = tl_model(init_weights=True, seed=None)
    model = from_transformer_lens(hooked)
    assert (model.cfg.positional, model.cfg.attn_only, model.cfg.d_mlp) == ("learned", False, 24)
    tokens = random_tokens()
    torch.testing.assert_close(model(tokens), hooked(tokens), atol=1e-4, rtol=0)


def test_saved_folder_loads_in_transformer_lens_with_equal_logits(tmp_path) -> None:
    import json

    from safetensors.torch import load_file

    model = make_model(attn_only=False, positional="shortformer", seed=6)
    out = save_transformer_lens(model, tmp_path / "tl")
    tokens = random_tokens()
    torch.testing.assert_close(load_transformer_lens(out)(tokens), model(tokens), atol=1e-4, rtol=0)
    # TransformerLens alone, no circuitlab: the README's snippet.
    plain = tl.HookedTransformer(json.loads((out / "config.json").read_text()))
    plain.load_state_dict(load_file(out / "model.safetensors"))
    torch.testing.assert_close(plain(tokens), model(tokens), atol=1e-4, rtol=0)


def test_converted_model_runs_on_the_requested_device(device: str) -> None:
    model = make_model(attn_only=False).to(device)
    hooked = to_transformer_lens(model)
    tokens = random_tokens().to(device)
    assert hooked.W_E.device.type == torch.device(device).type
    torch.testing.assert_close(hooked(tokens), model(tokens), atol=1e-4, rtol=0)


def test_importing_circuitlab_does_not_import_transformer_lens() -> None:
    code = "import sys, circuitlab; circuitlab.interop.to_transformer_lens; print('transformer_lens' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_transformer_lens_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformer_lens", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"circuitlab\[interop\]"):
        to_transformer_lens(make_model(n_layers=0))
