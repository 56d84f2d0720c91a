"""The 0- and 1-layer claims run end to end on a small corpus and report what they measured."""

from __future__ import annotations

from pathlib import Path

import pytest
from claim_helpers import check_result, run_claim

from circuitlab.experiments.base import RunContext
from circuitlab.experiments.ngrams import lm


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lm.QUICK_STEPS, "zero_layer", 4)
    monkeypatch.setitem(lm.QUICK_STEPS, "one_layer", 4)
    monkeypatch.setattr(lm, "CORPUS_BYTES", 150_000)


def test_zero_layer_claim_reports_kl_against_the_bigram_table(tiny, tmp_path: Path) -> None:
    ctx = RunContext(out_dir=tmp_path)
    result = run_claim("zero_layer_bigram", ctx)
    check_result(result, ctx, "zero_layer_bigram")
    m = result.measured
    assert m["kl_model_nats"] >= 0 and m["kl_unigram_nats"] > 0
    assert m["kl_ratio"] == pytest.approx(m["kl_model_nats"] / m["kl_unigram_nats"])
    assert 0 <= m["top1_agreement_model"] <= 1 and m["tokens_seen"] == 4 * 32 * 128
    assert (tmp_path / "checkpoints" / "zero_layer").is_dir()


def test_one_layer_claim_reuses_the_zero_layer_checkpoint_and_lists_skip_trigrams(
    tiny, tmp_path: Path
) -> None:
    ctx = RunContext(out_dir=tmp_path)
    run_claim("zero_layer_bigram", ctx)
    result = run_claim("one_layer_skip_trigrams", ctx)
    check_result(result, ctx, "one_layer_skip_trigrams")
    (rows,) = result.tables.values()
    assert rows[0][:5] == ["head", "copying", "A (source)", "B (destination)", "C (predicted)"]
    assert len(rows) == 1 + 4 * 3 and all(len(r) == len(rows[0]) for r in rows)
    assert len(result.measured["copying_scores"]) == 8
    assert result.measured["heads_with_positive_copying_score"] == sum(
        c > 0 for c in result.measured["copying_scores"]
    )
    assert (tmp_path / "checkpoints" / "one_layer").is_dir()
