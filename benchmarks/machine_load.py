"""The load check printed by the timing benchmarks: their figures are results only on an idle machine.

Run as a script, it exits 0 when the machine looks idle and 1 otherwise (cpu_performance.sh waits
on it between benchmarks).
"""

from __future__ import annotations

import os
import sys

IDLE_LOAD_PER_CPU = 0.25


def looks_idle(own_threads: int = 0) -> bool:
    """Whether the 1-minute load, less the ``own_threads`` this benchmark has just kept busy, is
    below 0.25 per CPU. The 5-minute load is not judged: it still counts work that ended minutes
    before the measurement (and the benchmark's own)."""
    return os.getloadavg()[0] - own_threads < IDLE_LOAD_PER_CPU * (os.cpu_count() or 1)


def load_line(own_threads: int = 0) -> str:
    """The 1- and 5-minute load averages and whether the machine looks idle (:func:`looks_idle`)."""
    one, five, _ = os.getloadavg()
    verdict = "idle" if looks_idle(own_threads) else "NOT IDLE: figures are indicative only"
    own = f", {own_threads} of it this benchmark's threads" if own_threads else ""
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count() or 1} CPUs{own}: {verdict}"


if __name__ == "__main__":
    sys.exit(0 if looks_idle() else 1)
