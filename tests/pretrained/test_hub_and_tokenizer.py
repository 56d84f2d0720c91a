"""Hub names resolve through the local Hugging Face cache (one-line error offline); the folder's
tokenizer.json comes with the model, so the string API works on it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import CheckpointError
from circuitlab.pretrained.tokenizer import HFTokenizer
from tests.pretrained.hf_models import build, write_tokenizer

pytestmark = pytest.mark.filterwarnings("ignore")
hub = pytest.importorskip("huggingface_hub")


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gpt2")
    build("gpt2-3heads-tied", folder)
    write_tokenizer(folder)
    return folder


@pytest.fixture
def offline_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache with the hub unreachable (offline mode)."""
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setattr(hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def test_a_name_missing_from_the_cache_without_network_is_one_line(offline_cache) -> None:
    with pytest.raises(CheckpointError, match="not in the local Hugging Face cache") as err:
        cl.from_pretrained("circuitlab-test/not-there")
    assert "\n" not in str(err.value)


def test_a_cached_name_loads_without_network(offline_cache, gpt2_folder) -> None:
    repo = offline_cache / "models--circuitlab-test--tiny-gpt2"
    snapshot = repo / "snapshots" / ("a" * 40)
    shutil.copytree(gpt2_folder, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    by_name, by_folder = cl.from_pretrained("circuitlab-test/tiny-gpt2"), cl.from_pretrained(gpt2_folder)
    toks = torch.arange(10)[None]
    torch.testing.assert_close(by_name(toks), by_folder(toks))


def test_the_tokenizer_comes_with_the_model_and_strings_work(gpt2_folder) -> None:
    model = cl.Transformer.from_pretrained(gpt2_folder)
    assert isinstance(model.tokenizer, HFTokenizer) and model.tokenizer.eot_id == 0  # config bos_token_id
    assert model.tokenizer.encode("w3 w4") == [3, 4] and model.tokenizer.decode([5, 6]) == "w5 w6"
    toks = model.to_tokens("w3 w4 w5")
    assert toks.tolist() == [[0, 3, 4, 5]]  # prepend_bos adds the BOS
    torch.testing.assert_close(model("w3 w4 w5"), model(toks))


def test_a_folder_without_tokenizer_json_loads_without_one(tmp_path) -> None:
    build("gpt2-untied-relu", tmp_path)
    assert cl.from_pretrained(tmp_path).tokenizer is None


def test_loading_a_folder_imports_neither_transformers_nor_huggingface_hub(gpt2_folder) -> None:
    code = (
        "import sys, circuitlab as cl; m = cl.from_pretrained(sys.argv[1]); "
        "print(sorted(n for n in ('transformers', 'huggingface_hub') if n in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(gpt2_folder)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
