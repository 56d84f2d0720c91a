"""``circuitlab train sae``: a sparse autoencoder on one hook of a saved circuitlab model.

    circuitlab train sae --model runs/tiny --hook blocks.1.hook_resid_post --architecture topk --k 32

The model's corpus (``--corpus``, default the Python standard library) is tokenized with the
model's tokenizer and streamed through an ActivationStore (``--buffer-tokens`` vectors in memory);
the progress bar shows loss, L0 and the dead fraction; a checkpoint (safetensors + JSON) is kept in
``--out`` every ``--checkpoint-every`` steps, at the end and on Ctrl-C, and ``--resume`` continues
it. Under ``torchrun --nproc_per_node=N -m circuitlab train sae ...`` each rank reads its own token
batches and the gradients are averaged. The end prints L0, variance explained, dead fraction and
CE loss recovered on held-out windows.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from circuitlab.errors import CheckpointError, ConfigError
from circuitlab.files import atomic_write_json

_TRAINED = "checkpoint.json"


def add_parser(train_subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``sae`` to the ``circuitlab train`` subcommands."""
    from circuitlab.superposition.sae.config import ARCHITECTURES, SAEConfig

    d = SAEConfig(d_in=1)
    p = train_subparsers.add_parser(
        "sae", help="train a sparse autoencoder on a hook of a saved model",
        description="Train a ReLU, TopK or JumpReLU sparse autoencoder on one hook of a saved circuitlab model.",
    )  # fmt: skip
    p.add_argument("--model", required=True, help="a circuitlab checkpoint folder holding a tokenizer")
    p.add_argument(
        "--hook", required=True, help="hook name, e.g. blocks.1.hook_resid_post (model.hook_names)"
    )
    p.add_argument("--out", required=True, help="folder for the SAE checkpoint and metrics.json")
    s = p.add_argument_group("SAE (ignored by --resume, which keeps the checkpoint's)")
    s.add_argument("--architecture", choices=ARCHITECTURES, default="topk")
    s.add_argument("--expansion", type=int, default=8, help="latents per input dimension (default 8)")
    s.add_argument("--k", type=int, default=32, help="TopK: active latents per token (default 32)")
    s.add_argument("--l1-coeff", type=float, default=d.l1_coeff, help="ReLU: L1 coefficient")
    s.add_argument("--l0-coeff", type=float, default=d.l0_coeff, help="JumpReLU: L0 coefficient")
    s.add_argument(
        "--threshold-init", type=float, default=d.threshold_init, help="JumpReLU: initial threshold"
    )
    s.add_argument("--bandwidth", type=float, default=d.bandwidth, help="JumpReLU: STE kernel width")
    s.add_argument(
        "--resample-every", type=int, default=d.resample_every, help="ReLU/JumpReLU: 0 turns it off"
    )
    s.add_argument("--lr", type=float, default=d.lr)
    s.add_argument("--steps", type=int, default=d.steps)
    s.add_argument(
        "--batch-size", type=int, default=d.batch_size, help="activations per step, all ranks together"
    )
    s.add_argument("--dead-tokens", type=int, default=d.dead_tokens)
    s.add_argument("--seed", type=int, default=0)
    t = p.add_argument_group("data and run")
    t.add_argument("--corpus", default="stdlib", help="'stdlib' (default), a text file, a folder or a glob")
    t.add_argument("--corpus-max-bytes", type=int, default=None)
    t.add_argument("--cache-dir", default=None, help="default $CIRCUITLAB_CACHE or ~/.cache/circuitlab")
    t.add_argument(
        "--buffer-tokens", type=int, default=65536, help="activations held in memory (default 65536)"
    )
    t.add_argument("--eval-rows", type=int, default=32, help="held-out windows for the final metrics")
    t.add_argument("--checkpoint-every", type=int, default=500)
    t.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    t.add_argument("--resume", action="store_true", help="continue the checkpoint in --out")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)
    return p


def load_token_model(
    model_dir: str,
    device: str,
    corpus: str = "stdlib",
    max_bytes: int | None = None,
    cache: str | None = None,
):
    """The saved model, its tokenizer, and the corpus's train and validation token arrays."""
    from circuitlab.data import load_corpus, tokenize_corpus
    from circuitlab.training import load_checkpoint

    ck = load_checkpoint(model_dir, device=device)
    if ck.tokenizer is None or not hasattr(ck.model.cfg, "n_ctx"):
        raise CheckpointError(
            f"--model {model_dir} holds a {ck.kind} without a tokenizer; train SAEs from the CLI on a token "
            "model saved with its tokenizer (cl.save(model, path, tokenizer)), or use the library for others"
        )
    tokens = tokenize_corpus(load_corpus(corpus, max_bytes=max_bytes), ck.tokenizer, cache=cache)
    return ck.model, ck.tokenizer, tokens


def _config(args: argparse.Namespace, d_in: int):
    from circuitlab.superposition.sae.config import SAEConfig

    return SAEConfig(
        d_in=d_in, expansion=args.expansion, architecture=args.architecture, k=args.k, l1_coeff=args.l1_coeff,
        l0_coeff=args.l0_coeff, lr=args.lr, steps=args.steps, batch_size=args.batch_size,
        dead_tokens=args.dead_tokens, seed=args.seed, hook_name=args.hook, resample_every=args.resample_every,
        threshold_init=args.threshold_init, bandwidth=args.bandwidth,
    )  # fmt: skip


