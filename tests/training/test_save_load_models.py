"""cl.save / cl.load round-trip every circuitlab model: same class, config, tensors and outputs."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

import circuitlab as cl
from circuitlab.errors import CheckpointError
from circuitlab.nets import LSTM, MLP, RNN, VAE, Perceptron, RecurrentConfig
from circuitlab.superposition import SAEConfig, SparseAutoencoder, ToyModel, geometric_importance
from circuitlab.training import checkpoint_files, read_meta


@dataclass(frozen=True)
class Kind:
    """A model of one registered ``kind``, and what to compare after the round trip."""

    id: str
    kind: str
    build: Callable[[], nn.Module]
    output: Callable[[nn.Module], Tensor]


def _x(*shape: int) -> Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(5))


TINY_TRANSFORMER = cl.TransformerConfig(
    n_layers=1, d_model=8, n_heads=2, d_head=4, d_vocab=11, n_ctx=6, attn_only=False, positional="learned"
)
KINDS = [
    Kind(
        "transformer",
        "transformer",
        lambda: cl.Transformer(TINY_TRANSFORMER),
        lambda m: m(torch.arange(6).reshape(1, 6) % 11),
    ),
    Kind(
        "mlp",
        "mlp",
        lambda: MLP(sizes=[5, 4, 3], activation="tanh", activate_output=False),
        lambda m: m(_x(2, 5)),
    ),
    Kind(
        "rnn-2-layers-relu",
        "rnn",
        lambda: RNN(RecurrentConfig(3, 4, n_layers=2, nonlinearity="relu")),
        lambda m: m(_x(2, 5, 3))[0],
    ),
    Kind(
        "lstm-2-layers", "lstm", lambda: LSTM(RecurrentConfig(3, 4, n_layers=2)), lambda m: m(_x(2, 5, 3))[0]
    ),
    Kind("vae", "vae", lambda: VAE(6, 5, 2), lambda m: m(_x(3, 6), torch.Generator().manual_seed(0)).recon),
    Kind("perceptron-seed-float16", "perceptron", Perceptron.seed, lambda m: m(_x(4, 5))),
    Kind(
        "perceptron-no-bias", "perceptron", lambda: Perceptron([0.5, -1.0, 2.0], None), lambda m: m(_x(4, 3))
    ),
    Kind(
        "toy-model-3-instances",
        "toy_model",
        lambda: ToyModel(5, 2, 3, geometric_importance(5, 0.9), torch.tensor([1.0, 0.3, 0.05]), linear=True),
        lambda m: m(_x(4, 3, 5)),
    ),
    Kind(
        "sae",
        "sae",
        lambda: SparseAutoencoder(SAEConfig(d_in=4, expansion=2, l1_coeff=0.2)),
        lambda m: m(_x(3, 4)).recon,
    ),
]


def trained(kind: Kind) -> nn.Module:
    """The model with every parameter moved off its initial value (a fresh build cannot match it)."""
    model = kind.build()
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=gen).to(p.dtype))
    return model


def same_tensors(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].dtype == sb[k].dtype and torch.equal(sa[k], sb[k]) for k in sa
    )


@pytest.fixture(params=KINDS, ids=[k.id for k in KINDS])
def kind(request) -> Kind:
    return request.param


def test_every_circuitlab_kind_is_covered() -> None:
    from circuitlab.training.checkpoint import _REGISTRY

    builtin = {kind for kind, (model, _) in _REGISTRY.items() if str(model).startswith("circuitlab.")}
    assert {k.kind for k in KINDS} == builtin  # tests may register their own models too


def test_save_then_load_gives_the_same_class_config_tensors_and_outputs(tmp_path, kind, monkeypatch) -> None:
    model = trained(kind)
    cl.save(model, tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["checkpoint.json", "model.safetensors"]
    assert read_meta(tmp_path / "m")["kind"] == kind.kind

    def forbidden(*args, **kwargs):
        raise AssertionError("unpickling was attempted")

    for target, name in ((torch, "load"), (pickle, "load"), (pickle, "loads"), (pickle, "Unpickler")):
        monkeypatch.setattr(target, name, forbidden)
    back = cl.load(tmp_path / "m")
    assert type(back) is type(model) and back.cfg == model.cfg and not back.training
    assert same_tensors(back, model)
    assert torch.equal(kind.output(back), kind.output(model.eval()))
    for name, buf in model.named_buffers():  # buffers derived from the config (ToyModel's importance)
        assert torch.equal(dict(back.named_buffers())[name], buf)


def test_the_saved_config_is_json_that_rebuilds_the_config(tmp_path, kind) -> None:
    model = kind.build()
    cl.save(model, tmp_path)
    saved = json.loads((tmp_path / "checkpoint.json").read_text())["config"]
    assert saved == model.cfg.to_dict() and type(model.cfg).from_dict(saved) == model.cfg


def test_a_changed_weights_file_is_refused(tmp_path, kind) -> None:
    cl.save(kind.build(), tmp_path)
    weights = tmp_path / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="model.safetensors fails its sha256 checksum"):
        cl.load(tmp_path)
    weights.unlink()
    with pytest.raises(CheckpointError, match="model.safetensors is missing"):
        cl.load(tmp_path)


def test_an_invalid_config_is_refused_as_a_checkpoint_error(tmp_path: Path, kind) -> None:
    model = kind.build()
    cl.save(model, tmp_path)
    meta = read_meta(tmp_path)
    first = next(iter(meta["config"]))
    meta["config"][first] = "x"
    (tmp_path / "checkpoint.json").write_text(json.dumps(checkpoint_files._with_checksum(meta)))
    with pytest.raises(CheckpointError, match=f"holds an invalid config .*{first}='x'"):
        cl.load(tmp_path)
