"""Controllers fed by more than validation loss: the generalisation gap, and a weighted mix.

``GapAdaptive`` holds the generalisation gap (validation loss minus training loss, both
measured in eval mode) at a target by proportional-integral control of the rate: more dropout
while the model overfits more than wanted, less while it does not. ``CompositeAdaptive`` sets
the rate from several signals at once, each with an explicit weight.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal

from dynadrop.core.controllers import NonFinite, SpecController, check_count, smooth
from dynadrop.core.rates import check_rate

TargetMode = Literal["abs", "rel"]


def _check_finite(what: str, value: float, allowed: str = "any finite number") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} must be {allowed}, got {value!r}")
    return float(value)


class GapAdaptive(SpecController):
    """Drive the rate so that the generalisation gap settles at ``target``.

    Each observation takes ``train_loss`` and ``val_loss`` (both eval mode, on fixed batches):

    - the signal is the gap ``val_loss - train_loss`` (``target_mode="abs"``), or the gap as a
      fraction of ``val_loss`` (``"rel"``), smoothed as ``s = ema * s + (1 - ema) * signal``;
    - the error ``e = s - target`` is positive when the model overfits more than wanted;
    - the rate is ``initial + kp * e + ki * sum(e)``, kept within ``[min_rate, max_rate]``.
      Anti-windup: the sum is clamped so that ``ki * sum(e)`` alone stays within
      ``[min_rate - initial, max_rate - initial]``, so a long saturation is undone at once
      when the error changes sign;
    - the first ``warmup`` observations are only counted: the rate holds at ``initial`` and
      they enter neither the smoothing nor the sum (an untrained model has no gap to read).

    Non-finite losses raise by default; ``on_nonfinite="skip"`` warns and ignores them.
    """

    name = "gap"
    signals = ("train_loss", "val_loss")  # type: ignore[assignment]
    defaults: ClassVar[dict[str, Any]] = {
        "target": 0.1,
        "target_mode": "abs",
        "kp": 0.25,
        "ki": 0.1,
        "ema": 0.0,
        "warmup": 0,
        "min_rate": 0.0,
        "max_rate": 0.5,
        "on_nonfinite": "raise",
    }
    int_options = frozenset({"warmup"})
    text_options = frozenset({"target_mode", "on_nonfinite"})
    shown = frozenset({"target", "kp", "ki"})

    def __init__(
        self,
        initial: float = 0.2,
        *,
        target: float = 0.1,
        target_mode: TargetMode = "abs",
        kp: float = 0.25,
        ki: float = 0.1,
        ema: float = 0.0,
        warmup: int = 0,
        min_rate: float = 0.0,
        max_rate: float = 0.5,
        on_nonfinite: NonFinite = "raise",
    ) -> None:
        self._check_bounds(initial, min_rate, max_rate)
        if target_mode not in ("abs", "rel"):
            raise ValueError(f"gap target_mode must be 'abs' or 'rel', got {target_mode!r}")
        self.target = _check_finite("gap target", target)
        self.kp = _check_finite("gap kp", kp, "a finite number >= 0")
        self.ki = _check_finite("gap ki", ki, "a finite number >= 0")
        if self.kp < 0 or self.ki < 0 or self.kp == self.ki == 0:
            raise ValueError(f"gap kp and ki must be >= 0 and not both 0, got kp={kp!r}, ki={ki!r}")
        self.target_mode = target_mode
        self.warmup = check_count("gap warmup", warmup)
        self._check_common(ema, on_nonfinite)
        self.reset()

    def reset(self) -> None:
        """Forget every observation and go back to the initial rate."""
        self._rate = self.initial
        self.smoothed: float | None = None
        self.integral = 0.0
        self.num_observed = 0

    def observe(self, **metrics: float) -> None:
        """Take ``train_loss=`` and ``val_loss=`` (other keywords are ignored)."""
        values = self._read(metrics)
        if values is None or self.num_observed <= self.warmup:
            return
        gap = values["val_loss"] - values["train_loss"]
        if self.target_mode == "rel":
            if values["val_loss"] <= 0:
                raise ValueError(f"gap target_mode='rel' divides by val_loss, which is "
                                 f"{values['val_loss']!r}; it must be > 0 (or use 'abs')")
            gap /= values["val_loss"]
        self.smoothed = smooth(self.smoothed, gap, self.ema)
        error = self.smoothed - self.target
        self.integral = self._unwound(self.integral + error)
        self._rate = self._clamp(self.initial + self.kp * error + self.ki * self.integral)

    def _unwound(self, integral: float) -> float:
        if self.ki == 0:
            return 0.0
        low = (self.min_rate - self.initial) / self.ki
        high = (self.max_rate - self.initial) / self.ki
        return min(max(integral, low), high)

    def state_dict(self) -> dict[str, Any]:
        return {"rate": self._rate, "smoothed": self.smoothed, "integral": self.integral,
                "num_observed": self.num_observed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rate = check_rate(state["rate"], "saved gap rate")
        self.smoothed, self.integral = state["smoothed"], float(state["integral"])
        self.num_observed = int(state["num_observed"])


# What each composite term reads: its weight's option name -> the signals it needs.
_TERM_SIGNALS: dict[str, tuple[str, ...]] = {
    "gap": ("train_loss", "val_loss"),
    "trend": ("val_loss",),
    "grad_norm": ("grad_norm",),
    "lr": ("lr",),
}


class CompositeAdaptive(SpecController):
    """A rate set from several signals, each with its own weight (0: not read).

    ``rate = initial + gap * (s_gap - target) + trend * (s_val / s_val_before - 1)
    + grad_norm * log(s_grad / s_grad_first) + lr * (lr / lr_max - 1)``, kept within
    ``[min_rate, max_rate]``, where ``s_*`` are EMA-smoothed (``ema``) signals:

    - ``gap``: the generalisation gap ``val_loss - train_loss`` above ``target`` (positive
      weight: more dropout while overfitting);
    - ``trend``: the relative change of smoothed validation loss since the last observation
      (positive weight: more dropout while it rises); 0 at the first observation;
    - ``grad_norm``: the log ratio of the smoothed gradient norm to its first value;
    - ``lr``: the learning rate relative to the largest seen so far (``lr/lr_max - 1`` is 0 at
      the peak and -1 at lr 0: a weight equal to ``initial`` makes the rate follow the lr).

    Every term is 0 at its reference point, so ``initial`` is the rate when nothing deviates.
    ``observe`` takes exactly the signals of the terms with a non-zero weight (``signals``).
    """

    name = "composite"
    defaults: ClassVar[dict[str, Any]] = {
        "gap": 0.0,
        "trend": 0.0,
        "grad_norm": 0.0,
        "lr": 0.0,
        "target": 0.0,
        "ema": 0.0,
        "min_rate": 0.0,
        "max_rate": 0.5,
        "on_nonfinite": "raise",
    }

    def __init__(
        self,
        initial: float = 0.2,
        *,
        gap: float = 0.0,
        trend: float = 0.0,
        grad_norm: float = 0.0,
        lr: float = 0.0,
        target: float = 0.0,
        ema: float = 0.0,
        min_rate: float = 0.0,
        max_rate: float = 0.5,
        on_nonfinite: NonFinite = "raise",
    ) -> None:
        self._check_bounds(initial, min_rate, max_rate)
        weights = {"gap": gap, "trend": trend, "grad_norm": grad_norm, "lr": lr}
        for term, weight in weights.items():
            setattr(self, term, _check_finite(f"composite weight {term}", weight))
        if not any(weights.values()):
            raise ValueError(f"composite needs a non-zero weight for at least one of "
                             f"{', '.join(weights)}, got all 0")
        self.weights = {term: float(w) for term, w in weights.items() if w != 0}
        self.target = _check_finite("composite target", target)
        self._check_common(ema, on_nonfinite)
        self.reset()

    @property
    def signals(self) -> tuple[str, ...]:  # type: ignore[override]
        needed = (name for term in self.weights for name in _TERM_SIGNALS[term])
        return tuple(dict.fromkeys(needed))

    def reset(self) -> None:
        """Forget every observation and go back to the initial rate."""
        self._rate = self.initial
        self.smoothed: dict[str, float] = {}
        self.val_before: float | None = None
        self.grad_first: float | None = None
        self.lr_max = 0.0
        self.num_observed = 0

    def observe(self, **metrics: float) -> None:
        """Take the keywords named in ``signals`` (other keywords are ignored)."""
        if metrics.get("grad_norm", 1.0) <= 0 and "grad_norm" in self.signals:
            raise ValueError(f"composite reads log(grad_norm), so grad_norm must be > 0, "
                             f"got {metrics['grad_norm']!r}")
        raw = self._read(metrics)
        if raw is None:
            return
        if "val_loss" in raw and "train_loss" in raw:
            raw["gap"] = raw["val_loss"] - raw["train_loss"]
        for name in ("gap", "val_loss", "grad_norm"):
            if name in raw:
                self.smoothed[name] = smooth(self.smoothed.get(name), raw[name], self.ema)
        terms = {term: self._term(term, raw) for term in self.weights}
        if "val_loss" in self.smoothed:
            self.val_before = self.smoothed["val_loss"]
        self._rate = self._clamp(self.initial + sum(self.weights[t] * v for t, v in terms.items()))

    def _term(self, term: str, raw: dict[str, float]) -> float:
        if term == "gap":
            return self.smoothed["gap"] - self.target
        if term == "trend":
            before = self.val_before
            return 0.0 if not before else self.smoothed["val_loss"] / before - 1.0
        if term == "grad_norm":
            if self.grad_first is None:
                self.grad_first = self.smoothed["grad_norm"]
            return math.log(self.smoothed["grad_norm"] / self.grad_first)
        self.lr_max = max(self.lr_max, raw["lr"])
        return raw["lr"] / self.lr_max - 1.0 if self.lr_max > 0 else 0.0

    def state_dict(self) -> dict[str, Any]:
        return {"rate": self._rate, "smoothed": dict(self.smoothed), "val_before": self.val_before,
                "grad_first": self.grad_first, "lr_max": self.lr_max,
                "num_observed": self.num_observed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rate = check_rate(state["rate"], "saved composite rate")
        self.smoothed = dict(state["smoothed"])
        self.val_before, self.grad_first = state["val_before"], state["grad_first"]
        self.lr_max, self.num_observed = float(state["lr_max"]), int(state["num_observed"])
