"""``circuitlab train transformer``: corpus -> tokenizer -> tokenized windows -> Transformer -> train.

Works the same under ``torchrun --nproc_per_node=N -m circuitlab train transformer ...``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from circuitlab.data import STDLIB, WindowBatches, load_corpus, tokenize_corpus, train_tokenizer
from circuitlab.errors import CheckpointError
from circuitlab.training import TrainConfig, next_token_loss, read_tokenizer, train
from circuitlab.training.checkpoint import CHECKPOINT_JSON

_D = TrainConfig()


def add_parser(train_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``transformer`` to the ``circuitlab train`` subcommands."""
    from circuitlab.transformer.config import NORMALIZATION, POSITIONAL, TransformerConfig

    m = TransformerConfig()
    p = train_subparsers.add_parser(
        "transformer",
        help="train a decoder-only transformer on a text corpus",
        description="Train a transformer on the Python standard library (default) or your own text.",
    )
    model = p.add_argument_group("model")
    model.add_argument("--n-layers", type=int, default=m.n_layers)
    model.add_argument("--d-model", type=int, default=m.d_model)
    model.add_argument("--n-heads", type=int, default=m.n_heads)
    model.add_argument("--d-head", type=int, default=m.d_head)
    model.add_argument("--n-ctx", type=int, default=m.n_ctx)
    model.add_argument("--attn-only", action=argparse.BooleanOptionalAction, default=m.attn_only)
    model.add_argument("--d-mlp", type=int, default=None, help="MLP width (default 4 * d_model)")
    model.add_argument("--positional", choices=POSITIONAL, default=m.positional)
    model.add_argument("--normalization", choices=NORMALIZATION, default=m.normalization)
    data = p.add_argument_group("data")
    data.add_argument("--corpus", default=STDLIB, help="'stdlib' (default), a text file, a folder or a glob")
    data.add_argument("--corpus-max-bytes", type=int, default=None, help="cap on the corpus size in bytes")
    data.add_argument("--tokenizer", choices=("bpe", "char"), default="bpe")
    data.add_argument("--vocab-size", type=int, default=4096, help="BPE vocabulary size")
    data.add_argument("--val-fraction", type=float, default=0.1)
    data.add_argument("--cache-dir", default=None, help="default $CIRCUITLAB_CACHE or ~/.cache/circuitlab")
    t = p.add_argument_group("training")
    t.add_argument("--steps", type=int, default=_D.steps)
    t.add_argument("--lr", type=float, default=_D.lr)
    t.add_argument("--min-lr", type=float, default=None, help="default lr / 10")
    t.add_argument("--warmup", type=int, default=None, help="default min(100, steps // 10)")
    t.add_argument("--batch-size", type=int, default=_D.batch_size)
    t.add_argument("--grad-accum", type=int, default=_D.grad_accum)
    t.add_argument("--weight-decay", type=float, default=_D.weight_decay)
    t.add_argument("--grad-clip", type=float, default=_D.grad_clip)
    t.add_argument("--eval-every", type=int, default=_D.eval_every)
    t.add_argument("--eval-batches", type=int, default=_D.eval_batches)
    t.add_argument("--checkpoint-every", type=int, default=_D.checkpoint_every)
    t.add_argument("--seed", type=int, default=0, help="seeds the weights and the batches")
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    t.add_argument("--out", required=True, help="folder for the checkpoint, tokenizer.json and metrics.jsonl")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)
    return p


def _check_out(args: argparse.Namespace) -> Path:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"--out {str(out)!r} is a file; choose a folder")
    if (out / CHECKPOINT_JSON).is_file() and not args.resume:
        raise CheckpointError(
            f"--out {out} already holds a checkpoint; pass --resume to continue it or choose another --out"
        )
    return out


def _configs(args: argparse.Namespace, d_vocab: int) -> tuple[Any, TrainConfig]:
    """The model's and the training's configs from the command line."""
    from circuitlab.transformer import TransformerConfig

    cfg = TransformerConfig(
        n_layers=args.n_layers,
        d_model=args.d_model,
        n_heads=args.n_heads,
        d_head=args.d_head,
        d_vocab=d_vocab,
        n_ctx=args.n_ctx,
        attn_only=args.attn_only,
        d_mlp=args.d_mlp,
        positional=args.positional,
        normalization=args.normalization,
        seed=args.seed,
    )
    tcfg = TrainConfig(
        steps=args.steps,
        lr=args.lr,
        min_lr=args.lr / 10 if args.min_lr is None else args.min_lr,
        warmup=min(100, args.steps // 10) if args.warmup is None else args.warmup,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        weight_decay=args.weight_decay,
        grad_clip=args.grad_clip,
        eval_every=args.eval_every,
        eval_batches=args.eval_batches,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        device=args.device,
        progress=not args.no_progress,
    )
    return cfg, tcfg


def run(args: argparse.Namespace) -> int:
    from circuitlab.transformer import Transformer

    out = _check_out(args)
    tokenizer = read_tokenizer(out) if args.resume and (out / CHECKPOINT_JSON).is_file() else None
    corpus = load_corpus(args.corpus, max_bytes=args.corpus_max_bytes)
    if tokenizer is None:
        tokenizer = train_tokenizer(corpus, args.tokenizer, args.vocab_size, args.cache_dir)
    tokens = tokenize_corpus(corpus, tokenizer, args.val_fraction, args.cache_dir)
    cfg, tcfg = _configs(args, tokenizer.vocab_size)
    train_batches = WindowBatches(tokens.train, tcfg.batch_size, cfg.n_ctx, seed=args.seed)
    val_batches = (
        WindowBatches(tokens.val, tcfg.batch_size, cfg.n_ctx, seed=args.seed, stream=1)
        if len(tokens.val) > cfg.n_ctx
        else None
    )
    result = train(
        Transformer(cfg),
        next_token_loss,
        train_batches,
        tcfg,
        val_batches=val_batches,
        out_dir=out,
        resume=args.resume,
        tokenizer=tokenizer,
    )
    if int(os.environ.get("RANK", "0")) != 0:
        return 130 if result.interrupted else 0
    val = f", val loss {result.evals[-1]['val_loss']:.4f}" if result.evals else ""
    loss = f"{result.final_loss:.4f}" if result.final_loss is not None else "n/a"
    if result.interrupted:
        print(
            f"interrupted at step {result.step}; checkpoint saved in {out}; continue with --resume",
            file=sys.stderr,
        )
        return 130
    print(
        f"trained {result.step} steps: loss {loss}{val}, {result.tokens_per_s:,.0f} tokens/s; "
        f"checkpoint in {out}"
    )
    return 0
