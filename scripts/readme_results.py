"""Copy the results of committed comparisons into the README, so its tables are the reports' own.

Between ``<!-- results: DIR -->`` and ``<!-- end results -->`` the README holds the "Results"
section of ``DIR/report.md`` (the table `dynadrop compare` prints, and the best validation loss
per seed). ``python3 scripts/readme_results.py`` rewrites those blocks; ``--check`` only says
whether they are stale (exit 1), which the tests use.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- results: (?P<dir>\S+) -->\n)(?P<body>.*?)(<!-- end results -->)", re.S)


def results_section(report: str) -> str:
    """The body of the report's ``## Results`` section, up to the next ``## `` heading."""
    match = re.search(r"^## Results\n(.*?)(?=^## )", report, re.S | re.M)
    if match is None:
        raise ValueError("the report has no '## Results' section")
    return match.group(1).strip() + "\n"


def regenerate(readme: str, root: Path = ROOT) -> str:
    """``readme`` with every results block replaced by its report's current Results section."""
    def fill(match: re.Match[str]) -> str:
        report = (root / match.group("dir") / "report.md").read_text(encoding="utf-8")
        return f"{match.group(1)}\n{results_section(report)}\n{match.group(4)}"
    return BLOCK.sub(fill, readme)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the README's blocks are stale")
    args = parser.parse_args(argv)
    path = ROOT / "README.md"
    current = path.read_text(encoding="utf-8")
    fresh = regenerate(current)
    if args.check:
        if fresh != current:
            print("README results are stale: run python3 scripts/readme_results.py", file=sys.stderr)
            return 1
        return 0
    path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
