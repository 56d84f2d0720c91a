"""`reproduce(corpus=...)`: the language-model claims train on any text, named in results.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from circuitlab.errors import DataError
from circuitlab.experiments.base import ClaimResult, RunContext
from circuitlab.experiments.registry import CLAIMS, Claim
from circuitlab.experiments.run.corpus import MIN_CORPUS_BYTES, check_corpus
from circuitlab.experiments.run.results import validate_results
from circuitlab.experiments.run.runner import SilentProgress, reproduce

SEEN: list[tuple[str, str]] = []  # (claim id, ctx.corpus) of every claim that ran


def lm(ctx: RunContext) -> ClaimResult:
    SEEN.append(("lm", ctx.corpus))
    return ClaimResult({"loss": 1.0}, "loss < 2", "pass")


def plain(ctx: RunContext) -> ClaimResult:
    SEEN.append(("plain", ctx.corpus))
    return ClaimResult({"x": 1}, "x == 1", "pass")


FAKE = (
    Claim("lm", "Lm", "Tests", "The seed on lm.", "lm is checked.", lm, corpus=True),
    Claim("plain", "Plain", "Tests", "The seed on plain.", "plain is checked.", plain),
)


@pytest.fixture(autouse=True)
def _reset() -> None:
    SEEN.clear()


@pytest.fixture
def text(tmp_path: Path) -> Path:
    folder = tmp_path / "prose"
    folder.mkdir()
    for i in range(3):
        (folder / f"part{i}.txt").write_text(f"Chapter {i}. The cat sat on the mat, then left.\n" * 400)
    return folder


def run(out: Path, **kwargs):
    return reproduce(out, claims=FAKE, progress=SilentProgress(), **kwargs)


def test_the_corpus_reaches_the_lm_claims_and_is_named_at_the_top_and_in_their_records(
    tmp_path: Path, text: Path
) -> None:
    run(tmp_path / "run", corpus=str(text))
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    assert validate_results(doc) == [] and doc["corpus"] == str(text.resolve())
    by_id = {c["id"]: c for c in doc["claims"]}
    assert by_id["lm"]["corpus"] == str(text.resolve()) and "corpus" not in by_id["plain"]
    assert dict(SEEN)["lm"] == str(text.resolve())


def test_a_relative_path_is_recorded_absolute(tmp_path: Path, text: Path, monkeypatch) -> None:
    monkeypatch.chdir(text.parent)
    assert check_corpus("prose") == str(text.resolve())
    assert check_corpus("prose/*.txt") == str(text.resolve() / "*.txt")
    assert check_corpus("stdlib") == "stdlib"


@pytest.mark.parametrize(
    "spec, words",
    [
        ("missing.txt", ["does not exist", "--corpus stdlib"]),
        ("nothing-*.txt", ["matches no files"]),
        ("small.txt", ["holds 12 bytes", f"{MIN_CORPUS_BYTES:,}", "--corpus stdlib"]),
        ("binary.bin", ["is empty", "not UTF-8", "--corpus stdlib"]),
    ],
    ids=["missing", "empty-glob", "too-small", "binary"],
)
def test_a_bad_corpus_fails_in_one_line_before_any_claim_runs(tmp_path: Path, spec: str, words) -> None:
    (tmp_path / "small.txt").write_text("hello world\n")
    (tmp_path / "binary.bin").write_bytes(b"\x00\x01\xff" * 100)
    with pytest.raises(DataError) as err:
        run(tmp_path / "run", corpus=str(tmp_path / spec))
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message
    assert SEEN == [] and not (tmp_path / "run").exists()


def test_claims_without_a_corpus_ignore_it(tmp_path: Path) -> None:
    run(tmp_path, only=["plain"], corpus=str(tmp_path / "missing.txt"))
    assert SEEN == [("plain", str(tmp_path / "missing.txt"))]


def test_a_record_trained_on_another_corpus_is_rerun_but_corpus_free_records_are_reused(
    tmp_path: Path, text: Path
) -> None:
    run(tmp_path)
    SEEN.clear()
    summary = run(tmp_path, corpus=str(text))
    assert SEEN == [("lm", str(text.resolve()))]
    assert {c["id"]: c.get("reused", False) for c in summary.claims} == {"lm": False, "plain": True}
    SEEN.clear()
    run(tmp_path, corpus=str(text))
    assert SEEN == []


def test_a_record_from_before_corpora_were_recorded_counts_as_stdlib(tmp_path: Path, text: Path) -> None:
    run(tmp_path)
    path = tmp_path / "results.json"
    doc = json.loads(path.read_text())
    for c in doc["claims"]:
        c.pop("corpus", None)
    doc.pop("corpus")
    path.write_text(json.dumps(doc))
    SEEN.clear()
    run(tmp_path)
    assert SEEN == []
    run(tmp_path, corpus=str(text))
    assert [cid for cid, _ in SEEN] == ["lm"]


def test_the_registry_marks_exactly_the_claims_that_train_on_the_corpus() -> None:
    marked = {c.id for c in CLAIMS if c.corpus}
    assert marked == {
        "zero_layer_bigram",
        "one_layer_skip_trigrams",
        "two_layer_induction",
        "sae_transformer",
        "sae_topk_vs_relu",
    }
