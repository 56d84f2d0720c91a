"""The reproduce runner: every claim recorded, failures kept as failures, runs resumable."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from circuitlab.errors import ConfigError, DataError
from circuitlab.experiments.base import ClaimResult, RunContext
from circuitlab.experiments.registry import CLAIMS, Claim, select
from circuitlab.experiments.run.results import load_results, validate_results
from circuitlab.experiments.run.runner import SilentProgress, reproduce

CALLS: list[str] = []


def good(ctx: RunContext) -> ClaimResult:
    CALLS.append("good")
    ctx.report(0.5, "halfway")
    measured = {"accuracy": np.float32(0.97), "curve": np.arange(3), "nan": float("nan")}
    return ClaimResult(measured, "accuracy >= 0.95", "pass", ran="a tiny fake")


def broken(ctx: RunContext) -> ClaimResult:
    CALLS.append("broken")
    raise RuntimeError("the experiment blew up\nsecond line")


def not_a_result(ctx: RunContext) -> dict:
    return {"verdict": "pass"}


def claim(cid: str, target) -> Claim:
    return Claim(cid, cid.title(), "Tests", f"The seed says {cid}.", f"{cid} is checked.", target)


FAKE = (claim("broken", broken), claim("good", good))


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def run(out: Path, claims=FAKE, **kwargs):
    return reproduce(out, claims=claims, progress=SilentProgress(), **kwargs)


def test_a_raising_claim_is_a_failure_with_its_message_and_the_run_goes_on(tmp_path: Path) -> None:
    summary = run(tmp_path)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert validate_results(doc) == []
    by_id = {c["id"]: c for c in doc["claims"]}
    assert [c["id"] for c in doc["claims"]] == ["broken", "good"]
    assert by_id["broken"]["verdict"] == "fail"
    assert by_id["broken"]["error"] == "RuntimeError: the experiment blew up"
    assert "Traceback" in by_id["broken"]["traceback"]
    assert by_id["good"]["verdict"] == "pass"
    assert summary.failed == ["broken"] and summary.exit_code == 1
    assert doc["profile"] == "quick" and doc["finished"] and "torch" in doc["machine"]


def test_measured_values_become_strict_json(tmp_path: Path) -> None:
    run(tmp_path)
    text = (tmp_path / "results.json").read_text()
    good_claim = json.loads(text)["claims"][1]
    assert good_claim["measured"] == {"accuracy": pytest.approx(0.97), "curve": [0, 1, 2], "nan": "nan"}
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def test_resume_reuses_finished_claims_and_reruns_failed_ones(tmp_path: Path) -> None:
    run(tmp_path)
    CALLS.clear()
    summary = run(tmp_path)
    assert CALLS == ["broken"]
    assert {c["id"]: c.get("reused", False) for c in summary.claims} == {"broken": False, "good": True}


@pytest.mark.parametrize(
    "change",
    [{"fresh": True}, {"profile": "full"}, {"seed": 1}, {"curriculum": True}],
    ids=["fresh", "other-profile", "other-seed", "curriculum"],
)
def test_fresh_or_another_profile_seed_or_recipe_reruns_everything(tmp_path: Path, change: dict) -> None:
    run(tmp_path)
    CALLS.clear()
    run(tmp_path, **change)
    assert CALLS == ["broken", "good"]
    doc = load_results(tmp_path)
    assert doc["random_seed"] == change.get("seed", 0) and doc["curriculum"] == change.get(
        "curriculum", False
    )


def test_fresh_sets_the_checkpoints_aside_instead_of_deleting_them(tmp_path: Path) -> None:
    run(tmp_path)
    (tmp_path / "checkpoints" / "model").mkdir(parents=True)
    (tmp_path / "checkpoints" / "model" / "checkpoint.json").write_text("{}")
    run(tmp_path, fresh=True)
    assert (tmp_path / "checkpoints.previous" / "model" / "checkpoint.json").read_text() == "{}"
    assert not (tmp_path / "checkpoints" / "model").exists()


def test_a_run_recorded_before_seeds_and_recipes_were_recorded_is_reused_at_their_defaults(
    tmp_path: Path,
) -> None:
    run(tmp_path, curriculum=True)
    doc = json.loads((tmp_path / "results.json").read_text())
    del doc["random_seed"], doc["curriculum"]  # such a run used seed 0 and the curriculum
    (tmp_path / "results.json").write_text(json.dumps(doc))
    CALLS.clear()
    run(tmp_path, curriculum=True)
    assert CALLS == ["broken"]  # "good" is reused; "broken" failed before and reruns


@pytest.mark.parametrize("plain_text", [True, False])
def test_a_run_that_recorded_plain_text_is_reused_only_by_its_recipe(
    tmp_path: Path, plain_text: bool
) -> None:
    run(tmp_path)
    doc = json.loads((tmp_path / "results.json").read_text())
    del doc["curriculum"]
    (tmp_path / "results.json").write_text(json.dumps({**doc, "plain_text": plain_text}))
    CALLS.clear()
    run(tmp_path)  # the default: plain text, no curriculum
    assert CALLS == (["broken"] if plain_text else ["broken", "good"])


def test_results_are_written_after_each_claim(tmp_path: Path) -> None:
    seen: list[list[str]] = []

    def peek(ctx: RunContext) -> ClaimResult:
        seen.append([c["id"] for c in json.loads((ctx.out_dir / "results.json").read_text())["claims"]])
        return ClaimResult({"x": 1}, "", "pass")

    run(tmp_path, claims=(claim("good", good), claim("peek", peek)))
    assert seen == [["good"]]


def test_only_runs_the_named_claims_and_keeps_earlier_records(tmp_path: Path) -> None:
    run(tmp_path, only=["good"])
    assert CALLS == ["good"]
    summary = run(tmp_path, only=["broken"])
    assert [c["id"] for c in summary.claims] == ["broken"]
    assert [c["id"] for c in load_results(tmp_path)["claims"]] == ["broken", "good"]


def test_an_experiment_that_returns_no_claim_result_is_a_failed_row_not_a_crash(tmp_path: Path) -> None:
    summary = run(tmp_path, claims=(claim("x", not_a_result),))
    (record,) = summary.claims
    assert record["verdict"] == "fail" and record["ran"] == "bad result"
    assert record["error"] == "not_a_result returned dict, not a ClaimResult"
    assert validate_results(load_results(tmp_path)) == []


def test_records_carry_the_registrys_wording_not_the_experiments(tmp_path: Path) -> None:
    def claims_to_be_someone_else(ctx: RunContext) -> ClaimResult:
        result = good(ctx)
        result.id, result.seed = "other", "other words"
        return result

    (record,) = run(tmp_path, claims=(claim("good", claims_to_be_someone_else),)).claims
    assert (record["id"], record["seed"], record["checked"]) == (
        "good",
        "The seed says good.",
        "good is checked.",
    )
    assert record["title"] == "Good" and record["section"] == "Tests"


def test_progress_reports_start_fractions_and_finish(tmp_path: Path) -> None:
    events: list[tuple] = []

    class Sink(SilentProgress):
        def start(self, index, total, claim):
            events.append(("start", index, total, claim.id))

        def update(self, fraction, message):
            events.append(("update", fraction, message))

        def finish(self, record):
            events.append(("finish", record["verdict"]))

    reproduce(tmp_path, claims=(claim("good", good),), progress=Sink())
    assert events == [("start", 0, 1, "good"), ("update", 0.5, "halfway"), ("finish", "pass")]


def _valid() -> dict:
    c = {"id": "a", "seed": "s", "measured": {}, "threshold": "t", "verdict": "pass", "seconds": 1.0}
    return {"claims": [c], "machine": {}, "profile": "quick"}


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda d: d.pop("machine"), "missing top-level key 'machine'"),
        (lambda d: d["claims"][0].pop("seed"), "missing 'seed'"),
        (lambda d: d["claims"][0].update(verdict="maybe"), "verdict must be"),
        (lambda d: d["claims"][0].update(measured=[1]), "'measured' must be dict"),
        (lambda d: d["claims"][0].update(seconds="1"), "'seconds' must be"),
        (lambda d: d["claims"].append(dict(d["claims"][0])), "duplicate id"),
        (lambda d: d.update(profile="medium"), "profile must be"),
    ],
    ids=["no-machine", "no-seed", "bad-verdict", "measured-list", "seconds-str", "duplicate", "bad-profile"],
)
def test_validate_results_names_each_departure_from_the_schema(edit, problem: str) -> None:
    doc = _valid()
    assert validate_results(doc) == []
    edit(doc)
    assert any(problem in p for p in validate_results(doc)), validate_results(doc)


@pytest.mark.parametrize(
    "content", ["{not json", '{"claims": 3}', ""], ids=["corrupt", "off-schema", "empty"]
)
def test_load_results_rejects_a_broken_file_in_one_line(tmp_path: Path, content: str) -> None:
    (tmp_path / "results.json").write_text(content)
    with pytest.raises(DataError) as err:
        load_results(tmp_path)
    assert "\n" not in str(err.value)


def test_every_registered_claim_resolves_to_a_function_of_its_family_package() -> None:
    ids = [c.id for c in CLAIMS]
    assert len(ids) == len(set(ids)) == 20
    families = {"classic", "structure", "ngrams", "induction", "superposition"}
    for c in CLAIMS:
        module = importlib.import_module(c.experiment.__module__)
        family = c.experiment.__module__.split(".")
        assert family[:2] == ["circuitlab", "experiments"] and family[2] in families, c.id
        assert getattr(module, c.experiment.__name__) is c.experiment
        assert list(inspect.signature(c.experiment).parameters)[0] == "ctx"


def test_every_claim_says_what_is_checked_in_its_own_words_not_the_seeds() -> None:
    for c in CLAIMS:
        assert c.seed and c.section and c.title and c.checked, c.id
        assert c.checked != c.seed and c.checked.endswith(".") and c.checked.count(". ") == 0, c.id


def test_select_rejects_an_unknown_claim_and_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown claim nope: choose from perceptron, mlp"):
        select(["nope"])
    assert [c.id for c in select(["vae", "perceptron"])] == ["perceptron", "vae"]


@pytest.mark.parametrize("bars", [False, True], ids=["plain-lines", "tqdm-bars"])
def test_console_progress_names_the_claim_and_how_far_it_is(tmp_path: Path, bars: bool) -> None:
    import io

    from circuitlab.experiments.run.progress import ConsoleProgress

    stream = io.StringIO()
    reproduce(tmp_path, claims=FAKE, progress=ConsoleProgress(stream, every=0.0, bars=bars))
    text = stream.getvalue()
    assert "[1/2] broken: FAIL" in text and "RuntimeError: the experiment blew up" in text
    assert "[2/2] good: PASS" in text
    assert ("50%" in text and "halfway" in text) if not bars else "good" in text
