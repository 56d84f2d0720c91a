"""The attention viewer of tutorial 06 works in the rendered page: hover a token, pick a head.

Renders docs/tutorials/06_reverse_engineering.py to HTML with its outputs (the session's one
execution under the fast switch, shared with test_notebooks.py's 06 case, hence the xdist group) and
drives it in Debian's headless ``chromium`` through ``chromedriver`` with selenium, like
tests/report/test_browser.py; skips when either is not installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from conftest import TUTORIAL06
from headless_chromium import chromium_driver

#: Slow: it executes all of tutorial 06 (shared with test_notebooks.py's 06 case when both run).
pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.xdist_group(TUTORIAL06)]

VIEWER = "#attn-viewer-06"


@pytest.fixture
def driver() -> Iterator:
    yield from chromium_driver(60)


def viewer_data(html: str) -> dict:
    """The JSON the notebook embedded in the viewer (nbconvert may reorder a tag's attributes)."""
    found = re.search(r'<script[^>]*\bid="attn-viewer-06-data"[^>]*>(.*?)</script>', html, re.S)
    assert found, "the rendered page holds no attention viewer (id attn-viewer-06)"
    return json.loads(found.group(1))


def test_the_viewer_in_the_rendered_notebook_answers_a_hover_and_a_head_click(
    driver, render_tutorial
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    page = render_tutorial("06_reverse_engineering.py")
    html = page.read_text(encoding="utf-8")
    data = viewer_data(html)
    fragment = html[html.index('<div class="av" id="attn-viewer-06">') :]
    fragment = fragment[: fragment.index("</script>", fragment.index("circuitlabViewer(document"))]
    assert "http" not in fragment, "the viewer must not load anything"
    driver.get(page.resolve().as_uri())
    tokens = driver.find_elements("css selector", f"{VIEWER} .av-text span")
    buttons = driver.find_elements("css selector", f"{VIEWER} .av-heads button")
    assert len(tokens) == len(data["tokens"]) and len(buttons) == data["layers"] * data["heads"]
    induction = next(k for k, v in data["marks"].items() if v == "induction")
    start = driver.find_element("css selector", f"{VIEWER} button[data-head='{induction}']")
    assert start.get_attribute("aria-checked") == "true", "the viewer opens on an induction head"

    colours = lambda: [t.value_of_css_property("background-color") for t in tokens]  # noqa: E731
    before, q = colours(), len(tokens) - 5
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", tokens[q])
    ActionChains(driver).move_to_element(tokens[q]).perform()
    hovered = colours()
    assert hovered != before and "q" in tokens[q].get_attribute("class").split()
    assert all(c == before[k] for k, c in enumerate(hovered) if k > q), "a query attends only backwards"
    info = driver.find_element("css selector", f"{VIEWER} .av-info").text
    assert info.startswith(f"Head {induction} (induction): from token {q}")

    tokens[q].click()  # pin the query, then pick the previous-token head
    previous = next(k for k, v in data["marks"].items() if v == "previous_token")
    button = driver.find_element("css selector", f"{VIEWER} button[data-head='{previous}']")
    ActionChains(driver).move_to_element(button).click().perform()
    assert button.get_attribute("aria-checked") == "true" and start.get_attribute("aria-checked") == "false"
    assert colours() != hovered
    assert (
        f"Head {previous} (previous-token)" in driver.find_element("css selector", f"{VIEWER} .av-info").text
    )
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not [m for m in errors if "circuitlabViewer" in m or "attn-viewer" in m], errors
