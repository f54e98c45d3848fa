"""`dynadrop theory <claim>`: reproduce one of Helmbold & Long's dropout claims (or all)."""

from __future__ import annotations

import argparse
from pathlib import Path

CLAIM_HELP = {
    "negative-weights": "x=(1,1), y=2: dropout's optimum needs a negative weight; training with "
    "dropout finds one, weight decay does not",
    "depth": "dropout penalty grows exponentially with depth, weight decay about linearly",
    "invariance": "three re-scalings leave the dropout criterion unchanged, not weight decay",
    "label-dependence": "a ReLU net's dropout penalty depends on the labels and can be negative",
    "zero-network": "weight decay zeroes a deep net at a finite strength; dropout only shrinks",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `theory` sub-command."""
    parser = subparsers.add_parser(
        "theory",
        help="reproduce a claim of Helmbold & Long (COLT 2017) about dropout",
        description="Reproduce a claim of Helmbold & Long, 'Surprising properties of dropout in "
        "deep networks' (COLT 2017): print a table of computed values next to their closed "
        "forms or bounds and write a PNG figure. 'all' runs every claim and writes report.md.",
        epilog="claims:\n"
        + "\n".join(f"  {name:17s} {text}" for name, text in CLAIM_HELP.items())
        + "\n  all               every claim, plus OUT/report.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("claim", choices=[*CLAIM_HELP, "all"], help="which claim to check")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("theory-report"),
        help="directory for the PNG figures and report.md (default: theory-report/)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the chosen claim(s), print their tables, save figures (and the report for 'all')."""
    from dynadrop.theory.report import run_claims, save_figure, write_report

    names = list(CLAIM_HELP) if args.claim == "all" else [args.claim]
    results = []
    for result in run_claims(names):
        print(result.to_text())
        print(f"figure: {save_figure(result, args.out)}\n")
        results.append(result)
    if args.claim == "all":
        print(f"report: {write_report(results, args.out)}")
    return 0
