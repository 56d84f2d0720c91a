"""The interactive attention viewer: pick a head, hover a token, see where it attends.

The 2-layer experiment writes ``attention_viewer.json`` into the run folder::

    {"tokens": [str, ...],                       # the sample text, one string per token
     "layers": L, "heads": H,
     "patterns": [[[[float]]]],                  # [layer][head][query][key], rows sum to 1, causal
     "marks": {"1.4": "induction", "0.2": "previous_token"}}

The page embeds that JSON in a ``<script type="application/json">`` and draws it with the
plain JavaScript below: no library, no network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from circuitlab.errors import DataError

VIEWER_NAME = "attention_viewer.json"
MARKS = ("induction", "previous_token")


def validate_viewer(data: Any) -> list[str]:
    """Every way ``data`` departs from the viewer schema (empty when it is valid)."""
    if not isinstance(data, dict):
        return ["the viewer data must be an object"]
    missing = [k for k in ("tokens", "layers", "heads", "patterns") if k not in data]
    if missing:
        return [f"missing key {k!r}" for k in missing]
    tokens, n_layers, n_heads = data["tokens"], data["layers"], data["heads"]
    if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
        return ["tokens must be a non-empty list of strings"]
    if not (isinstance(n_layers, int) and isinstance(n_heads, int) and n_layers > 0 and n_heads > 0):
        return [f"layers and heads must be positive integers, got {n_layers!r} and {n_heads!r}"]
    try:
        patterns = np.asarray(data["patterns"], dtype=np.float64)
    except (ValueError, TypeError):
        return ["patterns must be a rectangular [layer][head][query][key] array of numbers"]
    expected = (n_layers, n_heads, len(tokens), len(tokens))
    if patterns.shape != expected:
        return [f"patterns must have shape {expected} (layers, heads, tokens, tokens), got {patterns.shape}"]
    if not np.isfinite(patterns).all() or (patterns < 0).any():
        return ["patterns must be finite and non-negative"]
    marks = data.get("marks", {})
    if not isinstance(marks, dict):
        return ["marks must be an object like {'1.4': 'induction'}"]
    return [
        f"mark {key!r}: {why}" for key, value in marks.items() if (why := _mark_problem(key, value, data))
    ]


def _mark_problem(key: str, value: Any, data: dict[str, Any]) -> str:
    parts = key.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return "keys are 'layer.head', like '1.4'"
    if int(parts[0]) >= data["layers"] or int(parts[1]) >= data["heads"]:
        return f"no such head in a model of {data['layers']} layers x {data['heads']} heads"
    return "" if value in MARKS else f"the mark must be one of {', '.join(MARKS)}, got {value!r}"


def load_viewer(run_dir: str | Path) -> dict[str, Any] | None:
    """The viewer data of a run folder; None when it has none; DataError when it is broken."""
    path = Path(run_dir) / VIEWER_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"{path} is not valid JSON ({err}); rerun the two_layer_induction claim") from err
    problems = validate_viewer(data)
    if problems:
        raise DataError(f"{path}: {problems[0]}")
    return data


def fake_viewer_data(n_tokens: int = 40, layers: int = 2, heads: int = 4, seed: int = 0) -> dict[str, Any]:
    """Viewer data with the shapes of the real thing, for tests and demos (no model involved).

    The text is a short code snippet repeated. Head 0.1 attends to the previous token; head 1.2
    to the token after the previous occurrence of the current one (induction); the other
    heads attend at random. Rows are causal and sum to one, rounded to 3 decimals.
    """
    words = ["def", " add", "(", "a", ",", " b", "):", "\n", "   ", " return", " a", " +", " b", "\n"]
    tokens = [words[i % len(words)] for i in range(n_tokens)]
    rng = np.random.default_rng(seed)
    causal = np.tril(np.ones((n_tokens, n_tokens)))
    patterns = rng.random((layers, heads, n_tokens, n_tokens)) ** 4 * causal
    for q in range(n_tokens):
        patterns[0, 1 % heads, q] = _one_hot(n_tokens, max(q - 1, 0))
        earlier = [k for k in range(q) if tokens[k] == tokens[q]]
        target = earlier[-1] + 1 if earlier and earlier[-1] + 1 <= q else 0
        patterns[min(1, layers - 1), 2 % heads, q] = _one_hot(n_tokens, target)
    patterns = patterns * causal
    patterns = patterns / patterns.sum(-1, keepdims=True)
    marks = {f"0.{1 % heads}": "previous_token", f"{min(1, layers - 1)}.{2 % heads}": "induction"}
    return {"tokens": tokens, "layers": layers, "heads": heads,
            "patterns": np.round(patterns, 3).tolist(), "marks": marks}  # fmt: skip


def _one_hot(n: int, i: int) -> np.ndarray:
    row = np.full(n, 0.002)
    row[i] = 1.0
    return row


def embed_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def viewer_html(data: dict[str, Any], dom_id: str = "attn-viewer") -> str:
    """The viewer's markup with its data; the page adds VIEWER_CSS and VIEWER_JS once (for any
    number of viewers, each with its own ``dom_id``)."""
    return f"""
