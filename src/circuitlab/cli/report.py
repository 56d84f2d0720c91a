"""`circuitlab report RUN_DIR`: re-render report.html from results.json, no retraining."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "re-render RUN_DIR/report.html from RUN_DIR/results.json (no retraining)"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help=HELP, description=HELP.capitalize() + ".")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a folder written by `circuitlab reproduce`")
    p.add_argument(
        "--out", type=Path, default=None, metavar="FILE", help="where to write (default RUN_DIR/report.html)"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from circuitlab.report import render_report

    path = render_report(args.run_dir, out=args.out)
    print(f"report: {path}")
    return 0