def _trainer(args: argparse.Namespace, out: Path, d_in: int, device: str):
    """A fresh trainer, or the checkpoint's with its weights, Adam state and training state."""
    from circuitlab.superposition.sae import SAETrainer
    from circuitlab.superposition.sae.config import SAEConfig
    from circuitlab.training import read_meta, restore_training_state

    if not args.resume:
        return SAETrainer(_config(args, d_in), device=device), None
    meta = read_meta(out)
    trainer = SAETrainer(SAEConfig.from_dict(meta["config"]), device=device)
    meta = restore_training_state(out, trainer.sae, trainer.opt)
    trainer.load_train_state(meta["train"]["trainer"])
    return trainer, meta["train"]["store"]


def _save(out: Path, trainer, store, model_dir: str) -> None:
    from circuitlab.training import save_checkpoint

    train = {"trainer": trainer.train_state(), "store": store.state(), "model": str(model_dir)}
    save_checkpoint(out, trainer.sae, step=trainer.step, optimizer=trainer.opt, train=train)


def _check_out(args: argparse.Namespace, out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise CheckpointError(f"--out {str(out)!r} is a file; choose a folder")
    held = (out / _TRAINED).is_file()
    if held and not args.resume:
        raise CheckpointError(
            f"--out {out} already holds a checkpoint; pass --resume to continue it or choose another --out"
        )
    if args.resume and not held:
        raise CheckpointError(f"--resume: {out} holds no checkpoint; drop --resume to start one there")


def _progress(args: argparse.Namespace, trainer, is_main: bool):
    """A tqdm bar showing loss, L0 and dead fraction (every 10 steps), and the step callback."""
    if args.no_progress or not is_main:
        return None, None
    from tqdm import tqdm

    bar = tqdm(total=trainer.cfg.steps, initial=trainer.step, unit="step", leave=False)

    def on_step(tr, loss) -> None:
        bar.update(1)
        if tr.step % 10 == 0:
            s = tr.stats(loss, tr.cfg.batch_size)
            bar.set_postfix(loss=f"{s.loss:.4g}", L0=f"{s.l0:.1f}", dead=f"{s.dead_fraction:.1%}")

    return bar, on_step


def _train(args: argparse.Namespace, ctx, out: Path) -> tuple[Any, Any, Any, Any]:
    from circuitlab.data import WindowBatches
    from circuitlab.superposition.sae import ActivationStore, read_hook, train_sae_on_store

    model, tokenizer, tokens = load_token_model(
        args.model, str(ctx.device), args.corpus, args.corpus_max_bytes
    )
    if args.batch_size % ctx.world_size:
        raise ConfigError(f"--batch-size {args.batch_size} is not divisible by the {ctx.world_size} ranks")
    windows = WindowBatches(tokens.train, 8, model.cfg.n_ctx, seed=args.seed)
    d_in = read_hook(model, args.hook, windows(0).inputs[:1].to(ctx.device)).shape[-1]
    trainer, store_state = _trainer(args, out, d_in, str(ctx.device))
    store = ActivationStore(
        model, args.hook, lambda i: windows(i).inputs, buffer_tokens=args.buffer_tokens,
        batch_size=trainer.cfg.batch_size // ctx.world_size, seed=args.seed, d_in=trainer.cfg.d_in,
        rank=ctx.rank, world=ctx.world_size,
    )  # fmt: skip
    if store_state is not None:
        store.load_state(store_state)
    bar, on_step = _progress(args, trainer, ctx.is_main)
    every = max(args.checkpoint_every, 1)

    def step(tr, loss) -> None:
        if on_step is not None:
            on_step(tr, loss)
        if ctx.is_main and tr.step % every == 0:
            _save(out, tr, store, args.model)

    try:
        train_sae_on_store(store, trainer.cfg, trainer, on_step=step)
    except KeyboardInterrupt:
        if ctx.is_main:
            _save(out, trainer, store, args.model)
        raise
    finally:
        if bar is not None:
            bar.close()
    return model, tokens, trainer, store


def run(args: argparse.Namespace) -> int:
    from circuitlab.data import WindowBatches
    from circuitlab.superposition.sae import evaluate_sae, read_hook
    from circuitlab.training.distributed import setup

    out = Path(args.out)
    _check_out(args, out)
    ctx = setup(args.device)
    try:
        model, tokens, trainer, store = _train(args, ctx, out)
        if ctx.is_main:
            _save(out, trainer, store, args.model)
            source = tokens.val if len(tokens.val) > model.cfg.n_ctx + 1 else tokens.train
            windows = WindowBatches(source, args.eval_rows, model.cfg.n_ctx, seed=args.seed, stream=3)
            held_out = windows(0).inputs.to(ctx.device)
            acts = read_hook(model, args.hook, held_out)
            m = evaluate_sae(trainer.sae, acts, model=model, tokens=held_out, hook_name=args.hook)
        ctx.barrier()  # the ranks leave the group together, not one while rank 0 still evaluates
    finally:
        ctx.close()
    if not ctx.is_main:
        return 0
    doc = {"step": trainer.step, "l0": m.l0, "fraction_variance_explained": m.fraction_variance_explained,
           "mse": m.mse, "dead_fraction": m.dead_fraction, "dense_fraction": m.dense_fraction,
           "ce_loss_recovered": m.ce_loss_recovered, "kl": m.kl, "ce_clean": m.spliced.ce_clean,
           "ce_sae": m.spliced.ce_sae, "ce_zero": m.spliced.ce_zero}  # fmt: skip
    atomic_write_json(out / "metrics.json", doc)
    print(
        f"trained {trainer.cfg.architecture} SAE ({trainer.cfg.n_latents} latents) on {args.hook} for {trainer.step} "
        f"steps: L0 {m.l0:.1f}, variance explained {m.fraction_variance_explained:.3f}, dead {m.dead_fraction:.1%}, "
        f"CE loss recovered {m.ce_loss_recovered:.3f}, KL {m.kl:.4f}; checkpoint in {out}"
    )
    return 0
