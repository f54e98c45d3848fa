"""A one-line progress display for a comparison: runs done, each running run's step, an ETA.

The ETA divides the steps still to train by the steps trained per second in this session
(resumed progress is not counted as speed). On a terminal the line is redrawn in place;
otherwise a line is printed when a run ends and at most every ``quiet_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TextIO

from dynadrop.experiments.plan import RunKey


class ProgressDisplay:
    """Tracks the runs of one comparison and writes their progress to ``stream`` (``None``: silent)."""

    def __init__(self, stream: TextIO | None, max_steps: dict[RunKey, int], already_done: Iterable[RunKey],
                 quiet_seconds: float = 30.0) -> None:
        self.stream = stream
        self.max_steps = max_steps
        self.done = set(already_done)
        self.failed: set[RunKey] = set()
        self.steps: dict[RunKey, int] = {}
        self.first_seen: dict[RunKey, int] = {}
        self.session_steps = 0
        self.started = time.monotonic()
        self.quiet_seconds = quiet_seconds
        self.last_print = float("-inf")
        self.interactive = bool(stream is not None and stream.isatty())

    def update(self, running_steps: dict[RunKey, int]) -> None:
        """New step counts of the running runs; redraws the line (or prints it when due)."""
        for key, step in running_steps.items():
            self.first_seen.setdefault(key, step)
            self.steps[key] = step
        self._show(force=False)

    def run_finished(self, key: RunKey) -> None:
        self._end(key, self.done, self.max_steps[key])
        self._show(force=True)

    def run_failed(self, key: RunKey, error: str) -> None:
        self._end(key, self.failed, self.steps.get(key, 0))
        self._write_line(f"run {key} failed: {error}")
        self._show(force=True)

    def close(self) -> None:
        if self.interactive and self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        total = len(self.max_steps)
        failed = f", {len(self.failed)} failed" if self.failed else ""
        parts = [f"runs {len(self.done)}/{total} done{failed}"]
        parts += [f"{key}: step {self.steps[key]}/{self.max_steps[key]}" for key in self.steps]
        eta = self.eta_seconds()
        parts.append("ETA " + (_duration(eta) if eta is not None else "?"))
        return " | ".join(parts)

    def eta_seconds(self) -> float | None:
        """Seconds left at this session's training speed; ``None`` until some steps were trained here."""
        trained = self.session_steps + sum(self.steps[k] - self.first_seen[k] for k in self.steps)
        elapsed = time.monotonic() - self.started
        if trained <= 0 or elapsed <= 0:
            return None
        ended = self.done | self.failed
        remaining = sum(steps for key, steps in self.max_steps.items() if key not in ended)
        remaining -= sum(self.steps.values())
        return max(remaining, 0) / (trained / elapsed)

    def _end(self, key: RunKey, bucket: set[RunKey], final_step: int) -> None:
        bucket.add(key)
        if key in self.steps:
            self.session_steps += max(final_step - self.first_seen.pop(key), 0)
            del self.steps[key]

    def _show(self, force: bool) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if self.interactive:
            self.stream.write("\r\033[K" + self.line())
            self.stream.flush()
        elif force or now - self.last_print >= self.quiet_seconds:
            self._write_line(self.line())
            self.last_print = now

    def _write_line(self, text: str) -> None:
        if self.stream is None:
            return
        prefix = "\r\033[K" if self.interactive else ""
        self.stream.write(prefix + text + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
