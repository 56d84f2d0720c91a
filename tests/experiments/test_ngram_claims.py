"""The 0- and 1-layer claims run end to end on a small corpus and report what they measured."""

from __future__ import annotations

from pathlib import Path

import pytest

import circuitlab.experiments.ngram_claims as claims
from circuitlab.experiments.base import RunContext


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    original = claims._train_cfg
    monkeypatch.setattr(claims, "_train_cfg", lambda ctx, steps: original(ctx, 4))
    monkeypatch.setattr(claims, "CORPUS_BYTES", 150_000)


def test_zero_layer_claim_reports_kl_against_the_bigram_table(tiny, tmp_path: Path) -> None:
    result = claims.zero_layer_bigram(RunContext(out_dir=tmp_path))
    m = result.measured
    assert result.id == "zero_layer_bigram" and result.verdict in ("pass", "fail")
    assert m["kl_model_nats"] >= 0 and m["kl_unigram_nats"] > 0
    assert 0 <= m["top1_agreement_model"] <= 1
    assert (tmp_path / "checkpoints" / "zero_layer").is_dir()


def test_one_layer_claim_reuses_the_zero_layer_checkpoint_and_lists_skip_trigrams(
    tiny, tmp_path: Path
) -> None:
    ctx = RunContext(out_dir=tmp_path)
    claims.zero_layer_bigram(ctx)
    result = claims.one_layer_skip_trigrams(ctx)
    (rows,) = result.tables.values()
    assert rows[0][:5] == ["head", "copying", "A (source)", "B (destination)", "C (predicted)"]
    assert len(rows) == 1 + 4 * 3
    assert len(result.measured["copying_scores"]) == 8
    assert (tmp_path / "checkpoints" / "one_layer").is_dir()
