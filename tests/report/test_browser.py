"""The report in a real browser: no console errors, every figure drawn, the viewer answers a hover.

Drives Debian's headless ``chromium`` through ``chromedriver`` with selenium; skips only when
either is not installed. Saves a screenshot beside the report (report.png).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from circuitlab.report import render_report

pytestmark = pytest.mark.browser

CHROMIUM = next(
    (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None
)
CHROMEDRIVER = shutil.which("chromedriver")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--window-size=1280,1000"]  # fmt: skip


@pytest.fixture(scope="module")
def driver() -> Iterator:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="circuitlab-chromium-")
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    drv.set_page_load_timeout(30)
    yield drv
    drv.quit()
    shutil.rmtree(profile, ignore_errors=True)


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
