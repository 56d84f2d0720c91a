"""The language-model claims on another corpus: its own checkpoints, never the stdlib model's."""

from __future__ import annotations

from pathlib import Path

import pytest
from claim_helpers import run_claim
from induction_helpers import tiny_recipe, write_corpus

from circuitlab.experiments.base import CorpusData, RunContext
from circuitlab.experiments.induction.recipe import induction_recipe
from circuitlab.experiments.ngrams import lm


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CIRCUITLAB_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_checkpoint_names_keep_stdlib_plain_and_key_any_other_corpus_by_its_text() -> None:
    def data(source: str, digest: str) -> CorpusData:
        return CorpusData(None, None, source, 0, digest)  # type: ignore[arg-type]

    assert data("stdlib", "ab" * 32).checkpoint_name("zero_layer") == "zero_layer"
    assert data("/x/prose", "ab" * 32).checkpoint_name("zero_layer") == "zero_layer-" + "ab" * 6
    assert data("/x/prose", "cd" * 32).checkpoint_name("m") != data("/x/prose", "ab" * 32).checkpoint_name(
        "m"
    )


def test_induction_recipe_takes_the_corpus_and_keeps_its_numbers() -> None:
    plain, other = induction_recipe("quick"), induction_recipe("quick", corpus="/data/prose")
    assert plain.corpus == "stdlib" and other.corpus == "/data/prose"
    assert {**other.to_dict(), "corpus": "stdlib"} == plain.to_dict()


def test_a_model_trained_on_one_corpus_is_never_reloaded_for_another(cache: Path) -> None:
    a, b = write_corpus(cache / "a"), write_corpus(cache / "b", name="Tally")
    out = cache / "run"
    first = run_claim("two_layer_induction", RunContext(out_dir=out), recipe=tiny_recipe(a))
    other = run_claim("two_layer_induction", RunContext(out_dir=out), recipe=tiny_recipe(b))
    again = run_claim("two_layer_induction", RunContext(out_dir=out), recipe=tiny_recipe(a))
    assert [r.measured["reloaded"] for r in (first, other, again)] == [False, False, True]
    folders = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert len(folders) == 2 and all(f.startswith("two_layer_induction-") for f in folders)
    assert repr(str(a)) in first.ran and repr(str(b)) in other.ran
    assert again.history == first.history


def test_zero_layer_claim_trains_on_the_run_corpus(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(lm.QUICK_STEPS, "zero_layer", 2)
    corpus = write_corpus(cache / "code")
    result = run_claim("zero_layer_bigram", RunContext(out_dir=cache / "run", corpus=str(corpus)))
    (folder,) = (cache / "run" / "checkpoints").iterdir()
    assert folder.name == lm.corpus(str(corpus)).checkpoint_name("zero_layer") != "zero_layer"
    assert repr(str(corpus)) in result.ran and "standard library" not in result.ran
