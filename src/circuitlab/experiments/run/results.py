"""``results.json``: the record of a reproduce run, its schema, and reading and writing it.

::

    {"claims": [{"id", "seed", "checked", "measured", "threshold", "verdict": "pass" | "fail",
                 "seconds", "title", "section", "headline", "ran", "figures", "tables", "notes",
                 "error", "profile", "device", "corpus" (language-model claims only), ...}],
     "machine": {...}, "profile": "quick" | "full", "corpus": "stdlib" | path or glob,
     "random_seed": int, "curriculum": bool, "started": ISO time, "finished": ISO time | null}

``corpus`` (absent in runs made before ``--corpus`` existed: they trained on stdlib) is what the
language-model claims were asked to train on; each such claim records the corpus it ran on.
``random_seed`` (``--seed``; absent in runs made before it existed: they ran at 0) seeds every
claim's initialisation and data order; ``curriculum`` (``--curriculum``) whether the induction
model trained with the repeated random-token curriculum instead of on plain text (absent: runs
made before 2026-12-04, which used the curriculum unless they recorded ``"plain_text": true``).

The file is written atomically (``circuitlab.files.atomic_write_json``): a reader sees the old
run or the new one, never half of one.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any

from circuitlab.errors import DataError
from circuitlab.files import atomic_write_json

RESULTS_NAME = "results.json"
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str, "seed": str, "measured": dict, "threshold": str, "verdict": str, "seconds": (int, float),
}  # fmt: skip


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


def write_results(path: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` (already plain JSON values) to ``path`` atomically."""
    return atomic_write_json(path, doc)


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
    if not isinstance(doc.get("corpus", ""), str):
        problems.append(f"corpus must be a string, got {type(doc['corpus']).__name__}")
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


def used_curriculum(doc: dict[str, Any]) -> bool:
    """Whether the run's induction model trained with the curriculum (``--curriculum``); runs made
    before 2026-12-04 record ``plain_text`` or nothing and used it unless ``plain_text`` was true."""
    return bool(doc.get("curriculum", not doc.get("plain_text", False)))


def default_out_dir(root: str | Path = "runs") -> Path:
    return Path(root) / datetime.now().strftime("%Y-%m-%d_%H-%M-%S")


def now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


__all__ = [
    "used_curriculum",
    "RESULTS_NAME",
    "default_out_dir",
    "load_results",
    "now",
    "to_jsonable",
    "validate_results",
    "write_results",
]
