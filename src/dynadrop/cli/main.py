"""Entry point of the `dynadrop` command: one sub-command per module in this package.

A user's mistake (a bad value, a missing or damaged file, a full disk, a busy run directory) is
one line on stderr and exit status 2, here for every command; a traceback is for bugs, or for
``--debug`` / ``DYNADROP_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence

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
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error (also: environment DYNADROP_DEBUG=1)")
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
    if args.debug or os.environ.get("DYNADROP_DEBUG", "") not in ("", "0"):
        return int(args.func(args) or 0)
    prefix = f"dynadrop {args.command}"
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning(prefix)
            return int(args.func(args) or 0)
    except (ValueError, OSError, ImportError) as error:  # bad input, files, a missing optional package
        print(f"{prefix}: error: {error_message(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130


def error_message(error: BaseException) -> str:
    """The text of a user error: an OSError's reason and file, without the ``[Errno N]`` prefix."""
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return str(error)


def _one_line_warning(prefix: str) -> Callable[..., None]:
    def show(message: Warning | str, category: type[Warning], *_: object, **__: object) -> None:
        print(f"{prefix}: warning: {message}", file=sys.stderr)

    return show


if __name__ == "__main__":
    sys.exit(main())
