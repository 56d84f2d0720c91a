"""`circuitlab reproduce`: run every claim, time it, record it, and keep going.

``results.json`` in the run folder is rewritten atomically after every claim::

    {"claims": [{"id", "seed", "measured", "threshold", "verdict": "pass" | "fail", "seconds",
                 "title", "section", "ran", "figures", "tables", "notes", "error", "profile", ...}],
     "machine": {...}, "profile": "quick" | "full", "started": ISO time, "finished": ISO time | null}

A claim already recorded for the same profile without an error is reused on the next run
(``fresh=True`` reruns it), so an interrupted run picks up where it stopped; the
experiments cache their trained models under ``out_dir/checkpoints/`` themselves.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from circuitlab.errors import ConfigError, DataError
from circuitlab.experiments import registry
from circuitlab.experiments.base import ClaimResult, RunContext
from circuitlab.experiments.machine import machine_info
from circuitlab.experiments.progress import ConsoleProgress, ProgressSink, SilentProgress
from circuitlab.experiments.registry import Claim, NotAvailable, resolve, select

__all__ = ["RunSummary", "SilentProgress", "load_results", "reproduce", "validate_results"]

Profile = Literal["quick", "full"]
RESULTS_NAME = "results.json"
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str, "seed": str, "measured": dict, "threshold": str, "verdict": str, "seconds": (int, float),
}  # fmt: skip


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


def _set_aside_checkpoints(out: Path) -> None:
    """``--fresh``: move ``checkpoints/`` to ``checkpoints.previous/`` (replacing an older one), so
    every claim retrains once and later claims reuse what earlier ones trained in this run."""
    current, previous = out / "checkpoints", out / "checkpoints.previous"
    if current.is_dir():
        if previous.exists():
            shutil.rmtree(previous)
        current.rename(previous)


def reproduce(
    out_dir: str | Path,
    profile: Profile = "quick",
    only: Sequence[str] | None = None,
    device: str = "cpu",
    fresh: bool = False,
    progress: ProgressSink | None = None,
    claims: Sequence[Claim] | None = None,
    seed: int = 0,
) -> RunSummary:
    """Run the claims (all, or those named in ``only``) and record each in ``results.json``.

    An experiment that raises is recorded as a failed claim with its error, and the run goes
    on. ``progress`` receives start/update/finish events (default: :class:`ConsoleProgress`;
    :class:`SilentProgress` runs quietly); ``claims`` replaces the registry (tests do this).
    """
    if profile not in ("quick", "full"):
        raise ConfigError(f"profile {profile!r} is not known: use 'quick' or 'full'")
    claims = registry.CLAIMS if claims is None else claims
    chosen = select(only, claims)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / RESULTS_NAME
    previous = {} if fresh else _reusable(path, profile)
    if fresh:
        _set_aside_checkpoints(out)
    sink = progress if progress is not None else ConsoleProgress()
    doc = {"claims": [], "machine": machine_info(device), "profile": profile,
           "started": _now(), "finished": None}  # fmt: skip
    records: dict[str, dict[str, Any]] = {
        cid: rec for cid, rec in previous.items() if cid in {c.id for c in claims}
    }
    order = [c.id for c in claims]
    for index, claim in enumerate(chosen):
        sink.start(index, len(chosen), claim)
        if claim.id in previous:
            wording = {
                "title": claim.title,
                "section": claim.section,
                "seed": claim.seed,
                "headline": claim.headline,
            }
            record = {**records[claim.id], **wording, "reused": True}
        else:
            # fresh checkpoints were set aside above: claims in this run share what they train
            ctx = RunContext(out, profile, device, seed, False, sink.update)
            record = run_claim(claim, ctx)
        records[claim.id] = record
        sink.finish(record)
        doc["claims"] = [records[i] for i in order if i in records]
        write_json_atomic(path, doc)
    doc["finished"] = _now()
    write_json_atomic(path, doc)
    ran = tuple(records[c.id] for c in chosen)
    return RunSummary(out, path, profile, ran)


def run_claim(claim: Claim, ctx: RunContext) -> dict[str, Any]:
    """Resolve and run one claim; any failure becomes a failed record, never an exception."""
    start = time.perf_counter()
    base = {"id": claim.id, "title": claim.title, "section": claim.section, "seed": claim.seed,
            "headline": claim.headline, "profile": ctx.profile, "device": ctx.device}  # fmt: skip
    try:
        experiment = resolve(claim)
    except NotAvailable as err:
        return _failure(base, f"not available: {err}", "not available", start, tb=None)
    except Exception as err:  # a module that exists but does not import
        return _failure(base, _one_line(err), "the experiment module failed to import", start)
    try:
        result = experiment(ctx)
    except Exception as err:
        return _failure(base, _one_line(err), "the experiment raised an error", start)
    if not isinstance(result, ClaimResult):
        got = type(result).__name__
        return _failure(base, f"{claim.target} returned {got}, not a ClaimResult", "bad result", start, None)
    return _record(base, result, time.perf_counter() - start)


def _record(base: dict[str, Any], result: ClaimResult, seconds: float) -> dict[str, Any]:
    data = result.to_json()
    record = {**data, **base, "seconds": round(seconds, 3), "error": None}
    if data.get("seed") and data["seed"] != base["seed"]:
        record["claim"] = data["seed"]  # the experiment's own wording, beside the seed's
    if data.get("id") != base["id"]:
        record["notes"] = f"{record.get('notes', '')} (experiment reported id {data.get('id')!r})".strip()
    verdict = data.get("verdict")
    record["verdict"] = verdict if verdict in ("pass", "fail") else "fail"
    record["measured"] = to_jsonable(record.get("measured") or {})
    record["tables"] = to_jsonable(record.get("tables") or {})
    record["figures"] = {str(k): str(v) for k, v in (record.get("figures") or {}).items()}
    return record


def _failure(base: dict[str, Any], error: str, ran: str, start: float, tb: str | None = "") -> dict[str, Any]:
    trace = traceback.format_exc(limit=-12) if tb == "" else tb
    return {**base, "measured": {}, "threshold": "", "verdict": "fail", "ran": ran, "figures": {},
            "tables": {}, "notes": error, "error": error, "traceback": trace,
            "seconds": round(time.perf_counter() - start, 3)}  # fmt: skip


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def _reusable(path: Path, profile: str) -> dict[str, dict[str, Any]]:
    """Records of a previous run of the same profile that finished without an error."""
    if not path.exists():
        return {}
    try:
        doc = load_results(path)
    except DataError:
        return {}
    if doc.get("profile") != profile:
        return {}
    return {c["id"]: c for c in doc["claims"] if not c.get("error") and c.get("profile", profile) == profile}


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: numpy/torch scalars and arrays to numbers and lists, NaN/inf to strings."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return str(value)


def write_json_atomic(path: Path, doc: dict[str, Any]) -> None:
    """Write JSON to a temporary file beside ``path`` and rename it into place."""
    text = json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False)
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and validate a results.json; DataError (one line) when missing, corrupt or off-schema."""
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_NAME
    if not p.is_file():
        raise DataError(f"{p} not found: run `circuitlab reproduce --out {p.parent}` first")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(
            f"{p} is not valid JSON ({err}): rerun `circuitlab reproduce --out {p.parent}`"
        ) from err
    problems = validate_results(doc)
    if problems:
        raise DataError(f"{p} does not follow the results schema: {problems[0]}")
    return doc


