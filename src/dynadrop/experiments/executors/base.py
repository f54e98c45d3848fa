"""The executor seam: a run to start (:class:`RunTask`), how it ended (:class:`Ended`), the interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dynadrop.experiments.plan import RunKey


class ExecutorUnavailable(ImportError):
    """An executor's optional dependency is missing; the message says how to install it."""


@dataclass(frozen=True)
class RunTask:
    """One run to execute: the workload module, its config, and the comparison directory it belongs to.

    ``options`` are extra keyword arguments of the workload's ``execute`` (e.g. experiment
    trackers): they do not change what the run computes, so they are not in ``request.json``.
    """

    key: RunKey
    workload: str
    config: dict[str, Any]
    out_dir: Path
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        """The run's directory on the driver, where its results must end up."""
        return self.out_dir / self.key.relative_dir


@dataclass(frozen=True)
class Ended:
    """A run that stopped. ``failure`` explains a run that died without recording its own outcome."""

    key: RunKey
    failure: str | None = None


class Executor(ABC):
    """Starts runs, reports their ends, and cancels the rest; the runner does everything else.

    When :meth:`poll` reports a run, its small files (summary, metrics, ``record.json`` or
    ``failure.json``, log) are in the driver's run directory, wherever the run was executed.
    """

    @abstractmethod
    def has_room(self) -> bool:
        """Whether :meth:`submit` may be called now."""

    @abstractmethod
    def submit(self, task: RunTask) -> None:
        """Start ``task`` (or queue it with the executor's scheduler)."""

    @abstractmethod
    def running(self) -> list[RunKey]:
        """Runs submitted and not yet reported by :meth:`poll`."""

    @abstractmethod
    def poll(self, timeout: float) -> list[Ended]:
        """Runs that ended since the last call, waiting up to ``timeout`` seconds for one."""

    @abstractmethod
    def steps(self) -> dict[RunKey, int]:
        """The latest known step of each running run (for the progress line)."""

    @abstractmethod
    def shutdown(self) -> None:
        """Stop every run still going (they stay interrupted, to resume) and release resources."""
