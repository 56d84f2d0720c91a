"""``circuitlab``: parse, call the library, print. Each subcommand lives in its own module.

A subcommand module exposes ``register(subparsers)``, which adds its parser and sets
``func(args) -> int`` as the default. Errors a user can cause print one line and exit 2;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import NoReturn

from circuitlab.errors import CircuitlabError

SUBCOMMANDS = ["train", "sample", "reproduce", "report", "export", "analyze"]


class OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line like every other error (``--help`` shows the usage).

    Subcommand parsers inherit the class, so ``circuitlab train transformer --positional alibi``
    prints ``circuitlab: error: argument --positional: invalid choice: 'alibi' (choose from ...)``.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"circuitlab: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="circuitlab",
        description="Build the canonical neural networks from their equations and take them apart.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"circuitlab.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"circuitlab.cli.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (CircuitlabError, ValueError, FileNotFoundError, PermissionError, OSError) as err:
        if args.debug:
            raise
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"circuitlab: error: {message}", file=sys.stderr)
        return 2
    except Exception as err:  # a bug, not bad input: still one line, the traceback behind --debug
        if args.debug:
            raise
        print(
            f"circuitlab: internal error: {type(err).__name__}: {err}; rerun with --debug for the "
            "traceback and report it",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
