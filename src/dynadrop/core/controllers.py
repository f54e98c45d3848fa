"""Controllers: dropout rates driven by feedback (observed metrics) rather than by time.

A controller owns a little state (current rate, smoothed signal, counters), exposes it through
``state_dict()``, names the metrics it reads in ``signals``, and can be called like a schedule
to read its rate. :class:`SpecController` gives the rules that have a spec string their
equality, printing and parsing; :class:`ValLossAdaptive` is the validation-loss rule.
"""

from __future__ import annotations

import inspect
import math
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from dynadrop.core.rates import check_rate, format_rate, parse_rate
from dynadrop.core.specs import parse_float_option, split_body
from dynadrop.core.timing import check_progress

NonFinite = Literal["raise", "skip"]


class Controller(ABC):
    """A stateful rate rule fed with metrics through :meth:`observe`.

    ``signals`` names the metrics ``observe`` reads (default: the one named ``monitor``);
    ``monitor`` names the validation metric among them (a framework callback's plain
    ``monitor=`` string says under which name that one is logged).
    """

    monitor: str = "val_loss"

    @property
    def signals(self) -> tuple[str, ...]:
        """The metric names :meth:`observe` takes, e.g. ``("val_loss",)``."""
        return (self.monitor,)

    @property
    @abstractmethod
    def rate(self) -> float:
        """The current rate."""

    def __call__(self, step: int, total_steps: int) -> float:
        check_progress(step, total_steps)
        return self.rate

    @abstractmethod
    def observe(self, *args: float, **metrics: float) -> None:
        """Take one new value of each signal (e.g. after each evaluation), by name; the scheduler
        passes a controller of one signal its value positionally when ``observe`` names no such
        keyword (``def observe(self, value)`` works)."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]: ...

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def feed(controller: Controller, signals: Mapping[str, float]) -> None:
    """``controller.observe`` with ``signals`` by name, or with the one value positionally when its
    ``observe`` takes no such keyword (a subclass written as ``observe(self, value)``)."""
    parameters = inspect.signature(controller.observe).parameters.values()
    takes_any_keyword = any(parameter.kind is parameter.VAR_KEYWORD for parameter in parameters)
    keywords = {parameter.name for parameter in parameters
                if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)}
    if takes_any_keyword or set(signals) <= keywords or len(signals) != 1:
        controller.observe(**signals)
    else:
        controller.observe(*signals.values())


def pick_signals(controller: Controller, metrics: Mapping[str, float]) -> dict[str, float]:
    """The controller's signals out of ``metrics`` as floats; a missing one is a ValueError."""
    missing = [name for name in controller.signals if name not in metrics]
    if missing:
        raise ValueError(
            f"{controller} reads {', '.join(controller.signals)} but was not given "
            f"{', '.join(missing)} (given: {', '.join(sorted(metrics)) or 'nothing'})"
        )
    return {name: float(metrics[name]) for name in controller.signals}


def smooth(previous: float | None, value: float, ema: float) -> float:
    """One EMA step ``ema * previous + (1 - ema) * value``; the first value starts it."""
    return value if previous is None else ema * previous + (1 - ema) * value


