"""`dynadrop report DIR`: rebuild a comparison's report from its run directories."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dynadrop.experiments.report import console_summary, write_report


def add_alpha_argument(parser: argparse.ArgumentParser) -> None:
    """``--alpha``: the significance level of the verdicts (Holm-adjusted over the schedules)."""
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the verdicts, Holm-Bonferroni adjusted over all "
                        "schedules compared with the baseline (default 0.05); CIs are at 1 - alpha")


def run(args: argparse.Namespace) -> int:
    try:
        analysis = write_report(Path(args.directory), alpha=args.alpha)
    except (FileNotFoundError, ValueError) as error:
        print(f"dynadrop report: error: {error}", file=sys.stderr)
        return 2
    print(console_summary(analysis))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the report of a comparison directory (markdown, JSON, CSV, plots)",
        description="Read every finished run of a `dynadrop compare` directory and write report.md "
        "(results table with verdicts against the baseline), summary.json, results.csv and "
        "plots/*.png there; print the results table. Works on a partial comparison too: "
        "unfinished and failed runs are listed.",
    )
    parser.add_argument("directory", help="the --out directory of dynadrop compare")
    add_alpha_argument(parser)
    parser.set_defaults(func=run)
