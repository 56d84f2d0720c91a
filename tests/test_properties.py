"""Property tests (hypothesis) for the invariants checkpoints and configs promise, on random tiny models.

The structural claims (per-head results sum to the attention output, logit attributions sum to
the logits, rotating the residual stream of a LayerNorm-free model leaves the logits unchanged,
W_OV/W_QK refactoring) are property tests in ``tests/circuits/test_structural_claims.py`` and
FactoredMatrix against dense algebra in ``tests/circuits/test_factored_matrix.py``; this module
adds what they do not cover:

- save/load identity: ``cl.load(cl.save(model))`` has the same config, the same state_dict
  bitwise and the same logits bitwise, and saving it again writes the same bytes;
- a damaged checkpoint never loads as a different model: any one corrupted byte of
  ``model.safetensors`` or ``checkpoint.json`` is a ``CheckpointError`` or loads the identical model;
- every size below its lower bound is a ``ConfigError`` naming the field and the value.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import circuitlab as cl
from circuitlab.errors import CheckpointError, ConfigError
from circuitlab.training import read_meta
from circuitlab.transformer import Transformer, TransformerConfig

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def configs(draw) -> TransformerConfig:
    attn_only = draw(st.booleans())
    return TransformerConfig(
        n_layers=draw(st.integers(0, 2)),
        d_model=draw(st.integers(2, 8)),
        n_heads=draw(st.integers(1, 3)),
        d_head=draw(st.integers(1, 4)),
        d_vocab=draw(st.integers(2, 12)),
        n_ctx=draw(st.integers(1, 6)),
        attn_only=attn_only,
        d_mlp=None if attn_only else draw(st.one_of(st.none(), st.integers(1, 6))),
        positional=draw(st.sampled_from(["sinusoidal", "learned", "shortformer", "none"])),
        normalization=draw(st.sampled_from(["layernorm", "none"])),
        activation=draw(st.sampled_from(["gelu", "relu"])),
        init_range=draw(st.sampled_from([0.02, 0.5])),
        seed=draw(st.integers(0, 2**16)),
    )


def random_model(cfg: TransformerConfig) -> Transformer:
    """A model whose every parameter (biases, LayerNorm w and b too) is random, so none is a default."""
    model = Transformer(cfg)
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model.eval()


def tokens_for(cfg: TransformerConfig, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, cfg.d_vocab, (2, cfg.n_ctx), generator=gen)


def assert_identical(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for name in sa:
        assert sa[name].dtype == sb[name].dtype and torch.equal(sa[name], sb[name]), name


@torch.no_grad()
@SETTINGS
@given(configs())
def test_save_then_load_gives_the_same_config_weights_and_logits_bitwise(cfg) -> None:
    model = random_model(cfg)
    tokens = tokens_for(cfg, cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        cl.save(model, Path(tmp) / "a")
        loaded = cl.load(Path(tmp) / "a")
        assert isinstance(loaded, Transformer) and loaded.cfg == cfg
        assert_identical(loaded, model)
        assert torch.equal(loaded(tokens), model(tokens))
        cl.save(loaded, Path(tmp) / "b")
        for name in ("model.safetensors", "checkpoint.json"):
            assert (Path(tmp) / "a" / name).read_bytes() == (Path(tmp) / "b" / name).read_bytes(), name


@SETTINGS
@given(configs(), st.sampled_from(["model.safetensors", "checkpoint.json"]), st.data())
def test_a_corrupted_byte_is_refused_or_loads_the_identical_model(cfg, name, data) -> None:
    """Whatever byte is changed to whatever value, the checkpoint never loads as a different model.

    (A change to checkpoint.json that keeps its parsed content, e.g. one whitespace byte for
    another, may load: the checksum covers the JSON's content, and the model is then the same.)
    """
    model = random_model(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        folder = cl.save(model, Path(tmp) / "ck")
        path = folder / name
        raw = bytearray(path.read_bytes())
        offset = data.draw(st.integers(0, len(raw) - 1), label="offset")
        raw[offset] ^= data.draw(st.integers(1, 255), label="xor")
        path.write_bytes(bytes(raw))
        try:
            loaded = cl.load(folder)
        except CheckpointError as err:
            assert "\n" not in str(err) and str(folder) in str(err)
        else:
            assert name == "checkpoint.json" and read_meta(folder)["config"] == cfg.to_dict()
            assert_identical(loaded, model)


SIZE_BOUNDS = {"n_layers": 0, "d_model": 1, "n_heads": 1, "d_head": 1, "d_vocab": 2, "n_ctx": 1}


@SETTINGS
@given(st.sampled_from(sorted(SIZE_BOUNDS)), st.data())
def test_every_size_below_its_bound_is_a_config_error_naming_field_and_value(field, data) -> None:
    value = data.draw(st.integers(-(2**40), SIZE_BOUNDS[field] - 1), label="value")
    with pytest.raises(ConfigError) as err:
        TransformerConfig(**{field: value})
    assert f"{field}={value}" in str(err.value) and f">= {SIZE_BOUNDS[field]}" in str(err.value)
    with pytest.raises(ConfigError, match=field):
        TransformerConfig.from_dict({**TransformerConfig().to_dict(), field: value})
