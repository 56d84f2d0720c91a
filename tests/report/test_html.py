"""The report page: self-contained, a section per claim in the seed's order, every string escaped."""

from __future__ import annotations

import ast
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

import circuitlab.report as report_package
from circuitlab.errors import DataError
from circuitlab.experiments.registry import CLAIMS
from circuitlab.report import build_html, fake_viewer_data, render_report, validate_viewer
from circuitlab.report.html import ordered_claims
from circuitlab.report.viewer import embed_json

REPORT_SRC = Path(report_package.__file__).parent


class Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.sections: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key):
                self.refs.append((tag, key, a[key]))
        if tag == "section" and a.get("id", "").startswith("claim-"):
            self.sections.append(a["id"].removeprefix("claim-"))
        self._in_script = tag == "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def parse(text: str) -> Collect:
    c = Collect()
    c.feed(text)
    return c


def test_the_page_needs_no_network(run_dir: Path) -> None:
    text = render_report(run_dir).read_text()
    page = parse(text)
    tutorial = re.compile(r"[\w./-]*docs/tutorials/(_build/)?0\d_\w+\.(py|html)")  # a file link, no network
    external = [r for r in page.refs if not r[2].startswith(("data:image/png;base64,", "#"))]
    external = [r for r in external if not (r[0] == "a" and tutorial.fullmatch(r[2]))]
    assert external == []
    assert not re.search(r"""url\(\s*['"]?(https?:)?//|@import|@font-face""", text)
    assert sum(tag == "img" for tag, _, _ in page.refs) == 2


def test_a_section_per_claim_in_the_seeds_order(run_dir: Path, results_doc: dict) -> None:
    doc = results_doc
    doc["claims"].reverse()
    page = parse(build_html(doc, run_dir))
    assert page.sections == ["perceptron", "mlp", "two_layer_induction"]
    registry_order = [c.id for c in CLAIMS]
    assert [c["id"] for c in ordered_claims(doc["claims"])] == sorted(
        [c["id"] for c in doc["claims"]], key=registry_order.index
    )


def test_each_section_quotes_the_seed_and_says_what_was_checked_in_its_own_words(run_dir: Path) -> None:
    text = render_report(run_dir).read_text()
    perceptron = text[text.index('id="claim-perceptron"') : text.index('id="claim-mlp"')]
    assert "The seed&#x27;s sentence about perceptron." in perceptron
    assert "<strong>Checked as:</strong> What perceptron tests, in one sentence." in perceptron


def test_a_record_without_a_checked_sentence_shows_no_checked_line(run_dir: Path, results_doc: dict) -> None:
    for claim in results_doc["claims"]:
        claim.pop("checked")
    assert "Checked as:" not in build_html(results_doc, run_dir)


def test_text_from_the_results_is_escaped(run_dir: Path, nasty: str) -> None:
    text = render_report(run_dir).read_text()
    assert nasty not in text and "<b>" not in text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;quotes&quot;" in text
    assert "RuntimeError: boom &lt;b&gt;" in text


def test_viewer_data_cannot_close_its_script_element(tmp_path: Path) -> None:
    data = fake_viewer_data(n_tokens=6)
    data["tokens"][2] = "</script><script>alert(1)</script>"
    embedded = embed_json(data)
    assert "</" not in embedded and json.loads(embedded) == data


def test_verdicts_measured_values_and_figures_appear(run_dir: Path) -> None:
    text = render_report(run_dir).read_text().replace("<wbr>", "")
    assert text.count('class="verdict pass"') == 4 and text.count('class="verdict fail"') == 2
    assert "max_induction_score = 0.91" in text and "0.8176" in text
    assert 'id="attn-viewer"' in text and "prev-token" in text


def test_a_missing_figure_is_a_visible_placeholder_not_a_broken_image(run_dir: Path) -> None:
    (run_dir / "figures" / "phase.png").unlink()
    text = render_report(run_dir).read_text()
    assert "figure figures/phase.png is missing" in text
    assert sum(tag == "img" for tag, _, _ in parse(text).refs) == 1


def test_a_broken_viewer_file_is_reported_on_the_page(run_dir: Path) -> None:
    (run_dir / "attention_viewer.json").write_text(
        '{"tokens": ["a"], "layers": 1, "heads": 1, "patterns": [1]}'
    )
    text = render_report(run_dir).read_text()
    assert "Attention viewer unavailable" in text and 'id="attn-viewer"' not in text


@pytest.mark.parametrize(
    "edit, problem",
    [
        (lambda d: d.update(patterns=[[[[1.0]]]]), "patterns must have shape"),
        (lambda d: d.update(tokens=[]), "tokens must be a non-empty list"),
        (lambda d: d.update(marks={"9.0": "induction"}), "no such head"),
        (lambda d: d.update(marks={"0.1": "copying"}), "the mark must be one of"),
        (lambda d: d.update(heads=0), "positive integers"),
    ],
    ids=["shape", "no-tokens", "mark-head", "mark-kind", "zero-heads"],
)
def test_validate_viewer_names_the_problem(edit, problem: str) -> None:
    data = fake_viewer_data(n_tokens=5, layers=2, heads=3)
    assert validate_viewer(data) == []
    edit(data)
    assert any(problem in p for p in validate_viewer(data)), validate_viewer(data)


def test_fake_viewer_rows_are_causal_distributions_with_the_marked_heads_doing_their_job() -> None:
    import numpy as np

    data = fake_viewer_data(n_tokens=30, layers=2, heads=4)
    p = np.asarray(data["patterns"])
    assert np.allclose(p.sum(-1), 1, atol=0.01) and np.allclose(np.triu(p, 1), 0)
    assert (p[0, 1, 1:].argmax(-1) == np.arange(29)).all()  # previous token
    assert data["marks"] == {"0.1": "previous_token", "1.2": "induction"}


def test_render_report_of_a_folder_without_results_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="results.json not found") as err:
        render_report(tmp_path)
    assert "\n" not in str(err.value)


def test_the_report_imports_no_models_or_training() -> None:
    forbidden = ("circuitlab.nets", "circuitlab.transformer", "circuitlab.training", "circuitlab.circuits",
                 "circuitlab.superposition", "circuitlab.hooks", "torch")  # fmt: skip
    for path in REPORT_SRC.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            names += [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not [n for n in names if n.startswith(forbidden)], f"{path.name} imports {names}"


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        ({"curriculum": False}, "plain text"),
        ({"curriculum": True}, "repeated random-token curriculum (--curriculum)"),
        ({"plain_text": True}, "plain text"),  # a run made before 2026-12-04 with --plain-text
        ({}, "repeated random-token curriculum (--curriculum)"),  # older runs used the curriculum
    ],
)
def test_the_header_names_the_induction_recipe(
    tmp_path: Path, results_doc: dict, recorded: dict, shown: str
) -> None:
    doc = {k: v for k, v in results_doc.items() if k not in ("curriculum", "plain_text")} | recorded
    assert f"<dt>Induction recipe</dt><dd>{shown}</dd>" in build_html(doc, tmp_path)
