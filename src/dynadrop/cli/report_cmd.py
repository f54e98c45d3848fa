"""`dynadrop report DIR`: rebuild a comparison's report from its run directories."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynadrop.experiments.report import console_summary, write_report


def add_alpha_argument(parser: argparse.ArgumentParser) -> None:
    """``--alpha``: the significance level of the verdicts (Holm-adjusted over the schedules)."""
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the verdicts, Holm-Bonferroni adjusted over all "
                        "schedules compared with the baseline (default 0.05); CIs are at 1 - alpha")


def run(args: argparse.Namespace) -> int:
    if (args.directory is None) == (args.out is None):
        raise ValueError("give the comparison directory once: dynadrop report DIR, or --out DIR")
    analysis = write_report(Path(args.directory or args.out), alpha=args.alpha)
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
    parser.add_argument("directory", nargs="?", help="the --out directory of dynadrop compare")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="the same directory, spelled as for compare (give DIR or --out DIR)")
    add_alpha_argument(parser)
    parser.set_defaults(func=run)
