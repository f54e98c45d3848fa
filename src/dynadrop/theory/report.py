"""Run claim checks, save their figures, and write the markdown report for `theory all`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from dynadrop.theory.claims import CLAIMS, ClaimResult


def save_figure(result: ClaimResult, out_dir: Path) -> Path:
    """Write ``<out_dir>/<claim>.png`` and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{result.name}.png"
    result.figure.savefig(path, dpi=110)
    return path


def write_report(results: Iterable[ClaimResult], out_dir: Path) -> Path:
    """Write ``<out_dir>/report.md`` (tables, findings, figures) atomically; return its path."""
    sections = [
        "# Dropout theory: Helmbold & Long's claims, reproduced",
        "Exact values enumerate every dropout mask (float64); each table puts the computed value "
        "next to its closed form or bound. Regenerate with `dynadrop theory all`.",
    ]
    for result in results:
        figure = save_figure(result, out_dir)
        sections.append(f"## {result.title}")
        sections.extend(table.to_markdown() for table in result.tables)
        sections.append(result.finding)
        sections.append(f"![{result.title}]({figure.name})")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "report.md"
    with tempfile.NamedTemporaryFile("w", dir=out_dir, suffix=".tmp", delete=False) as handle:
        handle.write("\n\n".join(sections) + "\n")
    os.replace(handle.name, path)
    return path


def run_claims(names: Iterable[str]) -> list[ClaimResult]:
    """Run the named claim checks with their default settings."""
    unknown = [name for name in names if name not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claim(s) {unknown}; choose from {', '.join(CLAIMS)}")
    return [CLAIMS[name]() for name in names]
