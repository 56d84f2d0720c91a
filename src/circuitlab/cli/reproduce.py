"""`circuitlab reproduce`: run every claim of the seed, print the verdicts, write the report."""

from __future__ import annotations

import argparse
from pathlib import Path

from circuitlab.cli.common import check_device, check_out_dir
from circuitlab.experiments.registry import claim_ids

HELP = "run every claim of the seed, write results.json and report.html, print the verdicts"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("reproduce", help=HELP, description=HELP.capitalize() + ".")
    p.add_argument(
        "--profile",
        choices=["quick", "full"],
        default="quick",
        help="quick: minutes on a laptop CPU (default); full: longer, bigger models",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="run folder (default runs/<timestamp>/); an existing run is resumed",
    )
    p.add_argument(
        "--only",
        nargs="+",
        metavar="CLAIM",
        default=None,
        help=f"run only these claims: {', '.join(claim_ids())}",
    )
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    p.add_argument(
        "--corpus",
        default="stdlib",
        metavar="PATH",
        help="what the language-model claims train on: 'stdlib' (default, the Python standard library) "
        "or a text file, a folder or a glob (quote it); the other claims ignore it",
    )
    p.add_argument(
        "--seed",
        type=_seed,
        default=0,
        help="seed of every claim's initialisation and data order (default 0, the seed the README's table reports)",
    )
    recipe = p.add_mutually_exclusive_group()
    recipe.add_argument(
        "--curriculum",
        action="store_true",
        help="train the induction model (and the SAEs on it) with the BPE recipe whose training windows "
        "hold repeated random-token passages (induction_recipe(curriculum=True)) instead of on plain text",
    )
    recipe.add_argument(
        "--plain-text",
        action="store_true",
        help="the default: the induction model trains on unmodified text (accepted for older scripts)",
    )
    p.add_argument("--fresh", action="store_true", help="rerun finished claims and retrain cached models")
    p.set_defaults(func=run)  # fmt: skip


def verdict_table(claims: list[dict]) -> str:
    """claim | measured headline | verdict, as aligned plain text."""
    from circuitlab.report.format import duration, headline

    rows = [("claim", "measured", "time", "verdict")]
    rows += [(c["id"], headline(c), duration(c.get("seconds")), c["verdict"].upper()) for c in claims]
    widths = [min(max(len(r[i]) for r in rows), 60) for i in range(4)]
    lines = ["  ".join(cell[:60].ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    n_pass = sum(c["verdict"] == "pass" for c in claims)
    lines.append(f"{n_pass}/{len(claims)} claims pass")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from circuitlab.experiments.run.runner import default_out_dir, reproduce
    from circuitlab.report import render_report

    corpus = _checked_corpus(args.corpus, args.only)  # a bad --corpus fails before the run folder exists
    out = check_out_dir(args.out if args.out is not None else default_out_dir())
    device = check_device(args.device)
    try:
        summary = reproduce(
            out, profile=args.profile, only=args.only, device=device, fresh=args.fresh, corpus=corpus,
            seed=args.seed, curriculum=args.curriculum,
        )  # fmt: skip
    finally:
        if (out / "results.json").is_file():
            report = render_report(out)
    print()
    print(verdict_table(list(summary.claims)))
    print(f"results: {summary.results_path}")
    print(f"report:  {report}")
    return summary.exit_code


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed {text!r}: give a whole number >= 0")
    return value


def _checked_corpus(corpus: str, only: list[str] | None) -> str:
    """``--corpus`` checked (DataError naming the fix) when a chosen claim trains on it."""
    from circuitlab.experiments import registry
    from circuitlab.experiments.run.corpus import check_corpus

    return check_corpus(corpus) if any(c.corpus for c in registry.select(only, registry.CLAIMS)) else corpus
