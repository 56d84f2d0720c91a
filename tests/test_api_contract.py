"""The public API promised in DESIGN.md works under exactly those names."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import circuitlab as cl


def test_classic_nets_contract() -> None:
    p = cl.nets.Perceptron(torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float16), torch.tensor([0.5]))
    x1 = torch.tensor([1.0, 0, 0, 0, 0], dtype=torch.float16)
    x2 = torch.tensor([0.0, 0, 1, 0, 0], dtype=torch.float16)
    assert round(float(p(x1)), 4) == 0.8176 and round(float(p(x2)), 4) == 0.6225
    assert cl.nets.MLP(sizes=[5, 3], activation="sigmoid")(torch.randn(2, 5)).shape == (2, 3)
    out, h_n = cl.nets.RNN(4, 8)(torch.randn(2, 5, 4), h0=None)
    assert out.shape == (2, 5, 8) and h_n.shape == (1, 2, 8)
    out, (h_n, c_n) = cl.nets.LSTM(4, 8)(torch.randn(2, 5, 4), state=None)
    assert out.shape == (2, 5, 8) and c_n.shape == (1, 2, 8)
    torch_rnn, torch_lstm = torch.nn.RNN(4, 8, batch_first=True), torch.nn.LSTM(4, 8, batch_first=True)
    x = torch.randn(2, 5, 4)
    torch.testing.assert_close(cl.nets.RNN.from_torch(torch_rnn)(x)[0], torch_rnn(x)[0])
    torch.testing.assert_close(cl.nets.LSTM.from_torch(torch_lstm)(x)[0], torch_lstm(x)[0])
    vae = cl.nets.VAE(64, 32, 2)
    o = vae(torch.rand(3, 64))
    assert (o.recon.shape, o.mu.shape, o.logvar.shape, o.z.shape) == ((3, 64), (3, 2), (3, 2), (3, 2))
    assert vae.loss(torch.rand(3, 64)).ndim == 0 and vae.sample(4).shape == (4, 64)


def test_transformer_and_circuits_contract(tmp_path: Path) -> None:
    cfg = cl.TransformerConfig(
        n_layers=2,
        d_model=32,
        n_heads=4,
        d_head=8,
        d_vocab=64,
        n_ctx=32,
        attn_only=True,
        positional="shortformer",
        normalization="layernorm",
    )
    model = cl.Transformer(cfg)
    tokens = torch.randint(0, 64, (2, 32))
    logits = model(tokens)
    cached, cache = model.run_with_cache(tokens, names_filter=None)
    torch.testing.assert_close(cached, logits)
    assert "blocks.1.attn.hook_pattern" in cache
    model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_pattern", lambda a, h: None)])
    cl.save(model, tmp_path / "m")
    assert torch.equal(cl.load(tmp_path / "m")(tokens), logits)
    assert model.QK.shape == model.OV.shape == (2, 4, 32, 32)
    fm = cl.circuits.FactoredMatrix(torch.randn(4, 2), torch.randn(2, 4))
    assert fm.AB.shape == (4, 4) and fm.BA.shape == (2, 2) and len(fm.svd()) == 3
    for mode in "QKV":
        assert cl.circuits.composition_scores(model, mode).shape == (2, 4, 2, 4)
    assert cl.circuits.copying_scores(model).shape == (2, 4)
    for kind in ("previous_token", "duplicate", "induction"):
        assert cl.circuits.head_scores(model, kind, tokens=None).shape == (2, 4)


def test_superposition_contract() -> None:
    toy = cl.superposition.ToyModel(
        5, 2, 10, torch.tensor([0.9**i for i in range(5)]), torch.linspace(1, 0.05, 10)
    )
    assert cl.superposition.feature_dimensionality(toy.W).shape == (10, 5)


@pytest.mark.interop
def test_interop_contract() -> None:
    pytest.importorskip("transformer_lens")
    model = cl.Transformer(
        cl.TransformerConfig(n_layers=1, d_model=16, n_heads=2, d_head=8, d_vocab=20, n_ctx=8)
    )
    back = cl.interop.from_transformer_lens(cl.interop.to_transformer_lens(model))
    tokens = torch.randint(0, 20, (2, 8))
    torch.testing.assert_close(back(tokens), model(tokens))