def validate_results(doc: Any) -> list[str]:
    """Every way ``doc`` departs from the results.json schema (empty when it is valid)."""
    if not isinstance(doc, dict):
        return [f"the document must be an object, got {type(doc).__name__}"]
    problems = [f"missing top-level key {k!r}" for k in ("claims", "machine", "profile") if k not in doc]
    if doc.get("profile", "quick") not in ("quick", "full"):
        problems.append(f"profile must be 'quick' or 'full', got {doc.get('profile')!r}")
    if "machine" in doc and not isinstance(doc["machine"], dict):
        problems.append("machine must be an object")
    claims = doc.get("claims", [])
    if not isinstance(claims, list):
        return [*problems, "claims must be a list"]
    seen: set[str] = set()
    for i, claim in enumerate(claims):
        problems += _claim_problems(i, claim, seen)
    return problems


def _claim_problems(i: int, claim: Any, seen: set[str]) -> list[str]:
    if not isinstance(claim, dict):
        return [f"claims[{i}] must be an object"]
    where = f"claims[{i}] ({claim.get('id', '?')})"
    out = [f"{where}: missing {k!r}" for k in REQUIRED_FIELDS if k not in claim]
    out += [
        f"{where}: {k!r} must be {getattr(t, '__name__', 'a number')}, got {type(claim[k]).__name__}"
        for k, t in REQUIRED_FIELDS.items()
        if k in claim and (not isinstance(claim[k], t) or isinstance(claim[k], bool))
    ]
    if claim.get("verdict") not in ("pass", "fail"):
        out.append(f"{where}: verdict must be 'pass' or 'fail', got {claim.get('verdict')!r}")
    if claim.get("id") in seen:
        out.append(f"{where}: duplicate id")
    seen.add(claim.get("id"))
    for key in ("figures", "tables"):
        if key in claim and not isinstance(claim[key], dict):
            out.append(f"{where}: {key!r} must be an object")
    return out


def default_out_dir(root: str | Path = "runs") -> Path:
    return Path(root) / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")
