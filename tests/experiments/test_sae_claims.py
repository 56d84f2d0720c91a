"""The SAE claims at tiny sizes: every architecture on the toy model; TopK vs ReLU at equal L0 on
a (stand-in) induction model, sharing the ReLU SAE with sae_transformer; dashboards in the run."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from claim_helpers import check_result, run_claim

from circuitlab.experiments.base import RunContext
from circuitlab.experiments.superposition import sae_compare, sae_transformer, sizes
from circuitlab.report.dashboard import DASHBOARD_JSON
from circuitlab.superposition import SAEConfig
from circuitlab.transformer import Transformer, TransformerConfig

TINY = sizes.Sizes(
    pentagon_sparsities=2, pentagon_restarts=2, pentagon_steps=30, sweep_sparsities=2, sweep_p_min=0.1,
    sweep_steps=30, dim_features=8, dim_hidden=3, dim_sparsities=2, dim_p_min=0.1, dim_steps=30,
    dim_batch=64, sae_toy_steps=60, sae_steps=60, batch=64,
)  # fmt: skip


def test_sae_architectures_trains_each_architecture_on_one_toy_model(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sizes.PROFILES, "quick", TINY)
    ctx = RunContext(out_dir=tmp_path, profile="quick")
    result = run_claim("sae_architectures", ctx)
    check_result(result, ctx, "sae_architectures")
    table = result.tables["Each architecture on the same toy model"]
    assert [row[0] for row in table[1:]] == ["relu", "topk", "jumprelu"]
    assert all(0 <= row[2] <= 1 for row in table[1:]) and table[2][4] <= 1.0  # TopK's L0 <= k = 1
    assert set(result.measured) >= {
        "relu_mean_max_cosine",
        "topk_mean_max_cosine",
        "jumprelu_mean_max_cosine",
    }
    assert len(result.figures) == 1


@pytest.fixture
def tiny_induction(monkeypatch):
    torch.manual_seed(0)
    cfg = TransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=20, n_ctx=12, attn_only=True)
    model = Transformer(cfg).eval()
    ids = np.random.default_rng(0).integers(0, 20, 4000).astype(np.uint16)
    data = SimpleNamespace(tokens=SimpleNamespace(train=ids, val=ids), tokenizer=SimpleNamespace(decode=str))
    trained = SimpleNamespace(model=model, data=data)
    for module in (sae_transformer, sae_compare):
        monkeypatch.setattr(module, "train_induction", lambda ctx, recipe: trained)
        monkeypatch.setattr(module, "context_recipe", lambda ctx: None)

    def small(ctx, d_model: int) -> SAEConfig:
        return SAEConfig(
            d_in=d_model, expansion=4, l1_coeff=0.05, lr=1e-3, steps=40, batch_size=128, seed=ctx.seed
        )

    monkeypatch.setattr(sae_transformer, "residual_sae_config", small)
    monkeypatch.setattr(sae_compare, "residual_sae_config", small)


def test_topk_vs_relu_sets_k_to_the_relu_l0_and_reuses_sae_transformers_sae(tiny_induction, tmp_path) -> None:
    ctx = RunContext(out_dir=tmp_path, profile="quick")
    first = run_claim("sae_transformer", ctx)
    dash = json.loads((tmp_path / DASHBOARD_JSON).read_text())
    assert 0 < len(dash["latents"]) <= 8 and "blocks.1.hook_resid_post" in dash["title"]
    result = run_claim("sae_topk_vs_relu", ctx)
    check_result(result, ctx, "sae_topk_vs_relu")
    assert result.measured["k"] == max(1, round(first.measured["l0"]))
    assert result.measured["relu_train_l0"] == pytest.approx(first.measured["l0"], abs=1e-3)
    assert result.measured["topk_l0"] <= result.measured["k"]
    rows = result.tables["ReLU vs TopK at equal L0, held-out text"]
    assert [r[0] for r in rows[1:]] == ["relu", "topk"]
    assert result.verdict == ("pass" if rows[2][2] > rows[1][2] and rows[2][4] > rows[1][4] else "fail")
    cached = sorted(p.name.split("_")[1] for p in (tmp_path / "checkpoints").glob("sae_resid_relu_*"))
    assert len(cached) == 2  # the ReLU SAE once (shared), the TopK SAE once
