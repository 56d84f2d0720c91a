"""`circuitlab reproduce`: run every claim, time it, record it, and keep going.

``results.json`` (schema in :mod:`circuitlab.experiments.run.results`) is rewritten atomically
after every claim. A claim already recorded for the same profile (and, for the language-model
claims, the same corpus) without an error is reused on the next run (``fresh=True`` reruns it),
so an interrupted run picks up where it stopped; the experiments cache their trained models under
``out_dir/checkpoints/`` themselves. ``corpus`` (``reproduce --corpus``) is checked before any
claim runs and recorded in ``results.json``, at the top and in each claim that trains on it.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from circuitlab.errors import ConfigError, DataError
from circuitlab.experiments import registry
from circuitlab.experiments.base import ClaimResult, RunContext
from circuitlab.experiments.registry import BadResult, Claim, select
from circuitlab.experiments.run.corpus import check_corpus
from circuitlab.experiments.run.machine import machine_info
from circuitlab.experiments.run.progress import ConsoleProgress, ProgressSink, SilentProgress
from circuitlab.experiments.run.results import (
    RESULTS_NAME,
    default_out_dir,
    load_results,
    now,
    to_jsonable,
    used_curriculum,
    validate_results,
    write_results,
)
from circuitlab.files import set_aside

__all__ = ["RunSummary", "SilentProgress", "default_out_dir", "load_results", "reproduce", "validate_results"]

Profile = Literal["quick", "full"]


@dataclass(frozen=True)
class RunSummary:
    """What a reproduce run produced: the run folder, its results file and one record per claim."""

    out_dir: Path
    results_path: Path
    profile: Profile
    claims: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @property
    def failed(self) -> list[str]:
        return [c["id"] for c in self.claims if c["verdict"] != "pass"]

    @property
    def all_passed(self) -> bool:
        return not self.failed

    @property
    def exit_code(self) -> int:
        return 0 if self.all_passed else 1


def reproduce(
    out_dir: str | Path,
    profile: Profile = "quick",
    only: Sequence[str] | None = None,
    device: str = "cpu",
    fresh: bool = False,
    progress: ProgressSink | None = None,
    claims: Sequence[Claim] | None = None,
    seed: int = 0,
    corpus: str = "stdlib",
    curriculum: bool = False,
) -> RunSummary:
    """Run the claims (all, or those named in ``only``) and record each in ``results.json``.

    An experiment that raises is recorded as a failed claim with its error, and the run goes
    on. ``progress`` receives start/update/finish events (default: :class:`ConsoleProgress`;
    :class:`SilentProgress` runs quietly); ``claims`` replaces the registry (tests do this).
    ``corpus`` is what the language-model claims (``Claim.corpus``) train on: ``"stdlib"`` or a
    text file, folder or glob; a corpus that cannot be read raises DataError before anything runs.
    ``curriculum`` trains the induction model with ``induction_recipe(curriculum=True)`` (repeated
    random-token passages in half of its training windows) instead of on plain text.
    """
    if profile not in ("quick", "full"):
        raise ConfigError(f"profile {profile!r} is not known: use 'quick' or 'full'")
    claims = registry.CLAIMS if claims is None else claims
    chosen = select(only, claims)
    if any(c.corpus for c in chosen):
        corpus = check_corpus(corpus)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_NAME
    run_keys = {"profile": profile, "random_seed": seed, "curriculum": curriculum}
    previous = {} if fresh else _reusable(path, run_keys, {c.id: _corpus_of(c, corpus) for c in claims})
    if fresh:  # every claim retrains once; later claims reuse what earlier ones trained in this run
        set_aside(out / "checkpoints")
    sink = progress if progress is not None else ConsoleProgress()
    doc = {"claims": [], "machine": machine_info(device), "profile": profile, "corpus": corpus, **run_keys,
           "started": now(), "finished": None}  # fmt: skip
    records = dict(previous)
    for index, claim in enumerate(chosen):
        sink.start(index, len(chosen), claim)
        if claim.id in previous:
            record = {**previous[claim.id], **_wording(claim), "reused": True}
        else:  # fresh checkpoints were set aside above: claims in this run share what they train
            ctx = RunContext(
                out, profile, device, seed, progress=sink.update, corpus=corpus, curriculum=curriculum
            )
            record = run_claim(claim, ctx)
        records[claim.id] = record
        sink.finish(record)
        doc["claims"] = [records[c.id] for c in claims if c.id in records]  # the registry's order
        write_results(path, doc)
    doc["finished"] = now()
    write_results(path, doc)
    return RunSummary(out, path, profile, tuple(records[c.id] for c in chosen))


def _corpus_of(claim: Claim, corpus: str) -> str | None:
    """The corpus a claim trains on in this run (None: it trains on none)."""
    return corpus if claim.corpus else None


def _wording(claim: Claim) -> dict[str, str]:
    """What the registry says about a claim, as recorded beside its numbers."""
    return {"id": claim.id, "title": claim.title, "section": claim.section, "seed": claim.seed,
            "checked": claim.checked, "headline": claim.headline}  # fmt: skip


def run_claim(claim: Claim, ctx: RunContext) -> dict[str, Any]:
    """Run one claim; any failure becomes a failed record, never an exception."""
    start = time.perf_counter()
    base = {**_wording(claim), "profile": ctx.profile, "device": ctx.device}
    if claim.corpus:
        base["corpus"] = ctx.corpus
    try:
        result = claim.run(ctx)
    except BadResult as err:
        return _failure(base, str(err), "bad result", start, tb=None)
    except Exception as err:
        return _failure(base, _one_line(err), "the experiment raised an error", start)
    return _record(base, result)


def _record(base: dict[str, Any], result: ClaimResult) -> dict[str, Any]:
    data = result.to_json()
    record = {**data, **base, "seconds": round(result.seconds, 3), "error": None}
    verdict = data.get("verdict")
    record["verdict"] = verdict if verdict in ("pass", "fail") else "fail"
    record["measured"] = to_jsonable(record.get("measured") or {})
    record["tables"] = to_jsonable(record.get("tables") or {})
    record["figures"] = {str(k): str(v) for k, v in (record.get("figures") or {}).items()}
    return to_jsonable(record)


def _failure(base: dict[str, Any], error: str, ran: str, start: float, tb: str | None = "") -> dict[str, Any]:
    trace = traceback.format_exc(limit=-12) if tb == "" else tb
    return {**base, "measured": {}, "threshold": "", "verdict": "fail", "ran": ran, "figures": {},
            "tables": {}, "notes": error, "error": error, "traceback": trace,
            "seconds": round(time.perf_counter() - start, 3)}  # fmt: skip


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _reusable(
    path: Path, run_keys: dict[str, Any], wanted: dict[str, str | None]
) -> dict[str, dict[str, Any]]:
    """Records of a previous run with the same ``run_keys`` (profile, seed, curriculum) and corpus
    (``wanted[id]``) that finished without an error; a run or claim recorded before seeds, the
    recipe or corpora were recorded ran at seed 0 with the curriculum on stdlib, and one that
    recorded ``plain_text`` (before the plain-text recipe became the default) used the curriculum
    unless it was true."""
    if not path.exists():
        return {}
    try:
        doc = load_results(path)
    except DataError:
        return {}
    older = {"random_seed": 0, "curriculum": used_curriculum(doc)}
    if any({**older, **doc}.get(key) != value for key, value in run_keys.items()):
        return {}
    profile = run_keys["profile"]
    return {
        c["id"]: c
        for c in doc["claims"]
        if c["id"] in wanted
        and not c.get("error")
        and c.get("profile", profile) == profile
        and c.get("corpus", None if wanted[c["id"]] is None else "stdlib") == wanted[c["id"]]
    }
