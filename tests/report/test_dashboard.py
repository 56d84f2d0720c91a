"""SAE feature dashboards as HTML: a self-contained page tested in headless Chromium, and the
report's section for them."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

from circuitlab.report import render_report
from circuitlab.report.dashboard import DASHBOARD_JSON, dashboard_page, save_dashboard_data, write_dashboard
from circuitlab.superposition import SAEConfig, SparseAutoencoder
from circuitlab.superposition.sae import latent_dashboards
from circuitlab.transformer import Transformer, TransformerConfig

NASTY = "<script>alert('x')</script>"


def dashboard_doc() -> dict:
    torch.manual_seed(0)
    cfg = TransformerConfig(n_layers=2, d_model=8, n_heads=2, d_head=4, d_vocab=13, n_ctx=9, attn_only=True)
    model = Transformer(cfg).eval()
    sae = SparseAutoencoder(SAEConfig(d_in=8, expansion=2, hook_name="blocks.1.hook_resid_post"))
    tokens = torch.randint(0, 13, (5, 9), generator=torch.Generator().manual_seed(3))
    names = {0: NASTY}
    dashes = latent_dashboards(
        model, sae, tokens, n_latents=3, decode=lambda ids: names.get(ids[0], f"t{ids[0]}")
    )
    return {"title": f"SAE at blocks.1.hook_resid_post {NASTY}", "latents": [d.to_json() for d in dashes]}


def test_the_page_is_self_contained_and_escapes_every_string() -> None:
    page = dashboard_page(dashboard_doc())
    assert NASTY not in page and "&lt;script&gt;" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page
    assert page.count('class="latent"') == 3 and page.count("<svg") == 3


def test_the_report_shows_the_dashboards_in_the_sae_claims_section(run_dir: Path) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    results["claims"].append({**results["claims"][0], "id": "sae_transformer", "section": "Superposition"})
    (run_dir / "results.json").write_text(json.dumps(results))
    save_dashboard_data(run_dir, dashboard_doc())
    page = render_report(run_dir).read_text()
    section = page[page.index('id="claim-sae_transformer"') :]
    assert section.count('class="latent"') == 3 and ".latents{" in page
    (run_dir / DASHBOARD_JSON).write_text("{not json")
    assert "Dashboards unavailable" in render_report(run_dir).read_text()


@pytest.mark.browser
def test_the_page_renders_in_headless_chromium_with_tokens_shaded_by_activation(tmp_path: Path) -> None:
    chromium = next(
        (p for n in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(n))), None
    )
    chromedriver = shutil.which("chromedriver")
    if chromium is None or chromedriver is None:
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    page = write_dashboard(tmp_path / "dashboard.html", dashboard_doc())
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="circuitlab-chromium-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,1000", f"--user-data-dir={profile}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    try:
        driver.get(page.resolve().as_uri())
        cards = driver.find_elements("css selector", ".latent")
        assert len(cards) == 3
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        bars = driver.execute_script(
            "return Array.from(document.querySelectorAll('.hist rect')).map(r => r.getBBox().height);"
        )
        assert len(bars) == 60 and max(bars) > 0
        shade = "return Array.from(arguments[0].querySelectorAll('.tok')).map(t => [getComputedStyle(t).backgroundColor, t.title, t.classList.contains('peak')]);"
        first = driver.execute_script(shade, driver.find_element("css selector", ".ctx"))
        peak = next(row for row in first if row[2])
        assert float(peak[1]) == max(float(row[1]) for row in first)
        assert peak[0].startswith("rgba(234, 88, 12") or peak[0] == "rgb(234, 88, 12)"
        driver.save_screenshot(str(tmp_path / "dashboard.png"))
        assert (tmp_path / "dashboard.png").stat().st_size > 5_000
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
