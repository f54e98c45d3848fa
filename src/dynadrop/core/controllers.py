"""Controllers: dropout rates driven by feedback (a validation metric) rather than by time.

A controller owns a little state (current rate, best metric, patience and cooldown counters),
exposes it through ``state_dict()``, and can be called like a schedule to read its rate.
"""

from __future__ import annotations

import math
import re
import warnings
from abc import ABC, abstractmethod
from typing import Any, Literal

from dynadrop.core.rates import check_rate, format_rate, parse_rate
from dynadrop.core.specs import parse_float_option, split_body
from dynadrop.core.timing import check_progress


class Controller(ABC):
    """A stateful rate rule fed with a metric through :meth:`observe`."""

    monitor: str

    @property
    @abstractmethod
    def rate(self) -> float:
        """The current rate."""

    def __call__(self, step: int, total_steps: int) -> float:
        check_progress(step, total_steps)
        return self.rate

    @abstractmethod
    def observe(self, value: float) -> None:
        """Take one new value of the monitored metric (e.g. after each evaluation)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]: ...

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


Mode = Literal["min", "max"]
ThresholdMode = Literal["rel", "abs"]
NonFinite = Literal["raise", "skip"]

_DEFAULTS: dict[str, Any] = {
    "delta": 0.05,
    "factor": None,
    "mode": "min",
    "threshold": 0.0,
    "threshold_mode": "rel",
    "patience": 0,
    "cooldown": 0,
    "min_rate": 0.0,
    "max_rate": 0.5,
    "ema": 0.0,
    "monitor": "val_loss",
    "on_nonfinite": "raise",
}
_SPEC_KEYS = {"min_rate": "min", "max_rate": "max"}
# A metric name as trackers spell them (val_loss, val/loss, eval-loss): it must survive a spec string.
_METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")


class ValLossAdaptive(Controller):
    """Lower the rate while validation loss improves; raise it when it stalls.

    The vocabulary follows ``torch.optim.lr_scheduler.ReduceLROnPlateau``:

    - the metric is first smoothed: ``s = ema * s + (1 - ema) * value`` (``ema=0``: no smoothing);
    - it *improves* when it beats the best so far by more than ``threshold`` (relative:
      ``s < best * (1 - threshold)``; absolute: ``s < best - threshold``; mirrored for
      ``mode="max"``). The first observation only sets the baseline;
    - on an improvement the rate goes down by one step; after more than ``patience``
      observations in a row without one it goes up by one step;
    - a step is additive (``delta``) or multiplicative (``factor``: down ``rate * factor``,
      up ``rate / factor``), and the rate is kept within ``[min_rate, max_rate]``;
    - after a change, ``cooldown`` observations pass with no change.

    Non-finite metric values raise by default; ``on_nonfinite="skip"`` warns and ignores them.
    """

    name = "adaptive"

    def __init__(
        self,
        initial: float = 0.2,
        *,
        delta: float | None = 0.05,
        factor: float | None = None,
        mode: Mode = "min",
        threshold: float = 0.0,
        threshold_mode: ThresholdMode = "rel",
        patience: int = 0,
        cooldown: int = 0,
        min_rate: float = 0.0,
        max_rate: float = 0.5,
        ema: float = 0.0,
        monitor: str = "val_loss",
        on_nonfinite: NonFinite = "raise",
    ) -> None:
        self.initial = check_rate(initial, "adaptive initial rate")
        self.min_rate = check_rate(min_rate, "adaptive min_rate")
        self.max_rate = check_rate(max_rate, "adaptive max_rate")
        if not self.min_rate <= self.initial <= self.max_rate:
            raise ValueError(
                f"adaptive initial rate {initial!r} must lie within [min_rate, max_rate] = "
                f"[{min_rate!r}, {max_rate!r}]"
            )
        if factor is not None:
            delta = None
            if not (0.0 < factor < 1.0):
                raise ValueError(f"adaptive factor must lie in (0, 1), got {factor!r}")
            if self.initial == 0.0:
                raise ValueError("multiplicative steps (factor=...) cannot move a rate of 0")
        elif delta is None or not (0.0 < delta < 1.0):
            raise ValueError(f"adaptive delta must lie in (0, 1), got {delta!r}")
        if mode not in ("min", "max"):
            raise ValueError(f"adaptive mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        if not (math.isfinite(threshold) and threshold >= 0.0):
            raise ValueError(f"adaptive threshold must be >= 0, got {threshold!r}")
        for key, count in (("patience", patience), ("cooldown", cooldown)):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ValueError(f"adaptive {key} must be an int >= 0, got {count!r}")
        if not (0.0 <= ema < 1.0):
            raise ValueError(f"adaptive ema must lie in [0, 1), got {ema!r}")
        if on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
        if not isinstance(monitor, str) or not _METRIC_NAME.fullmatch(monitor):
            raise ValueError(f"adaptive monitor must be a metric name (letters, digits, _ . / -, not "
                             f"starting with a digit), got {monitor!r}")
        self.delta, self.factor, self.mode = delta, factor, mode
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.patience, self.cooldown, self.ema = patience, cooldown, float(ema)
        self.monitor, self.on_nonfinite = monitor, on_nonfinite
        self.reset()

    def reset(self) -> None:
        """Forget every observation and go back to the initial rate."""
        self._rate = self.initial
        self.best: float | None = None
        self.smoothed: float | None = None
        self.num_bad = 0
        self.cooldown_left = 0
        self.num_observed = 0

    @property
    def rate(self) -> float:
        return self._rate

    def observe(self, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):
            message = f"{self.monitor} is {value!r}: a validation-driven dropout rate needs a finite metric"
            if self.on_nonfinite == "raise":
                raise ValueError(message + " (pass on_nonfinite='skip' to ignore such values)")
            warnings.warn(message + "; skipped", RuntimeWarning, stacklevel=2)
            return
        self.num_observed += 1
        s = value if self.smoothed is None else self.ema * self.smoothed + (1 - self.ema) * value
        self.smoothed = s
        if self.best is None:
            self.best = s
            return
        improved = self._is_improvement(s, self.best)
        if improved:
            self.best = s
            self.num_bad = 0
        else:
            self.num_bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.num_bad = 0
            return
        if improved:
            self._move(down=True)
        elif self.num_bad > self.patience:
            self._move(down=False)
            self.num_bad = 0

    def _is_improvement(self, value: float, best: float) -> bool:
        sign = 1.0 if self.mode == "min" else -1.0
        if self.threshold_mode == "rel":
            margin = abs(best) * self.threshold
        else:
            margin = self.threshold
        return sign * (best - value) > margin

    def _move(self, down: bool) -> None:
        if self.factor is not None:
            target = self._rate * self.factor if down else self._rate / self.factor
        else:
            target = self._rate - self.delta if down else self._rate + self.delta
        # rounding stops additive steps from drifting (0.30000000000000004, 2e-17 instead of 0)
        new_rate = round(min(max(target, self.min_rate), self.max_rate), 12)
        if new_rate != self._rate:
            self._rate = new_rate
            self.cooldown_left = self.cooldown

    def state_dict(self) -> dict[str, Any]:
        return {
            "rate": self._rate,
            "best": self.best,
            "smoothed": self.smoothed,
            "num_bad": self.num_bad,
            "cooldown_left": self.cooldown_left,
            "num_observed": self.num_observed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rate = check_rate(state["rate"], "saved adaptive rate")
        self.best, self.smoothed = state["best"], state["smoothed"]
        self.num_bad, self.cooldown_left = state["num_bad"], state["cooldown_left"]
        self.num_observed = state["num_observed"]

    def config(self) -> dict[str, Any]:
        """The constructor arguments, for equality and the spec string."""
        names = ("initial", *_DEFAULTS)
        return {name: getattr(self, name) for name in names}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValLossAdaptive):
            return NotImplemented
        return self.config() == other.config()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"ValLossAdaptive({args})"

    def __str__(self) -> str:
        config = self.config()
        parts = [format_rate(config.pop("initial"))]
        if config["factor"] is not None:
            config.pop("delta")
        for key, value in config.items():
            if key == "delta" or value != _DEFAULTS[key]:
                parts.append(f"{_SPEC_KEYS.get(key, key)}={value}")
        return f"{self.name}:" + ",".join(parts)

    @classmethod
    def from_body(cls, body: str) -> ValLossAdaptive:
        spec_to_arg = {_SPEC_KEYS.get(key, key): key for key in _DEFAULTS}
        (initial,), options = split_body(body, cls.name, positional=1, options=tuple(spec_to_arg))
        kwargs: dict[str, Any] = {}
        for spec_key, text in options.items():
            arg = spec_to_arg[spec_key]
            default = _DEFAULTS[arg]
            if arg in ("mode", "threshold_mode", "monitor", "on_nonfinite"):
                kwargs[arg] = text
            elif arg in ("patience", "cooldown"):
                try:
                    kwargs[arg] = int(text)
                except ValueError:
                    raise ValueError(f"adaptive: {spec_key}={text!r} is not an int") from None
            else:
                kwargs[arg] = parse_float_option(options, spec_key, cls.name, default)
        return cls(parse_rate(initial, "adaptive initial rate"), **kwargs)
