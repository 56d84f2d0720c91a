"""Feature dashboards for SAE latents: HTML from the plain data of ``latent_dashboards``.

One card per latent: how often it fires and its largest activation, the histogram of its nonzero
activations (inline SVG), its top activating contexts with each token shaded by the latent's
activation there (the value in the token's tooltip; newlines shown as ↵), the tokens its decoder direction promotes and
suppresses through W_U, and its nearest latents by decoder cosine. Pure HTML and CSS, every
string escaped: the page opens from disk with no network and no script. Takes JSON-shaped dicts
(``LatentDashboard.to_json()``), never models.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from circuitlab.files import atomic_write, atomic_write_json

DASHBOARD_JSON = "superposition/sae_dashboard.json"
DASHBOARD_CLAIM = "sae_transformer"  # the claim whose section shows the dashboards in the report
e = html.escape

DASHBOARD_CSS = """
.latents{display:grid;grid-template-columns:repeat(auto-fill,minmax(30rem,1fr));gap:1rem;margin:1rem 0}
.latent{border:1px solid var(--line,#ddd);border-radius:12px;padding:.8rem 1rem;background:var(--card,#fff)}
.latent h4{margin:.1rem 0 .4rem;font-size:1rem}.latent h5{margin:.6rem 0 .2rem;font-size:.8rem;
  text-transform:uppercase;letter-spacing:.06em;color:var(--muted,#666)}
.ctx{font-family:var(--mono,monospace);font-size:.8rem;line-height:1.9;margin:.1rem 0;white-space:pre-wrap;
  overflow-wrap:anywhere}
.tok{border-radius:3px;padding:0 1px;background:rgba(234,88,12,var(--a))}.tok.peak{outline:1px solid #c2410c}
.logits{display:grid;grid-template-columns:1fr 1fr;gap:.6rem;font-size:.8rem}
.logits table td{padding:.1rem .3rem;font-family:var(--mono,monospace)}
.pos{color:#15803d}.neg{color:#b91c1c}.hist rect{fill:#ea580c}.hist text{font-size:9px;fill:currentColor}
"""


def _token(text: str, act: float, top: float, peak: bool) -> str:
    alpha = 0.0 if top <= 0 else max(0.0, min(1.0, act / top))
    cls = "tok peak" if peak else "tok"
    shown = text.replace("\n", "↵").replace("\t", "⇥")  # a context stays on one line
    return f'<span class="{cls}" style="--a:{alpha:.3f}" title="{act:g}">{e(shown)}</span>'


def _histogram(counts: list[int], edges: list[float], width: int = 260, height: int = 64) -> str:
    if not counts or max(counts) == 0:
        return '<p class="muted">never fires on these tokens</p>'
    bar, peak = width / len(counts), max(counts)
    rects = "".join(
        f'<rect x="{i * bar:.1f}" y="{height - 12 - c / peak * (height - 14):.1f}" width="{max(bar - 1, 1):.1f}" '
        f'height="{c / peak * (height - 14):.1f}"><title>{c} between {edges[i]:g} and {edges[i + 1]:g}</title></rect>'
        for i, c in enumerate(counts)
    )
    labels = f'<text x="0" y="{height - 1}">0</text><text x="{width}" y="{height - 1}" text-anchor="end">{edges[-1]:g}</text>'
    return f'<svg class="hist" role="img" aria-label="activation histogram" width="{width}" height="{height}">{rects}{labels}</svg>'


def _pairs(rows: list[Any], cls: str) -> str:
    cells = "".join(
        f'<tr><td>{e(repr(str(t))[1:-1])}</td><td class="{cls}">{v:+.3f}</td></tr>' for t, v in rows
    )
    return f"<table>{cells}</table>" if rows else '<p class="muted">—</p>'


def latent_card(d: dict[str, Any]) -> str:
    """One latent's card."""
    top = float(d["max_activation"])
    contexts = (
        "".join(
            '<p class="ctx">'
            + "".join(
                _token(t, a, top, i == c["peak"])
                for i, (t, a) in enumerate(zip(c["tokens"], c["acts"], strict=True))
            )
            + "</p>"
            for c in d["contexts"]
        )
        or '<p class="muted">no activating context</p>'
    )
    neighbours = ", ".join(f"{int(j)} ({float(c):.2f})" for j, c in d["neighbours"])
    logits = ""
    if d["promoted"] or d["suppressed"]:
        logits = (f'<h5>Logits (W_dec row · W_U)</h5><div class="logits"><div>promoted{_pairs(d["promoted"], "pos")}</div>'
                  f'<div>suppressed{_pairs(d["suppressed"], "neg")}</div></div>')  # fmt: skip
    return (
        f'<article class="latent" id="latent-{int(d["latent"])}"><h4>Latent {int(d["latent"])}</h4>'
        f'<p class="muted">fires on {100 * float(d["frequency"]):.2f}% of tokens · max activation {top:g}</p>'
        f"<h5>Activation histogram</h5>{_histogram(d['histogram'], d['edges'])}"
        f"<h5>Top activating contexts</h5>{contexts}{logits}"
        f"<h5>Nearest latents (decoder cosine)</h5><p>{e(neighbours) or '—'}</p></article>"
    )


def dashboards_html(doc: dict[str, Any]) -> str:
    """The cards of ``doc["latents"]`` under a line naming the SAE (``doc["title"]``)."""
    cards = "".join(latent_card(d) for d in doc["latents"])
    return f'<p class="muted">{e(str(doc.get("title", "")))}</p><div class="latents">{cards}</div>'


def dashboard_page(doc: dict[str, Any]) -> str:
    """A self-contained HTML page of the dashboards."""
    title = e(str(doc.get("title") or "SAE feature dashboards"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>
body{{font-family:system-ui,sans-serif;margin:0;padding:1.5rem;background:#fbfaf7;color:#1c1917}}
.muted{{color:#6b6560}}{DASHBOARD_CSS}</style></head>
<body><h1>SAE feature dashboards</h1>{dashboards_html(doc)}</body></html>
"""


def write_dashboard(path: str | Path, doc: dict[str, Any]) -> Path:
    """Write ``dashboard_page(doc)`` to ``path`` atomically."""
    return atomic_write(path, dashboard_page(doc))


def save_dashboard_data(run_dir: str | Path, doc: dict[str, Any]) -> Path:
    """Keep the dashboards' data in the run folder, where the report finds it."""
    return atomic_write_json(Path(run_dir) / DASHBOARD_JSON, doc)


def dashboard_block(run_dir: Path) -> str:
    """The report's dashboard section from the run folder's data ("" when there is none)."""
    path = Path(run_dir) / DASHBOARD_JSON
    if not path.is_file():
        return ""
    try:
        return "<h3>SAE feature dashboards</h3>" + dashboards_html(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as err:  # a broken file must not take the report down
        return f'<div class="error"><strong>Dashboards unavailable.</strong> {e(str(err))}</div>'
