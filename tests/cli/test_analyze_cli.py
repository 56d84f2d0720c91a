"""`circuitlab analyze MODEL`: the survey and its self-contained page, for every kind of MODEL."""

from __future__ import annotations

import json
import shutil
import tempfile

import pytest
import torch

import circuitlab as cl
from circuitlab.circuits.analysis import CLASS_AT, analyze
from circuitlab.cli.main import main

pytestmark = pytest.mark.filterwarnings("ignore")
SECTIONS = ("Heads", "Composition", "Attention on the prompt", "Attention on BOS + R + R", "Logit lens",
            "Direct logit attribution", "Induction-head ablation")  # fmt: skip


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    pytest.importorskip("transformers")
    from tests.pretrained.hf_models import build, write_tokenizer

    folder = tmp_path_factory.mktemp("gpt2")
    build("gpt2-3heads-tied", folder)
    write_tokenizer(folder)
    return folder


def tiny_transformer() -> cl.Transformer:
    cfg = cl.TransformerConfig(n_layers=2, d_model=16, n_heads=2, d_head=8, d_vocab=40, n_ctx=32, seed=1)
    return cl.Transformer(cfg)


def test_the_survey_is_consistent_with_the_model(hf_folder) -> None:
    model = cl.from_pretrained(hf_folder)
    doc = analyze(model, prompt="w1 w2 w3 w1 w2")
    assert len(doc["heads"]) == 2 * 3
    for row in doc["heads"]:
        best = max(("previous_token", "duplicate", "induction"), key=lambda k: row[k])
        assert row["class"] == (best if row[best] >= CLASS_AT else "-")
    top = sorted(doc["heads"], key=lambda r: -r["induction"])[:3]
    assert doc["ablation"]["heads"] == [[r["layer"], r["head"]] for r in top]
    with torch.no_grad():
        logits = model(model.to_tokens("w1 w2 w3 w1 w2"))[0, -1]
    assert doc["prediction"]["id"] == int(logits.argmax())
    assert doc["logit_lens"][-1]["top"][0][0] == doc["prediction"]["token"]
    total = sum(v for _, v in doc["attribution"])
    assert total == pytest.approx(float(logits.max()), abs=1e-3)
    assert doc["viewers"]["prompt"]["tokens"] == ["<s>", "w1", "w2", "w3", "w1", "w2"]
    json.dumps(doc, allow_nan=False)  # the page's input is plain JSON


def test_the_survey_finds_a_hand_built_induction_circuit(tmp_path) -> None:
    from tests.cli.induction_model import induction_model

    cl.save(induction_model(), tmp_path / "ckpt", tokenizer=induction_model().tokenizer)
    prompt = "the cat sat on the mat. the cat sat on the m"
    assert main(["analyze", str(tmp_path / "ckpt"), "--prompt", prompt, "--out", str(tmp_path / "o")]) == 0
    doc = json.loads((tmp_path / "o" / "analysis.json").read_text())
    classes = {(r["layer"], r["head"]): r["class"] for r in doc["heads"]}
    assert classes == {(0, 0): "previous_token", (0, 1): "-", (1, 0): "induction", (1, 1): "-"}
    strongest = doc["composition"]["edges"][0]
    assert (strongest["mode"], strongest["src"], strongest["dst"]) == ("K", [0, 0], [1, 0])
    assert doc["prediction"]["token"] == "a"  # "...the m" -> "a", copied from "mat"
    assert doc["ablation"]["heads"][0] == [1, 0]
    assert doc["ablation"]["ablated_loss"] > doc["ablation"]["clean_loss"] + 1.0
    check_outputs(tmp_path / "o")


def check_outputs(out) -> str:
    page = (out / "report.html").read_text()
    doc = json.loads((out / "analysis.json").read_text())
    assert all(f">{title}</h2>" in page for title in SECTIONS)
    assert page.count('class="av"') == 2 and "http://" not in page and "https://" not in page
    assert set(doc) >= {"heads", "composition", "viewers", "logit_lens", "attribution", "ablation"}
    return page


def test_a_hugging_face_folder(hf_folder, tmp_path, capsys) -> None:
    assert main(["analyze", str(hf_folder), "--prompt", "w5 w6 w5", "--out", str(tmp_path / "o")]) == 0
    assert "report:" in capsys.readouterr().out
    page = check_outputs(tmp_path / "o")
    assert "gelu_new" in page and "w5" in page


def test_a_circuitlab_checkpoint_and_a_transformer_lens_export(tmp_path) -> None:
    model = tiny_transformer()
    cl.save(model, tmp_path / "ckpt")
    assert (
        main(["analyze", str(tmp_path / "ckpt"), "--prompt", "3 4 5 3 4", "--out", str(tmp_path / "a")]) == 0
    )
    check_outputs(tmp_path / "a")
    pytest.importorskip("transformer_lens")
    from circuitlab.interop import save_transformer_lens

    save_transformer_lens(model, tmp_path / "tl")
    assert main(["analyze", str(tmp_path / "tl"), "--out", str(tmp_path / "b")]) == 0
    a = json.loads((tmp_path / "a" / "analysis.json").read_text())["heads"]
    b = json.loads((tmp_path / "b" / "analysis.json").read_text())["heads"]
    assert a == b  # the same weights through TransformerLens's folder give the same head table


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "/no/such/folder"], "no folder '/no/such/folder'"),
        (["analyze"], "analyze needs MODEL"),
    ],
    ids=["missing-folder", "no-model"],
)
def test_bad_input_is_one_line(argv, message, capsys) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_prompt_without_a_tokenizer_must_be_ids(tmp_path, capsys) -> None:
    cl.save(tiny_transformer(), tmp_path / "ckpt")
    assert main(["analyze", str(tmp_path / "ckpt"), "--prompt", "hello", "--out", str(tmp_path / "o")]) == 2
    assert "give --prompt as token ids" in capsys.readouterr().err


@pytest.mark.browser
def test_the_page_works_in_headless_chromium(hf_folder, tmp_path) -> None:
    chromium, driver_bin = (
        shutil.which("chromium") or shutil.which("google-chrome"),
        shutil.which("chromedriver"),
    )
    if chromium is None or driver_bin is None:
        pytest.skip("needs chromium and chromedriver")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    assert main(["analyze", str(hf_folder), "--prompt", "w1 w2 w3 w1 w2", "--out", str(tmp_path)]) == 0
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='circuitlab-chromium-')}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_bin), options=options)
    try:
        driver.get((tmp_path / "report.html").resolve().as_uri())
        assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
        spans = driver.find_elements("css selector", "#attn-prompt .av-text span")
        assert [s.text for s in spans] == ["<s>", "w1", "w2", "w3", "w1", "w2"]
        assert len(driver.find_elements("css selector", "#attn-repeated .av-heads button")) == 6
        driver.find_element("css selector", "#attn-prompt button[data-head='1.2']").click()
        spans[4].click()
        assert "Head 1.2: from token 4" in driver.find_element("css selector", "#attn-prompt .av-info").text
        assert driver.find_elements("css selector", "svg.graph path")  # the composition graph drew
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
