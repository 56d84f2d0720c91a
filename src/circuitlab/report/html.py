"""The report: one self-contained HTML page built from a run folder's results.json.

Figures are inlined as base64 PNGs, the CSS and the attention viewer's JavaScript are inline,
fonts are the system's: the page opens from disk with no network. Every string from the
results is escaped. The page takes results, not models.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from circuitlab.experiments.run.results import load_results, used_curriculum
from circuitlab.files import atomic_write
from circuitlab.report.dashboard import DASHBOARD_CLAIM, DASHBOARD_CSS, dashboard_block
from circuitlab.report.figures import png_data_uri, png_size
from circuitlab.report.format import duration, fmt_value, headline, measured_rows, when
from circuitlab.report.style import PAGE_CSS
from circuitlab.report.viewer import VIEWER_CSS, VIEWER_JS, load_viewer, viewer_html

REPORT_NAME = "report.html"
e = html.escape


def render_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Read ``run_dir/results.json`` (and the viewer JSON, figures), write ``report.html``."""
    run = Path(run_dir)
    doc = load_results(run)
    target = Path(out) if out is not None else run / REPORT_NAME
    return atomic_write(target, build_html(doc, run, target.parent))


def ordered_claims(claims: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Claims in the seed's order (the registry's); unknown ids after, as recorded."""
    from circuitlab.experiments.registry import CLAIMS  # imports every claim module, which use our figures

    rank = {c.id: i for i, c in enumerate(CLAIMS)}
    return sorted(claims, key=lambda c: (rank.get(c["id"], len(rank)), claims.index(c)))


def build_html(doc: dict[str, Any], run_dir: Path, page_dir: Path | None = None) -> str:
    """The page; ``page_dir`` (default ``run_dir``) is where it will be written, for the tutorial links."""
    from circuitlab.experiments.registry import VIEWER_CLAIM

    claims = ordered_claims(doc["claims"])
    viewer, dash = _viewer_block(run_dir), dashboard_block(run_dir)
    extra = {VIEWER_CLAIM: viewer, DASHBOARD_CLAIM: dash}
    links = tutorial_links(page_dir or run_dir)
    sections = [_claim_section(c, run_dir, extra.get(c["id"], ""), links.get(c["id"], "")) for c in claims]
    if viewer and VIEWER_CLAIM not in {c["id"] for c in claims}:
        sections.append(f'<section class="claim" id="viewer"><h2>Attention viewer</h2>{viewer}</section>')
    script = f"<script>{VIEWER_JS}</script>" if viewer else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>circuitlab · reproduction report</title>
<style>{PAGE_CSS}{VIEWER_CSS if viewer else ""}{DASHBOARD_CSS if dash else ""}</style></head>
<body><div class="page">
{_header(doc, claims)}
{_summary(claims)}
<main>{"".join(sections)}</main>
{_footer(doc)}
</div>{script}</body></html>
"""


def _header(doc: dict[str, Any], claims: list[dict[str, Any]]) -> str:
    n_pass = sum(c["verdict"] == "pass" for c in claims)
    total = sum(float(c.get("seconds") or 0) for c in claims)
    machine = doc.get("machine", {})
    where = ", ".join(
        str(x) for x in (machine.get("cpu"), _cores(machine), machine.get("gpu"), machine.get("device")) if x
    )
    status = "pass" if claims and n_pass == len(claims) else "fail"
    return f"""<header class="hero">
<p class="eyebrow">circuitlab · reproduction report</p>
<h1>Every claim of the seed, run and checked</h1>
<p class="lede">Each section quotes the seed document, says what circuitlab ran to test it, and shows
the numbers, the figures and the verdict.</p>
<div class="score {status}"><span class="big">{n_pass}<small>/{len(claims)}</small></span>
<span>claims pass</span></div>
<dl class="facts"><div><dt>Profile</dt><dd>{e(str(doc.get("profile", "?")))}</dd></div>
<div><dt>Compute</dt><dd>{duration(total)}</dd></div>
<div><dt>Started</dt><dd>{e(when(doc.get("started")))}</dd></div>
<div><dt>Machine</dt><dd>{e(where or "unknown")}</dd></div>
<div><dt>Corpus</dt><dd>{e(corpus_name(doc.get("corpus")))}</dd></div>
<div><dt>Seed</dt><dd>{e(str(doc.get("random_seed", 0)))}</dd></div>
<div><dt>Induction recipe</dt><dd>{e(induction_recipe_name(doc))}</dd></div></dl>
</header>"""


def induction_recipe_name(doc: dict[str, Any]) -> str:
    """How the run's induction model trained."""
    return "repeated random-token curriculum (--curriculum)" if used_curriculum(doc) else "plain text"


def corpus_name(corpus: Any) -> str:
    """The corpus of a run or claim in words (runs made before ``--corpus`` trained on stdlib)."""
    if corpus in (None, "stdlib"):
        return "the Python standard library (stdlib)"
    return str(corpus)


def _cores(machine: dict[str, Any]) -> str:
    return f"{machine['cpu_count']} cores" if machine.get("cpu_count") else ""


def _summary(claims: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td class='num'>{i}</td><td><a href='#claim-{e(c['id'])}'>{e(c.get('title') or c['id'])}</a>"
        f"<div class='id'>{e(c['id'])}</div></td><td>{e(c.get('section') or '')}</td>"
        f"<td class='mono'>{breakable(headline(c))}</td><td class='num'>{duration(c.get('seconds'))}</td>"
        f"<td>{_badge(c['verdict'])}</td></tr>"
        for i, c in enumerate(claims, 1)
    )
    return f"""<nav class="summary" aria-label="verdicts"><table>
<thead><tr><th>#</th><th>Claim</th><th>Seed section</th><th>Measured</th><th>Time</th><th>Verdict</th></tr>
</thead><tbody>{rows}</tbody></table></nav>"""


