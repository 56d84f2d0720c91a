"""``from_pretrained``: a Hugging Face checkpoint as circuitlab's one Transformer.

The model is built on the meta device (no memory, no random draws) and given its parameters
from the safetensors files: a tensor stored as circuitlab needs it (same layout, dtype and
device) becomes its parameter as a copy-on-write view of the file (no copy; see
``safetensors_files``), the others are converted into memory of their own. Every parameter must
be filled (biases a family leaves out are set to 0), and every tensor in the files must find a
place or be a known buffer: anything else is refused by name rather than ignored.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from circuitlab.errors import CheckpointError, ConfigError
from circuitlab.pretrained import gpt2, llama, neox
from circuitlab.pretrained.adapter import Spec
from circuitlab.pretrained.processing import process_weights
from circuitlab.pretrained.safetensors_files import Entry, MappedFiles, index_folder
from circuitlab.pretrained.source import ModelFolder, open_folder, resolve
from circuitlab.pretrained.tokenizer import load_hf_tokenizer
from circuitlab.transformer import Transformer, TransformerConfig

FAMILIES: dict[str, ModuleType] = {
    gpt2.ARCHITECTURE: gpt2,
    neox.ARCHITECTURE: neox,
    **{name: llama for name in llama.ARCHITECTURES},
}
MODEL_TYPES = {"gpt2": gpt2, "gpt_neox": neox, "llama": llama, "mistral": llama, "qwen2": llama}


def family_of(hf: dict[str, Any], where: Path) -> ModuleType:
    """The adapter for the config's architecture (``architectures[0]``, else ``model_type``)."""
    names = hf.get("architectures") or []
    if names:
        if names[0] in FAMILIES:
            return FAMILIES[names[0]]
        unknown = names[0]
    elif hf.get("model_type") in MODEL_TYPES:
        return MODEL_TYPES[hf["model_type"]]
    else:
        unknown = hf.get("model_type")
    raise ConfigError(
        f"{where}: architecture {unknown!r} is not supported; circuitlab loads {', '.join(FAMILIES)} "
        "(GPT-2, GPT-NeoX/Pythia, Llama, Mistral, Qwen2, SmolLM)"
    )


def meta_model(cfg: TransformerConfig) -> Transformer:
    """A Transformer of ``cfg`` on the meta device: shapes only, no memory, no random draws."""
    with torch.device("meta"):
        return Transformer(cfg)


def load_weights(
    model: Transformer,
    specs: list[Spec],
    entries: dict[str, Entry],
    ignored,
    folder: Path,
    placement: dict[str, Any],
) -> None:
    """Give every parameter of ``model`` its tensor from ``entries`` as ``specs`` say (see the module
    docstring); ``placement`` is the ``device``/``dtype`` of the parameters."""
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    files, state, used = MappedFiles(), {}, set()
    for spec in specs:
        absent = [s for s in spec.sources if s not in entries]
        if absent:
            raise CheckpointError(f"{folder}: tensor {absent[0]!r} is missing; the checkpoint is incomplete")
        sources = [files.view(entries[s]) for s in spec.sources]
        values = sources if spec.convert is None else spec.convert(*sources)
        for target, value in zip(spec.targets, values, strict=True):
            if tuple(value.shape) != shapes[target]:
                raise CheckpointError(
                    f"{folder}: {spec.sources[0]} gives {target} the shape {tuple(value.shape)}, expected "
                    f"{shapes[target]}; config.json does not describe these weights"
                )
            value = value.to(**placement)  # a view of the file when nothing changes
            state[target] = value if spec.convert is None else value.contiguous()
        used.update(spec.sources)
    unexpected = sorted(k for k in entries if k not in used and not ignored(k, model.cfg))
    if unexpected:
        raise CheckpointError(
            f"{folder}: tensor {unexpected[0]!r} ({len(unexpected)} unexpected in all) has no place in "
            "circuitlab's model of this config; refusing rather than ignoring it"
        )
    for name in sorted(shapes.keys() - state.keys()):  # biases the family does not have are 0
        if not name.split(".")[-1].lstrip("_").startswith("b"):
            raise CheckpointError(f"{folder}: no tensor fills {name}; the checkpoint is incomplete")
        state[name] = torch.zeros(shapes[name], **placement)
    model.load_state_dict(state, strict=True, assign=True)


def from_pretrained(
    name_or_path: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    n_ctx: int | None = None,
    fold_ln: bool = False,
    center_writing_weights: bool = False,
    center_unembed: bool = False,
    fold_value_biases: bool = False,
    revision: str | None = None,
) -> Transformer:
    """A GPT-2, GPT-NeoX (Pythia) or Llama-family checkpoint as a circuitlab ``Transformer``.

    ``name_or_path``: a Hugging Face folder (config.json + *.safetensors, sharded or not) or a hub
    name found in (or, with a network, downloaded to) the local Hugging Face cache. The folder's
    tokenizer.json comes with the model (``model.tokenizer``). ``n_ctx`` defaults to the config's
    context, capped at 2048 (pass more to analyse longer text). The four TransformerLens weight
    processing options (off by default, so the logits are transformers') never change what the
    model computes: see :mod:`circuitlab.pretrained.processing`. The model is in eval mode.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ConfigError(
            f"dtype={dtype!r}: give a floating torch.dtype such as torch.float32 or torch.bfloat16"
        )
    folder: ModelFolder = open_folder(resolve(name_or_path, revision))
    family = family_of(folder.config, folder.path)
    cfg = family.config(folder.config, n_ctx)
    entries = index_folder(list(folder.weights))
    model = meta_model(cfg)
    specs = family.specs(cfg, folder.config, set(entries))
    load_weights(model, specs, entries, family.ignored, folder.path, {"device": device, "dtype": dtype})
    model.tokenizer = load_hf_tokenizer(folder.path, folder.config)
    process_weights(
        model,
        fold_ln=fold_ln,
        center_writing_weights=center_writing_weights,
        center_unembed=center_unembed,
        fold_value_biases=fold_value_biases,
    )
    return model.eval()


__all__ = ["FAMILIES", "from_pretrained"]
