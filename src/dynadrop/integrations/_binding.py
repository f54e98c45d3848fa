"""What both framework callbacks share: a scheduler configured up front, bound to the model when
training starts (only then are the model and the number of optimizer steps known), the choice of
metrics each feedback-driven schedule reads, and the names under which rates are logged."""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from dynadrop.core.controllers import Controller
from dynadrop.core.parse import RateRule
from dynadrop.core.scheduler import DepthProfile, DropoutScheduler

RATE_LOG_PREFIX = "dropout/"

ScheduleArg = RateRule | str | float | Mapping[str, RateRule | str | float]
# A plain name is where the validation metric is logged; a mapping gives signal -> logged name.
MonitorArg = str | Mapping[str, str] | None


class SchedulerBinding:
    """A :class:`DropoutScheduler` waiting for its model, with checkpoint state that may arrive
    before the model does (frameworks restore callbacks before or after training starts)."""

    def __init__(
        self,
        owner: str,
        schedule: ScheduleArg,
        total_steps: int | None,
        monitor: MonitorArg,
        depth_profile: DepthProfile,
        group_rules: Mapping[str, str] | Sequence[tuple[str, str]] | None,
    ) -> None:
        if total_steps is not None:
            check_total_steps(total_steps, "total_steps")
        if not (monitor is None or isinstance(monitor, str) or (
                isinstance(monitor, Mapping) and all(isinstance(v, str) for v in monitor.values()))):
            raise TypeError(f"{owner}: monitor must be a metric name or a mapping signal -> logged "
                            f"metric name, got {monitor!r}")
        self.owner = owner
        self.schedule = schedule
        self.total_steps = total_steps
        self.monitor = monitor
        self.depth_profile = depth_profile
        self.group_rules = group_rules
        self.scheduler: DropoutScheduler | None = None
        self._pending_state: Mapping[str, Any] | None = None
        self._warned_missing: set[str] = set()

    def bind(self, model: nn.Module, inferred_total_steps: float, source: str) -> DropoutScheduler:
        """Build the scheduler for ``model`` (applying step-0 rates, then any restored state)."""
        total_steps = self.total_steps
        if total_steps is None:
            total_steps = check_total_steps(inferred_total_steps, source)
        self.scheduler = DropoutScheduler(
            model, self.schedule, total_steps, depth_profile=self.depth_profile,
            group_rules=self.group_rules, sync_metrics=False,  # the framework agrees across ranks
        )
        if self._pending_state is not None:
            self.scheduler.load_state_dict(self._pending_state)
            self._pending_state = None
        return self.scheduler

    def state_dict(self) -> dict[str, Any]:
        return {"scheduler": self.scheduler.state_dict()} if self.scheduler is not None else {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore now if bound, else when :meth:`bind` runs."""
        scheduler_state = state.get("scheduler")
        if scheduler_state is None:
            return
        if self.scheduler is None:
            self._pending_state = scheduler_state
        else:
            self.scheduler.load_state_dict(scheduler_state)

    def rate_logs(self) -> dict[str, float]:
        """The current rate of each group, keyed ``dropout/<group>``."""
        if self.scheduler is None:
            return {}
        return {RATE_LOG_PREFIX + group: rate for group, rate in self.scheduler.rates.items()}

    def source(self, controller: Controller, signal: str) -> str:
        """The logged name a controller's signal is read from.

        A mapping ``monitor`` names it per signal (signals it leaves out are read under their own
        name); a plain string names the controller's validation metric (its ``monitor``).
        """
        if isinstance(self.monitor, Mapping):
            return self.monitor.get(signal, signal)
        if isinstance(self.monitor, str) and signal == controller.monitor:
            return self.monitor
        return signal

    def monitored_metrics(self, metrics: Mapping[str, Any]) -> dict[str, Any]:
        """``{signal: value}`` for each signal a controller reads, taken from ``metrics`` under
        its :meth:`source` name; a missing one maps to ``None`` (the controller holds its rate)
        and is warned about once."""
        if self.scheduler is None:
            return {}
        found: dict[str, Any] = {}
        for controller in self.scheduler.controllers.values():
            for signal in controller.signals:
                key = self.source(controller, signal)
                if key in metrics:
                    found[signal] = metrics[key]
                    continue
                found.setdefault(signal, None)
                if key not in self._warned_missing:
                    self._warned_missing.add(key)
                    warnings.warn(
                        f"{self.owner}: the feedback-driven schedule {controller} monitors {key!r} "
                        f"(its {signal}), but the metrics hold only {sorted(metrics)}; its rate "
                        f"stays at {controller.rate:g} until {key!r} appears (log it, or pass "
                        "monitor=...)",
                        UserWarning,
                        stacklevel=3,
                    )
        return found


def check_total_steps(value: float, source: str) -> int:
    """``value`` as a positive int number of optimizer steps, or a ValueError naming its source."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value != int(value) or value <= 0:
        raise ValueError(
            f"{source} must be a positive whole number of optimizer steps, got {value!r}; "
            "pass total_steps=... to the callback"
        )
    return int(value)