def breakable(text: str) -> str:
    """Escaped text that may wrap after an underscore (long measured names), not mid-word."""
    return e(text).replace("_", "_<wbr>")


def _badge(verdict: str) -> str:
    kind = "pass" if verdict == "pass" else "fail"
    return f'<span class="verdict {kind}">{kind}</span>'


def tutorial_links(page_dir: Path) -> dict[str, str]:
    """Claim id -> a paragraph linking the tutorial that walks it (the registry's ``tutorial``)."""
    from circuitlab.experiments.registry import CLAIMS
    from circuitlab.tutorials import href

    links = {}
    for claim in (c for c in CLAIMS if c.tutorial):
        target, name = href(claim.tutorial, page_dir), e(Path(claim.tutorial).name)
        shown = f'<a href="{e(target)}">{name}</a>' if target else f"<code>{e(claim.tutorial)}</code>"
        links[claim.id] = (
            f'<p class="tutorial"><strong>Tutorial:</strong> {shown} walks this claim step by step.</p>'
        )
    return links


def _claim_section(c: dict[str, Any], run_dir: Path, viewer: str, tutorial: str = "") -> str:
    kind = "pass" if c["verdict"] == "pass" else "fail"
    parts = [
        f'<section class="claim {kind}" id="claim-{e(c["id"])}">',
        f'<p class="kicker">{e(c.get("section") or "")} <span class="id">· {e(c["id"])}</span></p>',
        f"<h2>{e(c.get('title') or c['id'])} {_badge(c['verdict'])}</h2>",
        f'<blockquote class="seed"><p>{e(c["seed"])}</p><cite>the seed document</cite></blockquote>',
    ]
    if c.get("checked"):
        parts.append(f'<p class="restated"><strong>Checked as:</strong> {e(str(c["checked"]))}</p>')
    parts.append(tutorial)
    parts.append('<div class="facts-grid"><div>')
    parts.append(f"<h3>What was run</h3><p>{e(str(c.get('ran') or '—'))}</p>")
    if c.get("corpus"):
        parts.append(f"<h3>Trained on</h3><p>{e(corpus_name(c['corpus']))}</p>")
    parts.append(f"<h3>Passes when</h3><p>{e(c.get('threshold') or '—')}</p></div>")
    parts.append(f"<div><h3>Measured</h3>{_measured(c)}</div></div>")
    parts += [_table(caption, rows) for caption, rows in (c.get("tables") or {}).items()]
    figures = [_figure(caption, rel, run_dir) for caption, rel in (c.get("figures") or {}).items()]
    if figures:
        parts.append(f'<div class="figures">{"".join(figures)}</div>')
    parts.append(viewer)
    if c.get("notes") and c.get("notes") != c.get("error"):
        parts.append(f'<p class="notes">{e(str(c["notes"]))}</p>')
    if c.get("error"):
        parts.append(_error(c))
    parts.append(
        f'<p class="meta">{duration(c.get("seconds"))}{" · reused from an earlier run" if c.get("reused") else ""}'
        f"{' · ' + e(str(c['device'])) if c.get('device') else ''}</p></section>"
    )
    return "\n".join(p for p in parts if p)


def _measured(c: dict[str, Any]) -> str:
    rows = measured_rows(c.get("measured") or {})
    if not rows:
        return '<p class="muted">nothing measured</p>'
    body = "".join(f"<tr><th>{breakable(k)}</th><td class='mono'>{e(v)}</td></tr>" for k, v in rows)
    return f'<table class="kv">{body}</table>'


def _table(caption: str, rows: list[list[Any]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{e(fmt_value(x))}</th>" for x in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{e(fmt_value(x))}</td>" for x in r) + "</tr>" for r in rows[1:])
    return (f'<div class="table-wrap"><table class="data"><caption>{e(caption)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")  # fmt: skip


def _figure(caption: str, rel: str, run_dir: Path) -> str:
    path = (run_dir / rel).resolve()
    inside = path.is_relative_to(run_dir.resolve())
    size = png_size(path) if inside and path.is_file() else None
    if size is None:
        why = "is missing" if not path.is_file() else "is not a PNG inside the run folder"
        return f'<figure class="missing"><div>figure {e(rel)} {why}</div><figcaption>{e(caption)}</figcaption></figure>'
    w, h = size
    wide = ' class="wide"' if w > 1.8 * h else ""
    return (f'<figure{wide}><img src="{png_data_uri(path)}" width="{w}" height="{h}" alt="{e(caption)}">'
            f"<figcaption>{e(caption)}</figcaption></figure>")  # fmt: skip


def _error(c: dict[str, Any]) -> str:
    trace = c.get("traceback") or ""
    details = f"<details><summary>traceback</summary><pre>{e(trace)}</pre></details>" if trace else ""
    return f'<div class="error"><strong>Error.</strong> {e(str(c["error"]))}{details}</div>'


def _viewer_block(run_dir: Path) -> str:
    try:
        data = load_viewer(run_dir)
    except Exception as err:  # a broken viewer file must not take the report down
        return f'<div class="error"><strong>Attention viewer unavailable.</strong> {e(str(err))}</div>'
    if data is None:
        return ""
    return "<h3>Attention viewer</h3>" + viewer_html(data)


def _footer(doc: dict[str, Any]) -> str:
    machine = doc.get("machine", {})
    rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in machine.items())
    return f"""<footer><h2>Machine</h2><table class="kv">{rows}</table>
<p class="muted">Started {e(when(doc.get("started")))}, finished {e(when(doc.get("finished") or "not yet"))}.
Regenerate this page with <code>circuitlab report RUN_DIR</code>; it needs no network.</p></footer>"""
