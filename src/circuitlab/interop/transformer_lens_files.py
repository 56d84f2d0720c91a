"""A folder TransformerLens users load in one line: ``config.json`` + ``model.safetensors``.

``save_transformer_lens`` writes the HookedTransformerConfig kwargs and the TransformerLens state dict
of a circuitlab model; ``load_transformer_lens`` rebuilds the ``HookedTransformer`` from it
(safetensors only, never pickle).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from circuitlab.errors import CheckpointError
from circuitlab.interop.transformer_lens import (
    CONFIG_JSON,
    WEIGHTS,
    _load_exactly,
    _tl,
    _tl_config_kwargs,
    to_transformer_lens,
)
from circuitlab.transformer import Transformer

if TYPE_CHECKING:  # pragma: no cover
    from transformer_lens import HookedTransformer


def save_transformer_lens(model: Transformer, out: str | Path) -> Path:
    """Write ``out/config.json`` (HookedTransformerConfig kwargs) and ``out/model.safetensors``.

    Load with ``circuitlab.interop.load_transformer_lens(out)``, or with TransformerLens alone:
    ``HookedTransformer(json.load(open(out/"config.json")))`` then
    ``load_state_dict(safetensors.torch.load_file(out/"model.safetensors"))``.
    """
    from safetensors.torch import save_file

    hooked = to_transformer_lens(model)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"export target {out} is a file; give a folder path (it is created if missing)")
    out.mkdir(parents=True, exist_ok=True)
    kwargs = _tl_config_kwargs(model.cfg)
    kwargs.pop("init_weights")  # TL users get its default init before the weights are loaded
    (out / CONFIG_JSON).write_text(json.dumps(kwargs, indent=2) + "\n")
    # The whole state dict (TL's IGNORE and empty mask buffers too), so TL's strict load accepts it.
    state = {k: v.detach().cpu().contiguous() for k, v in hooked.state_dict().items()}
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(out / WEIGHTS), metadata={"format": "transformer_lens", "source": "circuitlab"})
    return out


def load_transformer_lens(path: str | Path, device: str | None = None) -> HookedTransformer:
    """The ``HookedTransformer`` saved by ``save_transformer_lens`` / ``circuitlab export``."""
    from safetensors.torch import load_file

    tl = _tl()
    folder = Path(path)
    for name in (CONFIG_JSON, WEIGHTS):
        if not (folder / name).is_file():
            raise CheckpointError(
                f"{folder / name} is missing; write the folder with "
                f"`circuitlab export CHECKPOINT --to transformer-lens {folder}`"
            )
    kwargs = json.loads((folder / CONFIG_JSON).read_text()) | {"init_weights": False}
    kwargs["device"] = device or "cpu"
    hooked = tl.HookedTransformer(tl.HookedTransformerConfig(**kwargs), move_to_device=True)
    _load_exactly(hooked, load_file(str(folder / WEIGHTS), device=kwargs["device"]))
    return hooked.eval()


__all__ = ["load_transformer_lens", "save_transformer_lens"]
