"""`dynadrop report DIR`: rebuild a comparison's report from its run directories."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynadrop.experiments.analysis import against, analyse, load_plan
from dynadrop.experiments.report import console_summary, write_report


def add_alpha_argument(parser: argparse.ArgumentParser) -> None:
    """``--alpha``: the significance level of the verdicts (Holm-adjusted over the schedules)."""
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of the verdicts, Holm-Bonferroni adjusted over all "
                        "schedules compared with the baseline (default 0.05); CIs are at 1 - alpha")


def run(args: argparse.Namespace) -> int:
    if (args.directory is None) == (args.out is None):
        raise ValueError("give the comparison directory once: dynadrop report DIR, or --out DIR")
    out_dir = Path(args.directory or args.out)
    if args.baseline is None and not args.schedules:
        print(console_summary(write_report(out_dir, alpha=args.alpha)))
        return 0
    plan = load_plan(out_dir)
    plan = against(plan, args.baseline or plan.baseline, args.schedules)
    report_dir = out_dir / "-".join(["against", plan.baseline, *args.schedules])
    analysis = write_report(report_dir, analyse(out_dir, plan, alpha=args.alpha))
    print(console_summary(analysis, report_dir))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="write the report of a comparison directory (markdown, JSON, CSV, plots)",
        description="Read every finished run of a `dynadrop compare` directory and write report.md "
        "(results table with verdicts against the baseline), summary.json, results.csv and "
        "plots/*.png there; print the results table. Works on a partial comparison too: "
        "unfinished and failed runs are listed. With --baseline or --schedules it re-reads the "
        "finished runs for another question (e.g. one schedule against the untuned fixed rate) and "
        "writes that report to DIR/against-BASELINE[-LABEL...]/, leaving DIR's own report as it is.",
    )
    parser.add_argument("directory", nargs="?", help="the --out directory of dynadrop compare")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="the same directory, spelled as for compare (give DIR or --out DIR)")
    parser.add_argument("--baseline", default=None, metavar="LABEL",
                        help="compare against this schedule instead of the comparison's baseline")
    parser.add_argument("--schedules", nargs="+", default=[], metavar="LABEL",
                        help="compare only these schedules with the baseline (the Holm family is "
                        "then these alone; name the ones you meant to test before looking)")
    add_alpha_argument(parser)
    parser.set_defaults(func=run)
