"""The attention viewer as one self-contained fragment (for notebooks): its own CSS, data and script.

That the fragment is interactive in a browser is checked on the rendered tutorial
(tests/tutorials/test_viewer_in_html.py); here: what it contains, and what it refuses.
"""

from __future__ import annotations

import json
import re

import pytest

from circuitlab.errors import DataError
from circuitlab.report.viewer import VIEWER_JS, VIEWER_SETUP_JS, fake_viewer_data, viewer_fragment


def test_the_fragment_carries_its_css_data_and_script_and_loads_nothing() -> None:
    data = fake_viewer_data(n_tokens=12)
    page = viewer_fragment(data, "attn-nb")
    assert page.startswith("<style>") and page.endswith("</script>")
    assert "--accent:" in page and '<div class="av" id="attn-nb">' in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "the fragment must load nothing"
    embedded = re.search(r'id="attn-nb-data">(.*?)</script>', page, re.S)
    assert embedded and json.loads(embedded.group(1)) == data
    script = page.rsplit("<script>", 1)[1]
    assert script.startswith(VIEWER_SETUP_JS)
    assert "circuitlabViewer(document.currentScript.previousElementSibling)" in script


def test_the_setup_runs_once_per_viewer_so_two_fragments_on_a_page_do_not_clash() -> None:
    assert 'root.dataset.avReady = "1"' in VIEWER_SETUP_JS and "if (!root || root.dataset.avReady)" in (
        VIEWER_SETUP_JS
    )
    assert VIEWER_JS.startswith(VIEWER_SETUP_JS) and "forEach(circuitlabViewer)" in VIEWER_JS


def test_a_fragment_refuses_data_the_viewer_cannot_draw() -> None:
    data = fake_viewer_data(n_tokens=6)
    data["patterns"] = data["patterns"][:1]  # 1 layer of patterns for a 2-layer viewer
    with pytest.raises(DataError, match="patterns must have shape"):
        viewer_fragment(data)
