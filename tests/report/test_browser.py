"""The report in a real browser: no console errors, every figure drawn, the viewer answers a hover.

Drives Debian's headless ``chromium`` through ``chromedriver`` with selenium; skips only when
either is not installed. Saves a screenshot beside the report (report.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from headless_chromium import chromium_driver

from circuitlab.report import render_report

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def driver() -> Iterator:
    yield from chromium_driver(30)


@pytest.fixture
def page(driver, run_dir: Path):
    report = render_report(run_dir)
    driver.get(report.resolve().as_uri())
    driver.get_log("browser")  # drop anything from before this page
    return driver, report


def test_the_report_opens_without_console_errors_and_draws_every_figure(page) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    driver, report = page
    all_complete = "return Array.from(document.images).every(i => i.complete);"
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(all_complete))
    images = driver.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);"
    )
    assert len(images) == 2
    assert all(complete and width > 0 for complete, width, _ in images), images
    severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    assert severe == []
    assert driver.find_element("css selector", ".score .big").text.startswith("2")
    driver.set_window_size(1280, min(driver.execute_script("return document.body.scrollHeight"), 8000))
    shot = report.with_name("report.png")
    driver.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_hovering_a_token_colours_where_the_head_attends(page) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    driver, _ = page
    tokens = driver.find_elements("css selector", "#attn-viewer .av-text span")
    assert len(tokens) == 56
    colours = lambda: [t.value_of_css_property("background-color") for t in tokens]  # noqa: E731
    before = colours()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", tokens[30])
    ActionChains(driver).move_to_element(tokens[30]).perform()
    after = colours()
    assert after != before
    assert "q" in tokens[30].get_attribute("class").split()
    assert all(c == before[k] for k, c in enumerate(after) if k > 30), "a query attends only backwards"
    info = driver.find_element("css selector", "#attn-viewer .av-info").text
    assert info.startswith("Head 1.2 (induction): from token 30")
    assert driver.get_log("browser") == []


def test_picking_another_head_changes_the_colouring(page) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    driver, _ = page
    tokens = driver.find_elements("css selector", "#attn-viewer .av-text span")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", tokens[30])
    tokens[30].click()  # pin the query so moving to the head buttons keeps it
    induction = [t.value_of_css_property("background-color") for t in tokens]
    button = driver.find_element("css selector", "#attn-viewer button[data-head='0.1']")
    ActionChains(driver).move_to_element(button).click().perform()
    assert button.get_attribute("aria-checked") == "true"
    previous = [t.value_of_css_property("background-color") for t in tokens]
    assert previous != induction
    assert "Head 0.1 (previous-token)" in driver.find_element("css selector", ".av-info").text
