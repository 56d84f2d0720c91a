"""The report links each claim to the tutorial that walks it (the registry's ``tutorial``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import circuitlab.tutorials as tutorials
from circuitlab.experiments.registry import CLAIMS, get
from circuitlab.report import render_report


def test_every_registered_tutorial_is_a_notebook_in_docs_tutorials() -> None:
    linked = {c.tutorial for c in CLAIMS if c.tutorial}
    assert {"docs/tutorials/01_perceptron_mlp.py", "docs/tutorials/02_rnn_lstm.py"} <= linked
    for path in linked:
        assert re.fullmatch(r"docs/tutorials/0\d_\w+\.py", path), path
        assert (tutorials.ROOT / path).is_file(), f"{path} is in the registry but not in the checkout"


def test_a_claim_section_links_its_tutorial_from_where_the_report_is(run_dir: Path, tmp_path: Path) -> None:
    page = render_report(run_dir, out=tmp_path / "elsewhere" / "report.html")
    sections = dict(
        re.findall(r'<section class="claim \w+" id="claim-(\w+)">(.*?)</section>', page.read_text(), re.S)
    )
    (href,) = re.findall(r'<p class="tutorial">.*?href="([^"]+)"', sections["perceptron"])
    source = (tutorials.ROOT / get("perceptron").tutorial).resolve()
    rendered = source.parent / "_build" / f"{source.stem}.html"  # there once `make tutorials` ran here
    assert (page.parent / href).resolve() == (rendered if rendered.is_file() else source)
    (href,) = re.findall(r'<p class="tutorial">.*?href="([^"]+)"', sections["two_layer_induction"])
    assert Path(href).stem == "06_reverse_engineering"  # the .py, or its page once rendered


def test_the_link_prefers_the_rendered_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tutorials, "ROOT", tmp_path)
    source = tmp_path / "docs" / "tutorials" / "01_x.py"
    assert tutorials.href("docs/tutorials/01_x.py", tmp_path) is None
    source.parent.mkdir(parents=True)
    source.write_text("# %%\n")
    assert tutorials.href("docs/tutorials/01_x.py", tmp_path / "runs" / "a") == "../../docs/tutorials/01_x.py"
    (source.parent / "_build").mkdir()
    (source.parent / "_build" / "01_x.html").write_text("<html></html>")
    assert tutorials.href("docs/tutorials/01_x.py", tmp_path) == "docs/tutorials/_build/01_x.html"
