"""``circuitlab analyze --sae DIR [MODEL]``: feature dashboards for a sparse autoencoder's latents.

Reads the SAE (a circuitlab checkpoint, or a SAELens folder), the model it reads (MODEL, or the one
its ``circuitlab train sae`` checkpoint records) and held-out windows of the model's corpus; writes
``dashboard.html`` (to ``--out``, default the SAE folder): for each chosen latent its top
activating contexts, activation histogram, promoted and suppressed logits and nearest latents.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitlab.errors import CheckpointError, ConfigError


def add_sae_arguments(p: argparse.ArgumentParser) -> None:
    """The options of the SAE mode of ``circuitlab analyze``."""
    g = p.add_argument_group("SAE feature dashboards (--sae)")
    g.add_argument(
        "--sae", default=None, metavar="DIR", help="SAE folder: a circuitlab checkpoint or SAELens folder"
    )
    g.add_argument("--hook", default=None, help="hook the SAE reads (default: the one it records)")
    g.add_argument("--latents", default=None, help="comma-separated latent ids (default: the most frequent)")
    g.add_argument("--n-latents", type=int, default=12, help="how many latents when --latents is not given")
    g.add_argument("--rows", type=int, default=64, help="held-out windows to read (default 64)")
    g.add_argument("--corpus", default="stdlib", help="'stdlib' (default), a text file, a folder or a glob")
    g.add_argument("--cache-dir", default=None, help="default $CIRCUITLAB_CACHE or ~/.cache/circuitlab")
    g.add_argument("--seed", type=int, default=0)


def load_sae(folder: str):
    """A circuitlab SAE checkpoint, or a SAELens folder (cfg.json + sae_weights.safetensors)."""
    from circuitlab.interop.saelens import load_saelens
    from circuitlab.superposition.sae import SparseAutoencoder
    from circuitlab.training import load

    path = Path(folder)
    if (path / "cfg.json").is_file() and (path / "sae_weights.safetensors").is_file():
        return load_saelens(path)
    sae = load(path)
    if not isinstance(sae, SparseAutoencoder):
        raise CheckpointError(f"--sae {folder} holds a {type(sae).__name__}, not a sparse autoencoder")
    return sae


def _model_dir(args: argparse.Namespace) -> str:
    """MODEL, else the model a ``circuitlab train sae`` checkpoint records."""
    from circuitlab.training import read_meta

    if args.model:
        return args.model
    if (Path(args.sae) / "checkpoint.json").is_file():
        recorded = (read_meta(args.sae).get("train") or {}).get("model")
        if recorded:
            return recorded
    raise ConfigError(
        f"--sae {args.sae} records no model; give the model folder: circuitlab analyze MODEL --sae DIR"
    )


def _latents(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ConfigError(f"--latents {text!r}: give comma-separated integers like 3,17,42") from None


def run_sae(args: argparse.Namespace) -> int:
    from circuitlab.cli.common import check_device, check_out_dir
    from circuitlab.cli.train_sae import load_token_model
    from circuitlab.data import WindowBatches
    from circuitlab.report.dashboard import write_dashboard
    from circuitlab.superposition.sae import latent_dashboards

    device = check_device(args.device)
    sae = load_sae(args.sae).to(device)
    hook = args.hook or sae.cfg.hook_name
    if hook is None:
        raise ConfigError(f"--sae {args.sae} records no hook; pass --hook (e.g. blocks.1.hook_resid_post)")
    model_dir = _model_dir(args)
    model, tokenizer, tokens = load_token_model(model_dir, device, args.corpus, cache=args.cache_dir)
    source = tokens.val if len(tokens.val) > model.cfg.n_ctx + 1 else tokens.train
    windows = WindowBatches(source, args.rows, model.cfg.n_ctx, seed=args.seed, stream=4)(0).inputs.to(device)
    dashes = latent_dashboards(
        model, sae, windows, latents=_latents(args.latents), hook_name=hook,
        decode=tokenizer.decode, n_latents=args.n_latents,
    )  # fmt: skip
    title = f"{sae.cfg.architecture} SAE, {sae.cfg.n_latents} latents, at {hook} of {model_dir}"
    out = check_out_dir(Path(args.out) if args.out else Path(args.sae)) / "dashboard.html"
    write_dashboard(out, {"title": title, "latents": [d.to_json() for d in dashes]})
    print(f"wrote dashboards of {len(dashes)} latents to {out}")
    return 0
