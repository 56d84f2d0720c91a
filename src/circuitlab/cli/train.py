"""``circuitlab train perceptron|mlp|rnn|lstm|vae`` (and ``transformer`` when its module exists).

Thin: parse, call ``circuitlab.experiments.classic``, show a progress bar, print one result line.
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from circuitlab.cli.common import check_out_dir
from circuitlab.errors import ConfigError

TARGETS = {
    "perceptron": "reproduce the seed's perceptron cell (w=[1,0,0,0,0], b=0.5 -> 0.8176, 0.6225)",
    "mlp": "train an MLP on scikit-learn's 8x8 digits (goal: held-out accuracy >= 0.95)",
    "rnn": "train an Elman RNN on the marked delayed-recall task and print its accuracy at each lag",
    "lstm": "train an LSTM on the marked delayed-recall task and print its accuracy at each lag",
    "vae": "train a VAE on the digits; write ELBO curve, reconstructions, samples, latent map",
}


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be a positive integer")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train",
        help="train one of the classic nets (or a transformer)",
        description="Train a net and print its result in one line.",
    )
    targets = p.add_subparsers(dest="target", metavar="NET", required=True)
    for name, text in TARGETS.items():
        t = targets.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        t.add_argument(
            "--out",
            type=Path,
            default=Path("runs") / f"train-{name}",
            metavar="DIR",
            help=f"folder for figures and result.json (default runs/train-{name})",
        )
        t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        t.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
        if name != "perceptron":
            t.add_argument(
                "--steps", type=_positive, default=None, help="training steps (default: quick profile)"
            )
            t.add_argument(
                "--profile",
                choices=["quick", "full"],
                default="quick",
                help="default sizes: quick (seconds on a CPU) or full",
            )
        t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        t.set_defaults(func=run)
    for name in ("circuitlab.cli.train_transformer", "circuitlab.cli.train_sae"):
        try:
            extra = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name != name:
                raise
        else:
            extra.add_parser(targets)


def _context(args: argparse.Namespace, bar):
    import torch

    from circuitlab.experiments.base import RunContext

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {args.device}: no CUDA GPU is visible; use --device cpu")
    check_out_dir(args.out)

    def progress(fraction: float, message: str) -> None:
        if bar is not None:
            bar.n = round(100 * fraction)
            bar.set_description(message[:60])
            bar.refresh()

    return RunContext(
        out_dir=args.out,
        profile=getattr(args, "profile", "quick"),
        device=args.device,
        seed=args.seed,
        progress=progress,
    )


def _run_target(args: argparse.Namespace, ctx) -> tuple[dict, str]:
    from circuitlab.experiments.classic import mlp, perceptron, recall, vae

    steps = getattr(args, "steps", None)
    if args.target == "perceptron":
        r = perceptron.perceptron(ctx)
        line = (
            f"perceptron: {r.measured['printed_1']:.4f}, {r.measured['printed_2']:.4f} (seed: 0.8176, 0.6225)"
        )
    elif args.target == "mlp":
        r = mlp.mlp_digits(ctx, steps=steps)
        line = f"mlp: held-out accuracy {r.test_accuracy:.3f} after {r.steps} steps (goal >= 0.95)"
    elif args.target == "vae":
        r = vae.vae_digits(ctx, steps=steps)
        line = f"vae: test -ELBO {r.test_neg_elbo:.2f} nats (untrained {r.untrained_neg_elbo:.2f})"
    else:
        run = recall.train_recall(ctx, args.target, steps=steps)
        accs = ", ".join(f"lag {k}: {v:.2f}" for k, v in run.accuracy.items())
        line = f"{args.target}: recall accuracy {accs} (chance {run.chance:.3f}, {run.n_params} parameters)"
        return run.to_json(), line
    verdict = f" [{r.verdict}]"
    return r.to_json(), line + verdict + f" in {r.seconds:.1f}s"


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    bar = None if args.no_progress else tqdm(total=100, unit="%", leave=False)
    try:
        ctx = _context(args, bar)
        result, line = _run_target(args, ctx)
    finally:
        if bar is not None:
            bar.close()
    (args.out / "result.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"{line}; wrote {args.out}")
    return 0
