"""``circuitlab sample CHECKPOINT --prompt "def "``: continue a prompt with a trained model."""

from __future__ import annotations

import argparse

import torch

from circuitlab.errors import CheckpointError, DataError
from circuitlab.training.checkpoint import load_checkpoint


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sample",
        help="generate text from a checkpoint",
        description="Continue a prompt with a model saved by circuitlab train.",
    )
    p.add_argument("checkpoint", help="checkpoint folder (the --out of circuitlab train)")
    p.add_argument("--prompt", default="def ")
    p.add_argument("--max-new-tokens", type=int, default=100)
    p.add_argument("--temperature", type=float, default=1.0, help="0 takes the most likely token")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from circuitlab.transformer.sampling import generate

    ckpt = load_checkpoint(args.checkpoint, device=args.device)
    if ckpt.tokenizer is None:
        raise CheckpointError(
            f"checkpoint {ckpt.path} holds no tokenizer.json; sampling needs one "
            "(save with cl.save(model, path, tokenizer=...))"
        )
    ids = ckpt.tokenizer.encode(args.prompt)
    if not ids:
        raise DataError("--prompt encodes to no tokens; give a non-empty prompt")
    n_ctx = getattr(getattr(ckpt.model, "cfg", None), "n_ctx", len(ids))
    tokens = torch.tensor([ids[-n_ctx:]], dtype=torch.long, device=args.device)
    out = generate(ckpt.model, tokens, args.max_new_tokens, args.temperature, args.top_k, args.seed)
    print(ckpt.tokenizer.decode(out[0].tolist()))
    return 0
