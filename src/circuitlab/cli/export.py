"""``circuitlab export CHECKPOINT --to transformer-lens OUT``: hand a trained model to TransformerLens.

OUT is a folder with ``config.json`` (``HookedTransformerConfig`` keyword arguments) and
``model.safetensors`` (the ``HookedTransformer`` state dict). Load it in one line with
``circuitlab.interop.load_transformer_lens(OUT)``, or with TransformerLens alone::

    model = HookedTransformer(json.load(open("OUT/config.json")))
    model.load_state_dict(safetensors.torch.load_file("OUT/model.safetensors"))
"""

from __future__ import annotations

import argparse

from circuitlab.errors import ConfigError

TARGETS = ("transformer-lens",)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a checkpoint in another library's format",
        description="Write a circuitlab transformer checkpoint as a folder TransformerLens loads.",
    )
    p.add_argument("checkpoint", help="checkpoint folder (written by circuitlab train or cl.save)")
    p.add_argument("--to", dest="target", required=True, choices=TARGETS, help="target library")
    p.add_argument("out", help="output folder (created if missing): config.json + model.safetensors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from circuitlab.interop import save_transformer_lens
    from circuitlab.training.checkpoint import load
    from circuitlab.transformer import Transformer

    model = load(args.checkpoint)
    if not isinstance(model, Transformer):
        raise ConfigError(
            f"checkpoint {args.checkpoint} holds a {type(model).__name__}; only a Transformer exports "
            "to TransformerLens"
        )
    out = save_transformer_lens(model, args.out)
    print(f"wrote {out}/config.json and {out}/model.safetensors")
    print(f"load it: circuitlab.interop.load_transformer_lens({str(out)!r})")
    return 0
