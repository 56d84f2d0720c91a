"""Numbers as people read them: 4 significant digits, short lists, durations in s / min."""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAX_INLINE = 8


def fmt_value(value: Any) -> str:
    """A measured value as text: floats to 4 significant digits, long lists shortened."""
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        items = [fmt_value(v) for v in value[:MAX_INLINE]]
        more = f", … ({len(value)} values)" if len(value) > MAX_INLINE else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {fmt_value(v)}" for k, v in value.items()) + "}"
    return str(value)


def measured_rows(measured: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """(name, value) rows; nested dicts flatten to dotted names."""
    rows: list[tuple[str, str]] = []
    for key, value in measured.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            rows += measured_rows(value, prefix=f"{name}.")
        else:
            rows.append((name, fmt_value(value)))
    return rows


def headline(claim: dict[str, Any]) -> str:
    """The one measured value of the verdict table: the registry's headline key, else the first number."""
    measured = claim.get("measured") or {}
    key = claim.get("headline") or ""
    if key not in measured:
        numbers = [k for k, v in measured.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        key = numbers[0] if numbers else next(iter(measured), "")
    if not key:
        return "not available" if (claim.get("error") or "").startswith("not available") else "—"
    return f"{key} = {fmt_value(measured[key])}"


def duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(round(seconds % 60)):02d} s"


def when(iso: Any) -> str:
    """An ISO timestamp as ``2025-01-01 12:00 UTC+01:00``; anything else as given."""
    try:
        t = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso or "?")
    return t.strftime("%Y-%m-%d %H:%M") + (f" {t.tzname()}" if t.tzinfo else "")
