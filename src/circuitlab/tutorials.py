"""Build the tutorials: jupytext ``.py`` -> executed ``.ipynb`` -> HTML with outputs, plus an index.

Each tutorial in ``docs/tutorials/`` is a jupytext percent-format file (the reviewed source). It is
read with jupytext, executed top to bottom in a fresh Jupyter kernel (nbclient) whose working
directory is the tutorial's folder, and rendered with nbconvert's ``lab`` template (figures inline as
base64 PNGs, so a page opens from disk; it loads nothing from the network, see :func:`to_html`).
Solution cells (tag ``solution``), source and outputs, are folded into a ``<details>`` element by a
few lines of inline JavaScript.
``CIRCUITLAB_TUTORIAL_FAST=1`` in the kernel's environment asks a notebook to shrink its training
(the tests); ``make tutorials`` runs without it::

    python -m circuitlab.tutorials [--fast] [--timeout S] [--out DIR] [SRC_DIR]

Needs the ``tutorials`` extra (``pip install circuitlab[tutorials]``).
"""

from __future__ import annotations

import argparse
import html
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from circuitlab.errors import CircuitlabError
from circuitlab.files import atomic_write

FAST_ENV = "CIRCUITLAB_TUTORIAL_FAST"
#: The source checkout's root: ``docs/tutorials/`` is under it (an installed wheel has no ``docs/``).
ROOT = Path(__file__).resolve().parents[2]
DESCRIPTION = 200  # characters of a tutorial's description on the index
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SOLUTION_JS = """document.querySelectorAll(".jp-CodeCell.celltag_solution").forEach(function (cell) {
  var box = document.createElement("details"), label = document.createElement("summary");
  label.textContent = "Solution (click to show)";
  box.appendChild(label);
  while (cell.firstChild) box.appendChild(cell.firstChild);
  cell.appendChild(box);
});"""
#: nbconvert's lab template less every block that loads a script from a CDN (require.js, MathJax,
#: Mermaid, Jupyter widgets), plus a style that shows display math as its TeX on its own lines.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block extra_css %}<style>code.tex{display:block;white-space:pre-wrap;margin:0.6em 0 0.6em 2em}</style>
{% endblock extra_css %}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
DISPLAY_MATH = re.compile(r"\$\$.+?\$\$", re.S)


class TutorialError(CircuitlabError):
    """A tutorial cell raised, timed out or killed its kernel; the message holds the cell's source."""


@dataclass(frozen=True)
class Page:
    """One rendered tutorial: its HTML file name, title and one-line description (for the index)."""

    file: str
    title: str
    description: str


def sources(folder: str | Path) -> list[Path]:
    """The tutorials in ``folder``: ``0*.py``, in file-name order."""
    return sorted(Path(folder).glob("0*.py"))


def load(source: str | Path) -> Any:
    """The notebook (an ``nbformat.NotebookNode``) that jupytext reads from a percent-format file."""
    import jupytext

    return jupytext.read(Path(source), fmt="py:percent")


def kernel_env(fast: bool, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the fast switch set (``fast``) or removed, then ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != FAST_ENV}
    if fast:
        env[FAST_ENV] = "1"
    return env | dict(extra or {})


