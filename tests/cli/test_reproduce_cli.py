"""`circuitlab reproduce` and `circuitlab report` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from circuitlab.cli.main import main
from circuitlab.experiments import registry
from circuitlab.experiments.base import ClaimResult, RunContext
from circuitlab.experiments.registry import Claim
from circuitlab.experiments.run.results import validate_results


def fake_perceptron(ctx: RunContext) -> ClaimResult:
    ctx.report(1.0, "done")
    return ClaimResult({"prediction_1": 0.8176}, "within 1e-4 of the seed", "pass")


def fake_failure(ctx: RunContext) -> ClaimResult:
    raise ValueError("training diverged")


def fake_registry(monkeypatch: pytest.MonkeyPatch, *claims: Claim) -> None:
    monkeypatch.setattr(registry, "CLAIMS", tuple(claims))


def fake(cid: str, experiment) -> Claim:
    return Claim(cid, cid.title(), "Tests", f"the seed on {cid}", f"{cid} is checked by a fake.", experiment)


def one_line_error(capsys: pytest.CaptureFixture, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("circuitlab: error:") and "\n" not in err, err
    return err


def test_help_names_every_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert all(
        flag in out
        for flag in (
            "--profile",
            "--out",
            "--only",
            "--device",
            "--fresh",
            "--corpus",
            "--seed",
            "--plain-text",
            "--curriculum",
        )
    )


def recording(field: str, seen: list):
    """A fake claim that records ``ctx.<field>`` of each call in ``seen`` and passes."""

    def claim(ctx: RunContext) -> ClaimResult:
        seen.append(getattr(ctx, field))
        return ClaimResult({"x": 1}, "x = 1", "pass")

    return claim


def test_seed_reaches_every_claim_and_the_report_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    seen: list[int] = []
    seeded = recording("seed", seen)
    fake_registry(monkeypatch, fake("perceptron", seeded), fake("mlp", seeded))
    assert main(["reproduce", "--out", str(tmp_path / "run"), "--seed", "2"]) == 0
    assert seen == [2, 2] and json.loads((tmp_path / "run" / "results.json").read_text())["random_seed"] == 2
    assert "<dt>Seed</dt><dd>2</dd>" in (tmp_path / "run" / "report.html").read_text()


def test_curriculum_reaches_the_claims_and_is_recorded_plain_text_is_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    seen: list[bool] = []
    fake_registry(monkeypatch, fake("two_layer_induction", recording("curriculum", seen)))
    assert main(["reproduce", "--out", str(tmp_path / "a")]) == 0
    assert main(["reproduce", "--out", str(tmp_path / "b"), "--curriculum"]) == 0
    assert main(["reproduce", "--out", str(tmp_path / "c"), "--plain-text"]) == 0  # older scripts
    assert seen == [False, True, False]
    recorded = [json.loads((tmp_path / r / "results.json").read_text())["curriculum"] for r in "abc"]
    assert recorded == [False, True, False]


def test_curriculum_and_plain_text_together_are_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "--out", str(tmp_path), "--curriculum", "--plain-text"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and "--curriculum" in err and "--plain-text" in err
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("bad", ["-1", "two", "1.5"])
def test_a_bad_seed_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture, bad: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "--out", str(tmp_path), "--seed", bad])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exit_.value.code == 2 and "whole number >= 0" in err and bad in err


def test_out_that_is_a_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    target = tmp_path / "results.txt"
    target.write_text("x")
    assert "is a file" in one_line_error(capsys, main(["reproduce", "--out", str(target)]))


def test_out_that_cannot_be_created_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "file").write_text("x")
    code = main(["reproduce", "--out", str(tmp_path / "file" / "run")])
    assert "is not a writable folder" in one_line_error(capsys, code)


def test_an_unknown_claim_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["reproduce", "--out", str(tmp_path), "--only", "perceptrons"])
    assert "unknown claim perceptrons: choose from" in one_line_error(capsys, code)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error shown without a GPU")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["reproduce", "--out", str(tmp_path), "--device", "cuda"])
    assert "no CUDA GPU" in one_line_error(capsys, code)


def test_a_bad_corpus_is_a_one_line_error_before_the_run_folder_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "run"
    code = main(["reproduce", "--out", str(out), "--only", "zero_layer_bigram", "--corpus", "no/such.txt"])
    err = one_line_error(capsys, code)
    assert "no/such.txt" in err and "does not exist" in err and "--corpus stdlib" in err
    assert not out.exists()


def test_corpus_reaches_the_lm_claims_and_the_report_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    seen: list[str] = []

    def lm(ctx: RunContext) -> ClaimResult:
        seen.append(ctx.corpus)
        return ClaimResult({"loss": 1.5}, "loss < 2", "pass")

    text = tmp_path / "prose.txt"
    text.write_text("It was the best of times, it was the worst of times.\n" * 500)
    lm_claim = Claim("lm", "Lm", "Tests", "the seed on lm", "lm is checked by a fake.", lm, corpus=True)
    fake_registry(monkeypatch, fake("perceptron", fake_perceptron), lm_claim)
    assert main(["reproduce", "--out", str(tmp_path / "run"), "--corpus", str(text)]) == 0
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    assert seen == [str(text)] and doc["corpus"] == str(text)
    assert [c.get("corpus") for c in doc["claims"]] == [None, str(text)]
    page = (tmp_path / "run" / "report.html").read_text()
    assert page.count(str(text)) >= 2  # the header's corpus and the claim's "Trained on"


def test_only_perceptron_writes_results_report_and_the_verdict_table(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code = main(["reproduce", "--out", str(tmp_path), "--only", "perceptron"])
    out = capsys.readouterr().out
    doc = json.loads((tmp_path / "results.json").read_text())
    assert code == 0, out
    assert validate_results(doc) == [] and [c["id"] for c in doc["claims"]] == ["perceptron"]
    assert (tmp_path / "report.html").stat().st_size > 1000
    assert "perceptron" in out and "PASS" in out and "1/1 claims pass" in out
    assert out.rstrip().endswith(f"report:  {tmp_path / 'report.html'}")
    (record,) = doc["claims"]
    assert record["verdict"] == "pass" and record["checked"] == registry.get("perceptron").checked


def test_a_failing_claim_makes_the_exit_status_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    fake_registry(monkeypatch, fake("perceptron", fake_perceptron), fake("mlp", fake_failure))
    code = main(["reproduce", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL" in out and "1/2 claims pass" in out
    assert "ValueError: training diverged" in (tmp_path / "report.html").read_text()


def test_report_rerenders_the_page_without_rerunning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    fake_registry(monkeypatch, fake("perceptron", fake_perceptron))
    main(["reproduce", "--out", str(tmp_path)])
    (tmp_path / "report.html").unlink()
    fake_registry(monkeypatch, fake("perceptron", fake_failure))
    assert main(["report", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip().endswith("report.html")
    assert "training diverged" not in (tmp_path / "report.html").read_text()


@pytest.mark.parametrize(
    "content", [None, "{oops", '{"claims": [{"id": 1}]}'], ids=["missing", "corrupt", "schema"]
)
def test_report_of_a_bad_run_folder_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, content: str | None
) -> None:
    if content is not None:
        (tmp_path / "results.json").write_text(content)
    one_line_error(capsys, main(["report", str(tmp_path)]))
