"""The load check printed by the timing benchmarks: their figures are results only on an idle machine."""

from __future__ import annotations

import os

IDLE_LOAD_PER_CPU = 0.25


def load_line(own_threads: int = 0) -> str:
    """The 1- and 5-minute load averages and whether the machine looks idle.

    Idle means the 1-minute load, less the ``own_threads`` this benchmark has just kept busy,
    is below 0.25 per CPU: the 5-minute figure is printed but not judged, since it still counts
    work that ended minutes before the measurement (and the benchmark's own).
    """
    one, five, _ = os.getloadavg()
    cpus = os.cpu_count() or 1
    others = one - own_threads
    verdict = "idle" if others < IDLE_LOAD_PER_CPU * cpus else "NOT IDLE: figures are indicative only"
    own = f", {own_threads} of it this benchmark's threads" if own_threads else ""
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {cpus} CPUs{own}: {verdict}"
