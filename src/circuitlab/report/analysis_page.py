"""The page ``circuitlab analyze`` writes: one self-contained HTML file from ``analysis.json``.

It takes the results of :func:`circuitlab.circuits.analysis.analyze` (never a model): the head
table, the composition graph (inline SVG), two attention viewers, the logit lens, direct logit
attribution and the induction-head ablation. CSS and JavaScript are inline, every string from
the results is escaped, and the page opens from disk with no network.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from circuitlab.files import atomic_write
from circuitlab.report.style import PAGE_CSS
from circuitlab.report.viewer import VIEWER_CSS, VIEWER_JS, viewer_html

e = html.escape
MODE_COLORS = {"Q": "#2563eb", "K": "#ea580c", "V": "#16a34a"}
KIND_LABELS = {
    "previous_token": "previous-token",
    "duplicate": "duplicate",
    "induction": "induction",
    "-": "",
}
EXTRA_CSS = """
.claim{border-left-color:var(--accent)}
td.cell{font-variant-numeric:tabular-nums;text-align:right}
.tag{font-size:.72rem;font-weight:650;border-radius:6px;padding:.05rem .4rem;color:#fff}
.tag-induction{background:#7c3aed}.tag-previous_token{background:#0d9488}.tag-duplicate{background:#b45309}
.bar{height:.8rem;border-radius:3px;display:inline-block;vertical-align:middle}
.pos{background:#2563eb}.neg{background:#dc2626}
.graph{display:block;max-width:100%;height:auto;margin:.6rem auto;background:var(--bg);border-radius:12px}
.toks code{margin-right:.35rem}
"""


def heat(value: float, hue: int = 262) -> str:
    """A background shade for a score in [0, 1] (negative values shade nothing)."""
    return f"background:hsla({hue},70%,55%,{max(0.0, min(1.0, value)) * 0.75:.3f})"


def head_table(heads: list[dict[str, Any]]) -> str:
    rows = []
    for r in heads:
        cls = r["class"]
        tag = f"<span class='tag tag-{e(cls)}'>{KIND_LABELS.get(cls, e(cls))}</span>" if cls != "-" else ""
        cells = "".join(
            f"<td class='cell' style='{heat(r[k])}'>{r[k]:.3f}</td>"
            for k in ("previous_token", "duplicate", "induction")
        )
        copy_style = heat(r["copying"], 140)
        rows.append(f"<tr><td class='mono'>{r['layer']}.{r['head']}</td>{cells}"
                    f"<td class='cell' style='{copy_style}'>{r['copying']:+.3f}</td><td>{tag}</td></tr>")  # fmt: skip
    head = "<th>Head</th><th>Previous-token</th><th>Duplicate</th><th>Induction</th><th>Copying</th><th>Class</th>"
    return f"<div class='table-wrap'><table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def composition_svg(model: dict[str, Any], comp: dict[str, Any]) -> str:
    """Heads as a layers x heads grid, the strongest composition pairs as coloured curves."""
    L, H = model["n_layers"], model["n_heads"]
    dx, dy, pad = 200 if L < 6 else 120, 30, 44
    width, height = pad * 2 + dx * max(L - 1, 1), pad * 2 + dy * max(H - 1, 1)
    pos = lambda l, h: (pad + dx * l, pad + dy * h)  # noqa: E731
    parts = []
    for edge in comp.get("edges", []):
        (x1, y1), (x2, y2) = pos(*edge["src"]), pos(*edge["dst"])
        w = min(8.0, 1 + 2.5 * max(0.0, edge["vs_baseline"] - 1))
        parts.append(f"<path d='M{x1},{y1} C{(x1 + x2) / 2},{y1} {(x1 + x2) / 2},{y2} {x2},{y2}' fill='none' "
                     f"stroke='{MODE_COLORS[edge['mode']]}' stroke-opacity='.75' stroke-width='{w:.2f}'>"
                     f"<title>{edge['mode']}-composition {edge['src']} -> {edge['dst']}: {edge['score']} "
                     f"({edge['vs_baseline']}x baseline)</title></path>")  # fmt: skip
    for l in range(L):
        x, _ = pos(l, 0)
        parts.append(
            f"<text x='{x}' y='{pad / 2}' text-anchor='middle' font-size='12' fill='currentColor'>L{l}</text>"
        )
        for h in range(H):
            cx, cy = pos(l, h)
            parts.append(
                f"<circle cx='{cx}' cy='{cy}' r='7' fill='var(--card)' stroke='currentColor'><title>{l}.{h}</title>"
                f"</circle><text x='{cx + 10}' y='{cy - 8}' font-size='10' fill='currentColor'>{l}.{h}</text>"
            )
    return (f"<svg class='graph' width='{width}' height='{height}' viewBox='0 0 {width} {height}' role='img' "
            f"aria-label='composition graph' style='color:var(--muted)'>{''.join(parts)}</svg>")  # fmt: skip


def composition_block(model: dict[str, Any], comp: dict[str, Any]) -> str:
    if not comp.get("edges"):
        return "<p class='muted'>Composition needs at least two layers.</p>"
    legend = " · ".join(
        f"<span style='color:{MODE_COLORS[m]};font-weight:650'>{m}</span> baseline {b:.3f}"
        for m, b in comp["baseline"].items()
    )
    rows = "".join(
        f"<tr><td>{x['mode']}</td><td class='mono'>{x['src'][0]}.{x['src'][1]} → {x['dst'][0]}.{x['dst'][1]}</td>"
        f"<td class='cell'>{x['score']:.3f}</td><td class='cell'>{x['vs_baseline']:.2f}×</td></tr>"
        for x in comp["edges"]
    )
    table = ("<table class='data'><thead><tr><th>Mode</th><th>Pair</th><th>Score</th><th>vs random</th></tr>"
             f"</thead><tbody>{rows}</tbody></table>")  # fmt: skip
    return f"<p>{legend}</p>{composition_svg(model, comp)}<div class='table-wrap'>{table}</div>"


def lens_block(lens: list[dict[str, Any]], prediction: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td class='mono'>{e(r['layer'])}</td><td><span class='bar pos' style='width:{120 * r['target_prob']:.1f}px'>"
        f"</span> {r['target_prob']:.3f}</td><td class='cell'>{r['target_rank']}</td><td class='toks'>"
        + "".join(f"<code>{e(json.dumps(t))}</code>" for t, _ in r["top"])
        + "</td></tr>"
        for r in lens
    )
    head = f"<th>Stream</th><th>P({e(json.dumps(prediction['token']))})</th><th>Rank</th><th>Top tokens</th>"
    return f"<div class='table-wrap'><table class='data'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"


def attribution_block(attrs: list[list[Any]]) -> str:
    scale = max([abs(v) for _, v in attrs] + [1e-9])
    rows = "".join(
        f"<tr><td class='mono'>{e(label)}</td><td><span class='bar {'pos' if v >= 0 else 'neg'}' "
        f"style='width:{160 * abs(v) / scale:.1f}px'></span></td><td class='cell'>{v:+.3f}</td></tr>"
        for label, v in attrs
    )
    return f"<div class='table-wrap'><table class='data'><thead><tr><th>Component</th><th></th><th>Logit</th></tr></thead><tbody>{rows}</tbody></table></div>"


def ablation_block(ab: dict[str, Any]) -> str:
    heads = ", ".join(
        f"{l}.{h} ({s:.2f})" for (l, h), s in zip(ab["heads"], ab["induction_scores"], strict=True)
    )
    return (f"<p>Zeroing the top induction heads {e(heads)} on BOS + R + R random tokens: the loss on the "
            f"repeated half goes from <b>{ab['clean_loss']:.3f}</b> to <b>{ab['ablated_loss']:.3f}</b> nats "
            f"(the first, unpredictable half: {ab['first_half_loss']:.3f}).</p>")  # fmt: skip


def section(title: str, body: str, lede: str = "") -> str:
    return f"<section class='claim'><h2>{e(title)}</h2>{f'<p class=muted>{lede}</p>' if lede else ''}{body}</section>"


def build_page(doc: dict[str, Any], name: str) -> str:
    m, pred = doc["model"], doc["prediction"]
    facts = "".join(
        f"<div><dt>{e(k)}</dt><dd>{e(str(v))}</dd></div>" for k, v in m.items() if v not in (None, False)
    )
    prompt = e(doc["prompt"]["text"])
    body = [
        section("Heads", head_table(doc["heads"]), "Attention on BOS + R + R random tokens; copying: "
                "sum(λ)/sum(|λ|) of the full OV circuit. A head is classified by its highest score ≥ 0.4."),
        section("Composition", composition_block(m, doc["composition"]), "The strongest pairs of K-, Q- and "
                "V-composition, against the mean score of random weights of the same shapes."),
        section("Attention on the prompt", viewer_html(doc["viewers"]["prompt"], "attn-prompt")),
        section("Attention on BOS + R + R", viewer_html(doc["viewers"]["repeated"], "attn-repeated")),
        section("Logit lens", lens_block(doc["logit_lens"], pred), "Each residual stream at the last position, "
                "read through ln_final and W_U."),
        section("Direct logit attribution", attribution_block(doc["attribution"])),
        section("Induction-head ablation", ablation_block(doc["ablation"])),
    ]  # fmt: skip
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><title>circuitlab · {e(name)}</title>
<style>{PAGE_CSS}{VIEWER_CSS}{EXTRA_CSS}</style></head>
<body><div class="page"><header class="hero"><p class="eyebrow">circuitlab analyze</p>
<h1>{e(name)}</h1><p class="lede">Prompt <code>{prompt}</code> → next token <code>{e(json.dumps(pred["token"]))}</code></p>
<dl class="facts">{facts}</dl></header><main>{"".join(body)}</main></div>
<script>{VIEWER_JS}</script></body></html>
"""


def render_analysis(doc: dict[str, Any], out: str | Path, name: str) -> Path:
    """Write ``build_page(doc)`` to ``out`` (atomically) and return its path."""
    return atomic_write(Path(out), build_page(doc, name).encode("utf-8"))


__all__ = ["build_page", "render_analysis"]
