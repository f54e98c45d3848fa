"""The README defines every metric the comparison report shows."""

from __future__ import annotations

from pathlib import Path

from dynadrop.experiments.metrics import METRIC_TABLE

DOC = Path(__file__).resolve().parents[2] / "README.md"


def test_metrics_table_defines_every_metric():
    rows = [line for line in DOC.read_text().splitlines() if line.startswith("| ")]
    for info in METRIC_TABLE:
        assert any(f"(`{info.key}`)" in row for row in rows), f"{info.key} missing from the metrics table"