<div class="av" id="{dom_id}">
  <div class="av-bar"><span class="av-label">Head</span><div class="av-heads" role="radiogroup"></div></div>
  <div class="av-body">
    <div class="av-text" aria-label="sample text; hover a token"></div>
    <div class="av-side"><canvas class="av-map" width="240" height="240"
      aria-label="attention pattern of the chosen head, query rows by key columns"></canvas>
      <p class="av-info">Hover a token (or a row of the map) to see where the head attends from it.
      Click to pin.</p></div>
  </div>
  <script type="application/json" class="av-data" id="{dom_id}-data">{embed_json(data)}</script>
</div>"""


VIEWER_CSS = """
.av{border:1px solid var(--line);border-radius:14px;padding:1rem 1.1rem;background:var(--card);margin:1.2rem 0}
.av-bar{display:flex;gap:.6rem;align-items:flex-start;margin-bottom:.8rem}
.av-label{font-weight:600;font-size:.8rem;text-transform:uppercase;letter-spacing:.06em;color:var(--muted);
  padding-top:.35rem}
.av-heads{display:flex;flex-wrap:wrap;gap:.35rem}
.av-heads button{font:inherit;font-size:.82rem;font-family:var(--mono);border:1px solid var(--line);
  background:var(--bg);color:var(--fg);border-radius:8px;padding:.2rem .5rem;cursor:pointer}
