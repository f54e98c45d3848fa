"""The load check printed by the timing benchmarks: their figures are results only on an idle machine."""

from __future__ import annotations

import os

IDLE_LOAD_PER_CPU = 0.25


def load_line() -> str:
    """The 1- and 5-minute load averages and whether they look idle (< 0.25 per CPU)."""
    one, five, _ = os.getloadavg()
    cpus = os.cpu_count() or 1
    verdict = "idle" if max(one, five) < IDLE_LOAD_PER_CPU * cpus else "NOT IDLE: figures are indicative only"
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {cpus} CPUs: {verdict}"