def execute(nb: Any, cwd: str | Path, env: Mapping[str, str], timeout: float, name: str = "notebook") -> Any:
    """Run every code cell of ``nb`` in place in a fresh ``python3`` kernel started in ``cwd``.

    ``timeout`` (seconds) bounds the whole notebook, not each cell. Raises :class:`TutorialError`
    naming ``name``, the cell's index and source, and the error (traceback without colour codes).
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    deadline = time.monotonic() + timeout
    client = NotebookClient(
        nb, kernel_name="python3", timeout_func=lambda cell: max(1.0, deadline - time.monotonic())
    )
    with client.setup_kernel(env=dict(env), cwd=str(cwd)):
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            try:
                client.execute_cell(cell, index)
            except (CellExecutionError, CellTimeoutError, DeadKernelError) as err:
                raise TutorialError(failure(name, index, cell.source, err, timeout)) from err
    return nb


def failure(name: str, index: int, source: str, err: BaseException, timeout: float) -> str:
    """The failure message: which cell, its source, and the error or traceback."""
    what = getattr(err, "traceback", None) or f"{type(err).__name__}: {err}"
    if type(err).__name__ == "CellTimeoutError":
        what = f"the notebook ran past its {timeout:.0f} s budget in this cell ({err})"
    return (
        f"{name}: code cell {index} failed; fix the cell below or the library call it makes\n"
        f"----- cell source -----\n{source}\n----- error -----\n{ANSI.sub('', str(what))}"
    )


def page_info(nb: Any, file: str) -> Page:
    """Title (the first ``# `` heading) and first sentence of the notebook's opening markdown cell."""
    text = next((c.source for c in nb.cells if c.cell_type == "markdown"), "")
    lines = [line.strip() for line in text.splitlines()]
    title = next((line[2:].strip() for line in lines if line.startswith("# ")), file)
    prose = " ".join(line for line in lines if line and not line.startswith("#"))
    sentence = re.sub(r"[*`_]", "", re.split(r"(?<=[.!?])\s", prose, maxsplit=1)[0])
    if len(sentence) > DESCRIPTION:
        sentence = sentence[:DESCRIPTION].rsplit(" ", 1)[0] + " …"
    return Page(file, title, sentence)


def to_html(nb: Any, title: str) -> str:
    """The executed notebook as one HTML page (lab template), solution cells folded.

    The page loads nothing from the network: :data:`OFFLINE_TEMPLATE` drops the lab template's
    require.js (no tutorial output needs it), MathJax, Mermaid and widget scripts from cdnjs/unpkg.
    Math is not typeset: markdown cells keep their TeX as text (``$W^T x$``), and display math
    (``$$...$$``) sits in a ``<code class="tex">`` block that keeps its line breaks. Chosen over a
    local MathJax, because the pip package that ships one (jupyter-server-mathjax 0.2.6: MathJax 2.7,
    9.6 MB in 608 files to copy beside the pages) pulls in jupyter-server; and over latex2mathml
    (MathML, no script), because it writes ``aligned``'s ``&`` as text (tutorial 02's LSTM equations).
    """
    from jinja2 import DictLoader, pass_context
    from nbconvert import HTMLExporter

    class OfflineHTML(HTMLExporter):
        @pass_context
        def markdown2html(self, context: Any, source: str) -> str:
            return DISPLAY_MATH.sub(r'<code class="tex">\g<0></code>', super().markdown2html(context, source))

    exporter = OfflineHTML(
        template_name="lab",
        extra_loaders=[DictLoader({"offline.html.j2": OFFLINE_TEMPLATE})],
        template_file="offline.html.j2",
    )
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    head, sep, tail = body.rpartition("</body>")
    return (
        f"{head}<script>{SOLUTION_JS}</script>{sep}{tail}"
        if sep
        else body + f"<script>{SOLUTION_JS}</script>"
    )


def render(
    source: str | Path, out_dir: str | Path, env: Mapping[str, str], timeout: float, ipynb: Path | None = None
) -> tuple[Path, Page]:
    """Execute one tutorial and write ``out_dir/<stem>.html`` (and the executed ``ipynb`` if given)."""
    import nbformat

    source = Path(source)
    nb = execute(load(source), source.parent, env, timeout, source.name)
    if ipynb is not None:
        atomic_write(ipynb, nbformat.writes(nb))
    page = page_info(nb, f"{source.stem}.html")
    return atomic_write(Path(out_dir) / page.file, to_html(nb, page.title)), page


def index_html(pages: Sequence[Page]) -> str:
    """The index: one link per tutorial (relative, so it works from disk) with its description."""
    e = html.escape
    items = "\n".join(
        f'<li><a href="{e(p.file)}">{e(p.title)}</a><br><span>{e(p.description)}</span></li>' for p in pages
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>circuitlab tutorials</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
li{{margin:0.8rem 0}} span{{color:#555}}</style></head>
<body><h1>circuitlab tutorials</h1>
<p>Notebooks that walk the seed document, from the perceptron to induction heads and superposition,
executed with their outputs. Sources: <code>docs/tutorials/*.py</code>; rebuild with <code>make tutorials</code>.</p>
<ol>
{items}
</ol></body></html>
"""


def build(folder: str | Path, out_dir: str | Path, fast: bool = False, timeout: float = 3600.0) -> Path:
    """Build every tutorial in ``folder``: executed ``.ipynb`` beside it, HTML and ``index.html`` in ``out_dir``."""
    pages = []
    for source in sources(folder):
        print(f"tutorials: running {source.name}{' (fast)' if fast else ''}", flush=True)
        _, page = render(source, out_dir, kernel_env(fast), timeout, source.with_suffix(".ipynb"))
        pages.append(page)
    return atomic_write(Path(out_dir) / "index.html", index_html(pages))


def href(tutorial: str, page_dir: str | Path) -> str | None:
    """A link from a page in ``page_dir`` to ``tutorial`` (``"docs/tutorials/01_perceptron_mlp.py"``):
    its rendered page when ``make tutorials`` wrote one, else its source; None when neither exists."""
    source = ROOT / tutorial
    rendered = source.parent / "_build" / f"{source.stem}.html"
    target = rendered if rendered.is_file() else source
    if not target.is_file():
        return None
    try:
        return Path(os.path.relpath(target, Path(page_dir).resolve())).as_posix()
    except ValueError:  # on another drive (Windows) there is no relative path
        return target.as_uri()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m circuitlab.tutorials", description=__doc__.split("\n")[0]
    )
    parser.add_argument("folder", nargs="?", default="docs/tutorials", help="where the 0*.py tutorials are")
    parser.add_argument("--out", default=None, help="HTML folder (default FOLDER/_build)")
    parser.add_argument("--fast", action="store_true", help=f"set {FAST_ENV}=1 (shrunk training)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per notebook")
    args = parser.parse_args(argv)
    index = build(args.folder, args.out or Path(args.folder, "_build"), args.fast, args.timeout)
    print(f"tutorials: wrote {index}")


if __name__ == "__main__":
    main()
