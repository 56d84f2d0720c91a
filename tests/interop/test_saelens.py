"""SAELens's folder layout: circuitlab writes and reads it, and SAELens itself (an optional test
dependency, ``pip install sae-lens``) reads circuitlab's folders and writes folders circuitlab
reads, with the same latents both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from circuitlab.errors import CheckpointError, ConfigError
from circuitlab.interop import load_saelens, save_saelens
from circuitlab.superposition import SAEConfig, SparseAutoencoder

ARCHS = ["relu", "topk", "jumprelu"]


def random_sae(arch: str) -> SparseAutoencoder:
    sae = SparseAutoencoder(
        SAEConfig(d_in=6, expansion=3, architecture=arch, k=4, hook_name="blocks.1.hook_resid_post")
    )
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in sae.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return sae


@pytest.mark.parametrize("arch", ARCHS)
def test_saelens_folder_has_saelens_names_and_shapes_and_round_trips(arch: str, tmp_path: Path) -> None:
    sae = random_sae(arch)
    save_saelens(sae, tmp_path, density=torch.full((18,), 0.01))
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    assert cfg["architecture"] == {"relu": "standard"}.get(arch, arch) and (cfg["d_in"], cfg["d_sae"]) == (
        6,
        18,
    )
    assert cfg["metadata"]["hook_name"] == "blocks.1.hook_resid_post"
    w = load_file(tmp_path / "sae_weights.safetensors")
    shapes = {"W_enc": (6, 18), "W_dec": (18, 6), "b_enc": (18,), "b_dec": (6,)}
    assert {k: tuple(v.shape) for k, v in w.items()} == shapes | (
        {"threshold": (18,)} if arch == "jumprelu" else {}
    )
    assert torch.allclose(load_file(tmp_path / "sparsity.safetensors")["sparsity"], torch.full((18,), -2.0))
    back = load_saelens(tmp_path)
    assert back.cfg == sae.cfg
    x = torch.randn(10, 6)
    torch.testing.assert_close(back.encode(x), sae.encode(x))


def test_saelens_options_are_folded_into_plain_weights(tmp_path: Path) -> None:
    sae = random_sae("topk")
    sae.normalize_decoder()  # unit rows: TopK picks the same latents with or without the rescaling
    save_saelens(sae, tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    w = load_file(tmp_path / "sae_weights.safetensors")
    cfg.update(apply_b_dec_to_input=False, rescale_acts_by_decoder_norm=True)
    cfg["metadata"].pop("circuitlab")
    w["b_enc"] = w["b_enc"] - w["b_dec"] @ w["W_enc"]  # the same encoder without b_dec applied to x
    w["W_dec"] = w["W_dec"] * 3.0  # rescaled by the decoder norm: the same latents and recon
    w["W_enc"], w["b_enc"] = w["W_enc"] / 3.0, w["b_enc"] / 3.0
    save_file(w, tmp_path / "sae_weights.safetensors")
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    back = load_saelens(tmp_path)
    x = torch.randn(10, 6)
    torch.testing.assert_close(back(x).recon, sae(x).recon, rtol=1e-4, atol=1e-5)
    assert back.cfg.k == 4 and back.cfg.hook_name == "blocks.1.hook_resid_post"


def test_unreadable_saelens_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="cfg.json is missing"):
        load_saelens(tmp_path)
    save_saelens(random_sae("relu"), tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    (tmp_path / "cfg.json").write_text(json.dumps({**cfg, "architecture": "gated"}))
    with pytest.raises(ConfigError, match="architecture 'gated' has no circuitlab counterpart"):
        load_saelens(tmp_path)
    (tmp_path / "cfg.json").write_text(json.dumps({**cfg, "normalize_activations": "layer_norm"}))
    with pytest.raises(ConfigError, match="normalize_activations='layer_norm' is not supported"):
        load_saelens(tmp_path)


@pytest.fixture(scope="module")
def sae_lens():
    return pytest.importorskip(
        "sae_lens", reason="sae-lens is an optional test dependency (pip install sae-lens)"
    )


@pytest.mark.interop
@pytest.mark.parametrize("arch", ARCHS)
def test_saelens_loads_circuitlabs_folder_with_the_same_latents(arch: str, tmp_path: Path, sae_lens) -> None:
    sae = random_sae(arch)
    save_saelens(sae, tmp_path)
    theirs = sae_lens.SAE.load_from_disk(tmp_path, device="cpu")
    assert theirs.cfg.architecture() == {"relu": "standard"}.get(arch, arch)
    x = torch.randn(20, 6)
    torch.testing.assert_close(theirs.encode(x), sae.encode(x).detach())
    torch.testing.assert_close(theirs(x), sae(x).recon.detach())


@pytest.mark.interop
@pytest.mark.parametrize("arch", ARCHS)
def test_circuitlab_loads_a_folder_saelens_wrote_with_the_same_latents(
    arch: str, tmp_path: Path, sae_lens
) -> None:
    make = {
        "relu": (sae_lens.StandardSAE, sae_lens.StandardSAEConfig, {}),
        "topk": (sae_lens.TopKSAE, sae_lens.TopKSAEConfig, {"k": 5}),
        "jumprelu": (sae_lens.JumpReLUSAE, sae_lens.JumpReLUSAEConfig, {}),
    }
    cls, cfg_cls, extra = make[arch]
    theirs = cls(cfg_cls(d_in=6, d_sae=15, **extra))
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.rand(p.shape, generator=g) * 0.6 if p is getattr(theirs, "threshold", None)
                    else torch.randn(p.shape, generator=g) * 0.5)  # fmt: skip
    theirs.save_model(tmp_path)
    ours = load_saelens(tmp_path)
    assert (ours.cfg.architecture, ours.cfg.n_latents) == (arch, 15)
    x = torch.randn(20, 6)
    torch.testing.assert_close(ours.encode(x).detach(), theirs.encode(x).detach())
    torch.testing.assert_close(ours(x).recon.detach(), theirs(x).detach())
