"""circuitlab.tutorials on tiny notebooks: execution, the failing cell's message, the HTML and index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("jupytext")
pytest.importorskip("nbconvert")

import jupytext  # noqa: E402

from circuitlab.tutorials import (  # noqa: E402
    DESCRIPTION,
    FAST_ENV,
    TutorialError,
    build,
    execute,
    kernel_env,
    load,
    page_info,
    to_html,
)

HEADER = """# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Tiny tutorial
# It prints **one** number. Then it stops.

"""
GOOD = (
    HEADER
    + """# %%
import os
print("fast" if os.environ.get("CIRCUITLAB_TUTORIAL_FAST") == "1" else "full", 6 * 7)

# %% tags=["solution"] jupyter={"source_hidden": true}
assert 6 * 7 == 42
"""
)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def test_build_writes_executed_notebook_html_and_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAST_ENV, "1")  # build(fast=False) must drop an exported switch
    src = write(tmp_path / "t", "01_tiny.py", GOOD)
    index = build(src.parent, tmp_path / "out", fast=False, timeout=120)
    assert "full 42" in src.with_suffix(".ipynb").read_text()
    page = (tmp_path / "out" / "01_tiny.html").read_text()
    assert "full 42" in page and "celltag_solution" in page and "Solution (click to show)" in page
    listing = index.read_text()
    assert 'href="01_tiny.html"' in listing and "Tiny tutorial" in listing
    assert "It prints one number." in listing and "Then it stops" not in listing


def test_a_failing_cell_is_named_with_its_source(tmp_path: Path) -> None:
    src = write(tmp_path, "02_bad.py", HEADER + "# %%\nx = 1\n\n# %%\nassert x == 2, 'x is not two'\n")
    with pytest.raises(TutorialError) as err:
        execute(load(src), tmp_path, kernel_env(fast=True), 120, src.name)
    message = str(err.value)
    assert "02_bad.py: code cell 2 failed" in message and "assert x == 2, 'x is not two'" in message
    assert "AssertionError" in message and "\x1b[" not in message


def test_the_budget_bounds_the_whole_notebook(tmp_path: Path) -> None:
    cells = "".join("# %%\nimport time\ntime.sleep(1.5)\n\n" for _ in range(4))
    src = write(tmp_path, "03_slow.py", HEADER + cells)
    with pytest.raises(TutorialError, match="ran past its 4 s budget"):
        execute(load(src), tmp_path, kernel_env(fast=True), 4, src.name)


def test_a_long_first_sentence_is_cut_on_a_word_for_the_index() -> None:
    nb = jupytext.reads(HEADER.replace("It prints **one** number.", "word " * 80 + "end."), fmt="py:percent")
    page = page_info(nb, "01_tiny.html")
    assert page.title == "Tiny tutorial" and page.description.endswith("word …")
    assert len(page.description) <= DESCRIPTION + 2


MATH = r"""# %% [markdown]
# Inline $w^T x$ and
# $$
# \begin{aligned}
# a &= b\\
# c &= d
# \end{aligned}
# $$
"""
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//[^"'\s>]*|import\(\s*["']https?://[^"']*""")


def test_the_page_loads_nothing_from_the_network_and_keeps_its_tex() -> None:
    page = to_html(jupytext.reads(HEADER + MATH + "# %%\nprint(1)\n", fmt="py:percent"), "Tiny tutorial")
    assert REMOTE.findall(page) == [], "the page loads a script or stylesheet from the network"
    assert not re.search(r"cdnjs|unpkg|jsdelivr|require\.min\.js|MathJax\.js", page)
    assert "Inline $w^T x$ and" in page  # inline TeX stays as text
    display = r"\begin{aligned}" + "\na &amp;= b\\\\\nc &amp;= d\n" + r"\end{aligned}"
    assert f'<code class="tex">$$\n{display}\n$$</code>' in page  # display TeX keeps its lines