class SpecController(Controller):
    """A controller built from ``initial`` plus the options in ``defaults`` (in spec order).

    Subclasses set ``name``, ``defaults``, which options are ints (``int_options``) or text
    (``text_options``, the rest are floats), and which are always printed (``shown``).
    Equality, ``repr``, the spec string and :meth:`from_body` follow from those tables, so
    ``parse_schedule(str(c)) == c``.
    """

    name: ClassVar[str]
    defaults: ClassVar[dict[str, Any]]
    int_options: ClassVar[frozenset[str]] = frozenset()
    text_options: ClassVar[frozenset[str]] = frozenset({"on_nonfinite"})
    shown: ClassVar[frozenset[str]] = frozenset()
    spec_keys: ClassVar[dict[str, str]] = {"min_rate": "min", "max_rate": "max"}

    initial: float
    on_nonfinite: NonFinite
    num_observed: int
    _rate: float

    def config(self) -> dict[str, Any]:
        """The constructor arguments, for equality and the spec string."""
        return {name: getattr(self, name) for name in ("initial", *self.defaults)}

    def spec_options(self) -> dict[str, Any]:
        """The options the spec string prints: those always shown and those not at default."""
        config = self.config()
        config.pop("initial")
        return {key: value for key, value in config.items()
                if key in self.shown or value != self.defaults[key]}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.config() == other.config()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self.config().items())
        return f"{type(self).__name__}({args})"

    def __str__(self) -> str:
        parts = [format_rate(self.initial)]
        parts += [f"{self.spec_keys.get(key, key)}={value}" for key, value in self.spec_options().items()]
        return f"{self.name}:" + ",".join(parts)

    @classmethod
    def from_body(cls, body: str) -> SpecController:
        spec_to_arg = {cls.spec_keys.get(key, key): key for key in cls.defaults}
        (initial,), options = split_body(body, cls.name, positional=1, options=tuple(spec_to_arg))
        kwargs: dict[str, Any] = {}
        for spec_key, text in options.items():
            arg = spec_to_arg[spec_key]
            if arg in cls.text_options:
                kwargs[arg] = text
            elif arg in cls.int_options:
                try:
                    kwargs[arg] = int(text)
                except ValueError:
                    raise ValueError(f"{cls.name}: {spec_key}={text!r} is not an int") from None
            else:
                kwargs[arg] = parse_float_option(options, spec_key, cls.name, cls.defaults[arg])
        return cls(parse_rate(initial, f"{cls.name} initial rate"), **kwargs)

    def _check_bounds(self, initial: float, min_rate: float, max_rate: float) -> None:
        """Set ``initial``, ``min_rate`` and ``max_rate`` after checking min <= initial <= max."""
        self.initial = check_rate(initial, f"{self.name} initial rate")
        self.min_rate = check_rate(min_rate, f"{self.name} min_rate")
        self.max_rate = check_rate(max_rate, f"{self.name} max_rate")
        if not self.min_rate <= self.initial <= self.max_rate:
            raise ValueError(
                f"{self.name} initial rate {initial!r} must lie within [min_rate, max_rate] = "
                f"[{min_rate!r}, {max_rate!r}]"
            )

    def _check_common(self, ema: float, on_nonfinite: str) -> None:
        """Set ``ema`` and ``on_nonfinite`` after checking them."""
        if not (0.0 <= ema < 1.0):
            raise ValueError(f"{self.name} ema must lie in [0, 1), got {ema!r}")
        if on_nonfinite not in ("raise", "skip"):
            raise ValueError(f"on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
        self.ema, self.on_nonfinite = float(ema), on_nonfinite

    @property
    def rate(self) -> float:
        return self._rate

    def _read(self, metrics: Mapping[str, float]) -> dict[str, float] | None:
        """The signals out of ``metrics``, counted as one observation; ``None`` (not counted)
        when one is not finite and ``on_nonfinite="skip"`` (warned), a ValueError otherwise."""
        values = pick_signals(self, metrics)
        for name, value in values.items():
            if not math.isfinite(value):
                message = f"{name} is {value!r}: a feedback-driven dropout rate needs a finite metric"
                if self.on_nonfinite == "raise":
                    raise ValueError(message + " (pass on_nonfinite='skip' to ignore such values)")
                warnings.warn(message + "; skipped", RuntimeWarning, stacklevel=3)
                return None
        self.num_observed += 1
        return values

    def _clamp(self, rate: float) -> float:
        """``rate`` within ``[min_rate, max_rate]``, rounded so steps do not drift (2e-17 for 0)."""
        return round(min(max(rate, self.min_rate), self.max_rate), 12)


Mode = Literal["min", "max"]
ThresholdMode = Literal["rel", "abs"]
# A metric name as trackers spell them (val_loss, val/loss, eval-loss): it must survive a spec string.
_METRIC_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*")


class ValLossAdaptive(SpecController):
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

    ``observe(value)`` or ``observe(val_loss=value)`` (the keyword is ``monitor``). Non-finite
    metric values raise by default; ``on_nonfinite="skip"`` warns and ignores them.
    """

    name = "adaptive"
    defaults: ClassVar[dict[str, Any]] = {
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
    int_options = frozenset({"patience", "cooldown"})
    text_options = frozenset({"mode", "threshold_mode", "monitor", "on_nonfinite"})

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
        self._check_bounds(initial, min_rate, max_rate)
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
            check_count(f"adaptive {key}", count)
        self._check_common(ema, on_nonfinite)
        if not isinstance(monitor, str) or not _METRIC_NAME.fullmatch(monitor):
            raise ValueError(f"adaptive monitor must be a metric name (letters, digits, _ . / -, not "
                             f"starting with a digit), got {monitor!r}")
        self.delta, self.factor, self.mode = delta, factor, mode
        self.threshold, self.threshold_mode = float(threshold), threshold_mode
        self.patience, self.cooldown = patience, cooldown
        self.monitor = monitor
        self.reset()

    def reset(self) -> None:
        """Forget every observation and go back to the initial rate."""
        self._rate = self.initial
        self.best: float | None = None
        self.smoothed: float | None = None
        self.num_bad = 0
        self.cooldown_left = 0
        self.num_observed = 0

    def observe(self, value: float | None = None, /, **metrics: float) -> None:
        values = self._read(metrics if value is None else {self.monitor: value})
        if values is None:
            return
        s = smooth(self.smoothed, values[self.monitor], self.ema)
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
        new_rate = self._clamp(target)
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

    def spec_options(self) -> dict[str, Any]:
        """Always the step (``delta``, or ``factor`` when given), else the non-default options."""
        options = super().spec_options()
        if self.factor is None:
            return {"delta": self.delta, **options}
        options.pop("delta", None)
        return options


def check_count(what: str, count: int) -> int:
    """``count`` if it is an int >= 0, else a ValueError naming ``what``."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise ValueError(f"{what} must be an int >= 0, got {count!r}")
    return count
