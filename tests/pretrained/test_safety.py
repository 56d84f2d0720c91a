"""Only safetensors are read; what circuitlab does not implement is refused by name."""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

import circuitlab as cl
from circuitlab.errors import CheckpointError, ConfigError
from circuitlab.pretrained import SUPPORTED_ARCHITECTURES
from tests.pretrained.hf_models import build, tokens

pytestmark = pytest.mark.filterwarnings("ignore")


class Boom:
    """Unpickling this writes a marker file: proof that nobody unpickled it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def llama_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lm")
    build("llama-gqa2", folder)
    return folder


def edit_config(folder, **changes) -> None:
    path = folder / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | changes))


def copy_folder(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_a_pickle_only_folder_is_refused_naming_safetensors_and_never_opened(tmp_path, llama_folder) -> None:
    folder = copy_folder(llama_folder, tmp_path / "m")
    (folder / "model.safetensors").unlink()
    marker = tmp_path / "unpickled"
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Boom(str(marker))))
    with pytest.raises(CheckpointError, match="refusing pytorch_model.bin .*safetensors") as err:
        cl.from_pretrained(folder)
    assert "\n" not in str(err.value) and not marker.exists()


def test_an_unsupported_architecture_is_refused_naming_the_supported_ones(tmp_path, llama_folder) -> None:
    folder = copy_folder(llama_folder, tmp_path / "m")
    edit_config(folder, architectures=["GemmaForCausalLM"], model_type="gemma")
    with pytest.raises(ConfigError, match="'GemmaForCausalLM' is not supported") as err:
        cl.from_pretrained(folder)
    assert all(name in str(err.value) for name in SUPPORTED_ARCHITECTURES)


@pytest.mark.parametrize(
    "changes, field",
    [
        (dict(final_logit_softcapping=30.0), "final_logit_softcapping=30.0"),
        (dict(use_sliding_window=True, sliding_window=8), "use_sliding_window=True"),
        (dict(layer_types=["sliding_attention", "full_attention"]), "layer_types"),
        (
            dict(rope_parameters={"rope_type": "llama3", "rope_theta": 1e4, "factor": 8.0}),
            "rope_type='llama3'",
        ),
        (dict(rope_scaling={"type": "linear", "factor": 2.0}), "rope_type='linear'"),
        (dict(hidden_act="xielu"), "hidden_act='xielu'"),
    ],
    ids=["soft-capping", "sliding-window", "layer-types", "llama3-rope", "linear-rope-v4", "activation"],
)
def test_config_fields_circuitlab_does_not_implement_are_refused_by_name(
    tmp_path, llama_folder, changes, field
):
    folder = copy_folder(llama_folder, tmp_path / "m")
    edit_config(folder, **changes)
    with pytest.raises(ConfigError, match=f"{field}.*circuitlab does not implement"):
        cl.from_pretrained(folder)


def test_mistral_s_sliding_window_caps_the_context(tmp_path, llama_folder) -> None:
    folder = copy_folder(llama_folder, tmp_path / "m")
    edit_config(folder, sliding_window=16)
    assert cl.from_pretrained(folder).cfg.n_ctx == 16
    with pytest.raises(ConfigError, match="sliding_window=16"):
        cl.from_pretrained(folder, n_ctx=20)


def test_tensors_without_a_place_or_missing_are_refused(tmp_path, llama_folder) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(llama_folder / "model.safetensors")
    folder = copy_folder(llama_folder, tmp_path / "extra")
    for extra in (
        "model.layers.0.mystery.weight",
        "model.layers.0.self_attn.o_proj.bias",
    ):  # no attention_bias
        save_file(state | {extra: torch.ones(24)}, folder / "model.safetensors")
        with pytest.raises(CheckpointError, match=f"'{extra}'.*refusing rather than ignoring"):
            cl.from_pretrained(folder)
    folder = copy_folder(llama_folder, tmp_path / "missing")
    save_file({k: v for k, v in state.items() if "up_proj" not in k}, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match="up_proj.weight' is missing"):
        cl.from_pretrained(folder)


def test_a_truncated_safetensors_file_is_refused(tmp_path, llama_folder) -> None:
    folder = copy_folder(llama_folder, tmp_path / "m")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated file"):
        cl.from_pretrained(folder)


def test_sharded_checkpoints_load_like_one_file(tmp_path, llama_folder) -> None:
    folder = tmp_path / "sharded"
    hf = build("llama-gqa2", folder, max_shard_size="20KB")
    assert len(list(folder.glob("*.safetensors"))) > 1 and (folder / "model.safetensors.index.json").is_file()
    with torch.no_grad():
        torch.testing.assert_close(
            cl.from_pretrained(folder)(tokens()), hf(tokens()).logits, atol=1e-4, rtol=0
        )


def test_a_folder_without_weights_or_config_names_what_is_missing(tmp_path, llama_folder) -> None:
    with pytest.raises(CheckpointError, match="no config.json"):
        cl.from_pretrained(tmp_path)
    folder = copy_folder(llama_folder, tmp_path / "m")
    (folder / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match=r"no \*.safetensors weights"):
        cl.from_pretrained(folder)


def test_editing_loaded_weights_in_place_never_writes_the_file(tmp_path, llama_folder) -> None:
    folder = copy_folder(llama_folder, tmp_path / "m")
    before = (folder / "model.safetensors").read_bytes()
    model = cl.from_pretrained(folder)
    with torch.no_grad():
        model.W_E.add_(1.0)  # a parameter that is a view of the file's private map
        model.blocks[0].ln1.w.mul_(2.0)
    del model
    assert (folder / "model.safetensors").read_bytes() == before
    from safetensors.torch import load_file

    fresh = cl.from_pretrained(folder)
    assert fresh.W_E.requires_grad
    assert torch.equal(fresh.W_E, load_file(folder / "model.safetensors")["model.embed_tokens.weight"])
