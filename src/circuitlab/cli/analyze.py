"""``circuitlab analyze --sae DIR [MODEL]``: feature dashboards for a sparse autoencoder's latents
(cli/analyze_sae.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitlab.cli.analyze_sae import add_sae_arguments, run_sae
from circuitlab.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("analyze", help="feature dashboards for a sparse autoencoder's latents")
    p.add_argument("model", metavar="MODEL", nargs="?", help="the circuitlab checkpoint the SAE reads")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="output folder")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    add_sae_arguments(p)  # circuitlab analyze --sae DIR [MODEL]: SAE feature dashboards (analyze_sae.py)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.sae:
        return run_sae(args)
    raise ConfigError("circuitlab analyze needs --sae DIR (SAE feature dashboards)")