.av-heads button[aria-checked=true]{background:var(--accent);border-color:var(--accent);color:#fff}
.av-heads .mk{font-family:var(--sans);font-size:.68rem;margin-left:.3rem;padding:0 .3rem;border-radius:5px}
.mk-induction{background:#7c3aed;color:#fff}.mk-previous_token{background:#0d9488;color:#fff}
.av-body{display:grid;grid-template-columns:minmax(0,1fr) 250px;gap:1.2rem}
@media (max-width:760px){.av-body{grid-template-columns:1fr}}
.av-text{font-family:var(--mono);font-size:.86rem;line-height:1.9;white-space:pre-wrap;word-break:break-all;
  max-height:26rem;overflow:auto;padding:.6rem .7rem;border-radius:10px;background:var(--bg)}
.av-text span{border-radius:3px;cursor:default;transition:background-color .08s;
  box-shadow:inset 0 -1px 0 var(--line)}
.av-text span.q{outline:2px solid var(--accent);outline-offset:1px}
.av-text span.nl{color:var(--muted)}
.av-map{width:240px;height:240px;border-radius:8px;background:var(--bg);image-rendering:pixelated;cursor:crosshair}
.av-info{font-size:.85rem;color:var(--muted);margin:.5rem 0 0}
.av-info code{color:var(--fg)}
"""

VIEWER_SETUP_JS = r"""
function circuitlabViewer(root) {
  if (!root || root.dataset.avReady) return;
  root.dataset.avReady = "1";
  var data = JSON.parse(root.querySelector("script.av-data").textContent);
  var headsEl = root.querySelector(".av-heads"), textEl = root.querySelector(".av-text");
  var info = root.querySelector(".av-info"), canvas = root.querySelector(".av-map");
  var marks = data.marks || {}, n = data.tokens.length, spans = [], buttons = [];
  var cur = null, query = null, pinned = null, hint = info.textContent;
  function shown(t) {
    return t.replace(/\n/g, "\u21b5\n").replace(/\t/g, "\u2192") || "\u2205";
  }
  function label(t) { return JSON.stringify(t); }
  data.tokens.forEach(function (t, i) {
    var s = document.createElement("span");
    s.textContent = shown(t);
    s.dataset.i = i;
    if (t.indexOf("\n") >= 0) s.className = "nl";
    s.addEventListener("mouseenter", function () { if (pinned === null) show(i); });
    s.addEventListener("click", function () { pinned = pinned === i ? null : i; show(i); });
    textEl.appendChild(s);
    spans.push(s);
  });
  textEl.addEventListener("mouseleave", function () { if (pinned === null) show(null); });
  for (var l = 0; l < data.layers; l++) {
    for (var h = 0; h < data.heads; h++) {
      var b = document.createElement("button"), key = l + "." + h;
      b.type = "button";
      b.setAttribute("role", "radio");
      b.dataset.head = key;
      b.textContent = key;
      if (marks[key]) {
        var m = document.createElement("span");
        m.className = "mk mk-" + marks[key];
        m.textContent = marks[key] === "induction" ? "induction" : "prev-token";
        b.appendChild(m);
      }
      b.addEventListener("click", (function (ll, hh) { return function () { pick(ll, hh); }; })(l, h));
      headsEl.appendChild(b);
      buttons.push(b);
    }
  }
  function pick(l, h) {
    cur = { l: l, h: h };
    buttons.forEach(function (b) { b.setAttribute("aria-checked", b.dataset.head === l + "." + h); });
    draw();
    show(query);
  }
  function row(q) { return data.patterns[cur.l][cur.h][q]; }
  function show(q) {
    query = q;
    spans.forEach(function (s) { s.classList.remove("q"); s.style.backgroundColor = ""; });
    if (q === null) { info.textContent = hint; draw(); return; }
    var r = row(q), top = 0, best = 0;
    for (var k = 0; k <= q; k++) { if (r[k] > top) { top = r[k]; best = k; } }
    spans.forEach(function (s, k) {
      if (k <= q && r[k] > 0) s.style.backgroundColor = "hsla(24, 95%, 53%, " + (0.9 * r[k] / top).toFixed(3) + ")";
    });
    spans[q].classList.add("q");
    var key = cur.l + "." + cur.h, mk = marks[key] ? " (" + marks[key].replace("_", "-") + ")" : "";
    info.innerHTML = "";
    info.append("Head " + key + mk + ": from token " + q + " ");
    var a = document.createElement("code"); a.textContent = label(data.tokens[q]); info.append(a);
    info.append(" it attends most to token " + best + " ");
    var c = document.createElement("code"); c.textContent = label(data.tokens[best]); info.append(c);
    info.append(" (" + top.toFixed(2) + ").");
    draw();
  }
  function draw() {
    var dpr = window.devicePixelRatio || 1, size = 240;
    canvas.width = size * dpr; canvas.height = size * dpr;
    var g = canvas.getContext("2d"), cell = size * dpr / n;
    g.clearRect(0, 0, canvas.width, canvas.height);
    for (var q = 0; q < n; q++) {
      var r = row(q);
      for (var k = 0; k <= q; k++) {
        g.fillStyle = "hsla(24, 95%, 53%, " + Math.min(1, r[k] * 1.4).toFixed(3) + ")";
        g.fillRect(k * cell, q * cell, Math.ceil(cell), Math.ceil(cell));
      }
    }
    if (query !== null) {
      g.strokeStyle = "#2563eb"; g.lineWidth = Math.max(1, dpr);
      g.strokeRect(0, query * cell, size * dpr, cell);
    }
  }
  canvas.addEventListener("mousemove", function (e) {
    if (pinned !== null) return;
    var rect = canvas.getBoundingClientRect();
    var q = Math.floor((e.clientY - rect.top) / rect.height * n);
    if (q >= 0 && q < n && q !== query) show(q);
  });
  var first = Object.keys(marks).filter(function (k) { return marks[k] === "induction"; })[0] || "0.0";
  pick(+first.split(".")[0], +first.split(".")[1]);
}
"""
"""``circuitlabViewer(root)``: draws the viewer whose ``.av`` element is ``root`` (once; a second call
does nothing)."""

VIEWER_JS = VIEWER_SETUP_JS + 'document.querySelectorAll(".av").forEach(circuitlabViewer);\n'
"""A page's script: sets up every viewer on the page (add it once, after the viewers)."""

FRAGMENT_VARS = """.av{--bg:#fbfaf7;--card:#ffffff;--fg:#1c1917;--muted:#6b6560;--line:#e7e2da;--accent:#2563eb;
  --sans:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;
  --mono:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace;
  color:var(--fg);font-family:var(--sans)}
"""


def viewer_fragment(data: dict[str, Any], dom_id: str = "attn-viewer") -> str:
    """The viewer as one self-contained HTML fragment: its CSS (colours scoped to the viewer), markup,
    data and script, no library and no network. For a notebook cell
    (``IPython.display.HTML(viewer_fragment(data))``) or any page without the report's stylesheet.

    The script finds its viewer from the script element itself, so it also runs where the output is
    drawn before it is attached to the page (JupyterLab); ``data`` follows the schema above.
    """
    problems = validate_viewer(data)
    if problems:
        raise DataError(f"viewer data: {problems[0]}")
    setup = "circuitlabViewer(document.currentScript.previousElementSibling);"
    return (
        f"<style>{FRAGMENT_VARS}{VIEWER_CSS}</style>{viewer_html(data, dom_id).strip()}"
        f"<script>{VIEWER_SETUP_JS}{setup}</script>"
    )
