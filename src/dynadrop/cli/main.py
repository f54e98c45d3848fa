"""Entry point of the `dynadrop` command: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# Each module named here defines `register(subparsers)`, which adds its sub-command(s) and sets
# `func` on the parser to a callable taking the parsed namespace and returning an exit code.
COMMAND_MODULES: tuple[str, ...] = (
    "dynadrop.cli.inspect_cmd",
    "dynadrop.cli.demo_cmd",
    "dynadrop.cli.prepare_cmd",
    "dynadrop.cli.train_cmd",
    "dynadrop.cli.sample_cmd",
    "dynadrop.cli.compare_cmd",
    "dynadrop.cli.report_cmd",
    "dynadrop.cli.theory_cmd",
    "dynadrop.cli.penalty_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dynadrop",
        description="Dynamic dropout for PyTorch: schedule dropout rates while a model trains, "
        "and measure what dropout does to a network.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
