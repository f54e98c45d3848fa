"""Dropout schedules: pure closed-form functions of (step, total_steps) -> rate.

A schedule holds no state, so resuming a run only needs the step (as in timm's schedulers).
Every schedule prints as a short spec string that :func:`dynadrop.parse_schedule` reads back,
e.g. ``linear:0.2->0.0`` or ``early:0.1@0.25``. Steps past ``total_steps`` hold the final rate.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from dynadrop.core.rates import check_rate, format_rate, parse_rate
from dynadrop.core.specs import parse_float_option, split_body, split_pair, split_rate_at
from dynadrop.core.timing import (
    TimePoint,
    check_progress,
    check_time_point,
    format_time_point,
    parse_time_point,
    to_steps,
)


class Schedule(ABC):
    """A dropout rate as a function of training progress; call it as ``schedule(step, total)``."""

    def __call__(self, step: int, total_steps: int) -> float:
        check_progress(step, total_steps)
        return self.rate_at(min(float(step), float(total_steps)), float(total_steps))

    @abstractmethod
    def rate_at(self, step: float, total_steps: float) -> float:
        """The rate at ``step`` (0 <= step <= total_steps); inputs are already validated."""

    @abstractmethod
    def __str__(self) -> str:
        """The spec string that :func:`dynadrop.parse_schedule` reads back."""


class NamedSchedule(Schedule):
    """A schedule written ``name:body`` in a spec string, e.g. ``linear:0.2->0.0``."""

    name: ClassVar[str]

    @abstractmethod
    def body(self) -> str:
        """The spec string after ``name:``."""

    @classmethod
    @abstractmethod
    def from_body(cls, body: str) -> NamedSchedule:
        """Build the schedule from the spec string after ``name:``."""

    def __str__(self) -> str:
        return f"{self.name}:{self.body()}"


@dataclass(frozen=True)
class Constant(NamedSchedule):
    """The same rate at every step (the fixed-rate baseline)."""

    rate: float
    name: ClassVar[str] = "constant"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", check_rate(self.rate, "Constant rate"))

    def rate_at(self, step: float, total_steps: float) -> float:
        return self.rate

    def body(self) -> str:
        return format_rate(self.rate)

    @classmethod
    def from_body(cls, body: str) -> Constant:
        (text,), _ = split_body(body, cls.name, positional=1)
        return cls(parse_rate(text, "constant rate"))


@dataclass(frozen=True)
class _Interpolated(NamedSchedule):
    """Shared shape of the start -> end schedules: p = end + (start - end) * shape(t / T)."""

    start: float
    end: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", check_rate(self.start, f"{self.name} start rate"))
        object.__setattr__(self, "end", check_rate(self.end, f"{self.name} end rate"))

    def rate_at(self, step: float, total_steps: float) -> float:
        return self.end + (self.start - self.end) * self.remaining(step / total_steps)

    @abstractmethod
    def remaining(self, progress: float) -> float:
        """Fraction of the way still to go at ``progress`` in [0, 1]: 1 at 0, 0 at 1."""

    def body(self) -> str:
        return f"{format_rate(self.start)}->{format_rate(self.end)}"

    @classmethod
    def from_body(cls, body: str) -> _Interpolated:
        (pair,), _ = split_body(body, cls.name, positional=1)
        start, end = split_pair(pair, cls.name)
        return cls(parse_rate(start, f"{cls.name} start rate"), parse_rate(end, f"{cls.name} end"))


@dataclass(frozen=True)
class Linear(_Interpolated):
    """Straight line from ``start`` at step 0 to ``end`` at the last step."""

    name: ClassVar[str] = "linear"

    def remaining(self, progress: float) -> float:
        return 1.0 - progress


@dataclass(frozen=True)
class Cosine(_Interpolated):
    """Half a cosine from ``start`` to ``end``: flat at both ends, steepest in the middle."""

    name: ClassVar[str] = "cosine"

    def remaining(self, progress: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * progress))


@dataclass(frozen=True)
class Exponential(_Interpolated):
    """Exponential approach from ``start`` to ``end`` that hits both endpoints exactly.

    p(t) = end + (start - end) * (exp(-k t/T) - exp(-k)) / (1 - exp(-k)). Unlike the geometric
    form start * (end/start)^(t/T), it may start or end at 0. Larger ``k`` front-loads the change.
    """

    k: float = 5.0
    name: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (isinstance(self.k, int | float) and math.isfinite(self.k) and self.k > 0):
            raise ValueError(f"exponential k must be a finite number > 0, got {self.k!r}")
        object.__setattr__(self, "k", float(self.k))

    def remaining(self, progress: float) -> float:
        floor = math.exp(-self.k)
        return (math.exp(-self.k * progress) - floor) / (1.0 - floor)

    def body(self) -> str:
        return f"{super().body()},k={self.k!r}"

    @classmethod
    def from_body(cls, body: str) -> Exponential:
        (pair,), options = split_body(body, cls.name, positional=1, options=("k",))
        start, end = split_pair(pair, cls.name)
        k = parse_float_option(options, "k", cls.name, default=5.0)
        return cls(parse_rate(start, "exponential start"), parse_rate(end, "exponential end"), k)


@dataclass(frozen=True)
class Early(NamedSchedule):
    """Early dropout (Liu et al. 2023): linear decay from ``rate`` to 0 at ``until``, then 0."""

    rate: float
    until: TimePoint
    name: ClassVar[str] = "early"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", check_rate(self.rate, "early rate"))
        check_time_point(self.until, "early cut-off")

    def rate_at(self, step: float, total_steps: float) -> float:
        cutoff = to_steps(self.until, total_steps)
        return self.rate * (1.0 - step / cutoff) if step < cutoff else 0.0

    def body(self) -> str:
        return f"{format_rate(self.rate)}@{format_time_point(self.until)}"

    @classmethod
    def from_body(cls, body: str) -> Early:
        (item,), _ = split_body(body, cls.name, positional=1)
        rate, at = split_rate_at(item, cls.name)
        return cls(parse_rate(rate, "early rate"), parse_time_point(at, "early cut-off"))


@dataclass(frozen=True)
class Late(NamedSchedule):
    """Late dropout (Liu et al. 2023): no dropout until ``start``, then ``rate``."""

    rate: float
    start: TimePoint
    name: ClassVar[str] = "late"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", check_rate(self.rate, "late rate"))
        check_time_point(self.start, "late start")

    def rate_at(self, step: float, total_steps: float) -> float:
        return self.rate if step >= to_steps(self.start, total_steps) else 0.0

    def body(self) -> str:
        return f"{format_rate(self.rate)}@{format_time_point(self.start)}"

    @classmethod
    def from_body(cls, body: str) -> Late:
        (item,), _ = split_body(body, cls.name, positional=1)
        rate, at = split_rate_at(item, cls.name)
        return cls(parse_rate(rate, "late rate"), parse_time_point(at, "late start"))


@dataclass(frozen=True)
class Curriculum(NamedSchedule):
    """Curriculum dropout (Morerio et al. 2017): rises as rate * (1 - exp(-gamma * step)).

    ``gamma`` is per optimizer step (their code used 1e-3), so the shape does not depend on
    ``total_steps``.
    """

    rate: float
    gamma: float = 1e-3
    name: ClassVar[str] = "curriculum"

    def __post_init__(self) -> None:
        object.__setattr__(self, "rate", check_rate(self.rate, "curriculum rate"))
        gamma = self.gamma
        if not (isinstance(gamma, int | float) and math.isfinite(gamma) and gamma > 0):
            raise ValueError(f"curriculum gamma must be a finite number > 0, got {gamma!r}")
        object.__setattr__(self, "gamma", float(gamma))

    def rate_at(self, step: float, total_steps: float) -> float:
        return self.rate * (1.0 - math.exp(-self.gamma * step))

    def body(self) -> str:
        return f"{format_rate(self.rate)},gamma={self.gamma!r}"

    @classmethod
    def from_body(cls, body: str) -> Curriculum:
        (rate,), options = split_body(body, cls.name, positional=1, options=("gamma",))
        gamma = parse_float_option(options, "gamma", cls.name, default=1e-3)
        return cls(parse_rate(rate, "curriculum rate"), gamma)


@dataclass(frozen=True)
class Step(NamedSchedule):
    """Piecewise constant: ``initial`` until the first change, then each ``(time, rate)``."""

    initial: float
    changes: tuple[tuple[TimePoint, float], ...]
    name: ClassVar[str] = "step"

    def __post_init__(self) -> None:
        object.__setattr__(self, "initial", check_rate(self.initial, "step initial rate"))
        changes = tuple(
            (check_time_point(at, "step change time"), check_rate(rate, "step rate"))
            for at, rate in self.changes
        )
        object.__setattr__(self, "changes", changes)

    def rate_at(self, step: float, total_steps: float) -> float:
        rate = self.initial
        for at, value in sorted(self.changes, key=lambda c: to_steps(c[0], total_steps)):
            if step >= to_steps(at, total_steps):
                rate = value
        return rate

    def body(self) -> str:
        parts = [format_rate(self.initial)]
        parts += [f"{format_rate(rate)}@{format_time_point(at)}" for at, rate in self.changes]
        return ",".join(parts)

    @classmethod
    def from_body(cls, body: str) -> Step:
        items, _ = split_body(body, cls.name, positional=None)
        if not items:
            raise ValueError("step: expected 'step:INITIAL,RATE@TIME,...', e.g. 'step:0.2,0.1@0.5'")
        changes = []
        for item in items[1:]:
            rate, at = split_rate_at(item, cls.name)
            changes.append((parse_time_point(at, "step change time"), parse_rate(rate, "step")))
        return cls(parse_rate(items[0], "step initial rate"), tuple(changes))


@dataclass(frozen=True)
class Chain(Schedule):
    """Phases run one after another, each on its own clock.

    ``phases`` is a tuple of ``(schedule, duration)``; every phase but the last needs a
    duration (int steps or float fraction of training) and the last runs for the rest.
    Spec: ``linear:0.3->0.1 for 0.5 then constant:0.1``.
    """

    phases: tuple[tuple[Schedule, TimePoint | None], ...]
    name: ClassVar[str] = "chain"

    def __post_init__(self) -> None:
        if not self.phases:
            raise ValueError("a chain needs at least one phase")
        for index, (schedule, duration) in enumerate(self.phases):
            if not isinstance(schedule, Schedule) or isinstance(schedule, Chain):
                raise TypeError(f"chain phase {index} must be a non-chain Schedule, got {schedule!r}")
            last = index == len(self.phases) - 1
            if last and duration is not None:
                raise ValueError("the last chain phase runs for the rest of training: no duration")
            if not last:
                if duration is None:
                    raise ValueError(f"chain phase {index} ({schedule}) needs a duration")
                check_time_point(duration, f"chain phase {index} duration")

    def rate_at(self, step: float, total_steps: float) -> float:
        begin = 0.0
        for schedule, duration in self.phases[:-1]:
            length = to_steps(duration, total_steps)
            if step < begin + length:
                return schedule.rate_at(step - begin, length)
            begin += length
        final = self.phases[-1][0]
        length = total_steps - begin
        if length <= 0:  # earlier phases used up all of training: the last one never starts
            return final.rate_at(0.0, 1.0)
        return final.rate_at(step - begin, length)

    def __str__(self) -> str:
        parts = [
            str(schedule) if duration is None else f"{schedule} for {format_time_point(duration)}"
            for schedule, duration in self.phases
        ]
        return " then ".join(parts)
