"""What a comparison runs: labelled schedules x seeds, the default schedule set, and run names.

A plan is plain data (JSON round-trip), so a run directory and the comparison's ``plan.json``
explain themselves without the command line that made them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from dynadrop.core import Constant, parse_schedule

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class ScheduleEntry:
    """One schedule of a comparison: a short label (used in tables and directory names) and its spec."""

    label: str
    spec: str

    def __post_init__(self) -> None:
        if not LABEL_PATTERN.match(self.label):
            raise ValueError(
                f"bad schedule label {self.label!r}: use letters, digits and . _ + - "
                "(starting with a letter or digit)"
            )
        parse_schedule(self.spec)


@dataclass(frozen=True)
class RunKey:
    """One training run: a schedule label and a seed. Its directory is ``runs/<label>/seed-<seed>``."""

    label: str
    seed: int

    @property
    def relative_dir(self) -> str:
        return f"runs/{self.label}/seed-{self.seed}"

    def __str__(self) -> str:
        return f"{self.label} seed {self.seed}"


@dataclass(frozen=True)
class ComparePlan:
    """Every schedule x seed of one comparison, under one training budget.

    ``preset`` names a compare preset (see :mod:`dynadrop.experiments.presets`); ``overrides`` are
    extra training-config fields applied on top of it. ``baseline`` is the label every other
    schedule is compared against; ``target`` is the validation loss for convergence speed
    (``None``: the baseline's best validation loss of the same seed).
    """

    preset: str
    schedules: tuple[ScheduleEntry, ...]
    seeds: tuple[int, ...]
    baseline: str
    target: float | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    timing: bool = False
    tuning: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        labels = [entry.label for entry in self.schedules]
        if not labels:
            raise ValueError("a comparison needs at least one schedule")
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:
            raise ValueError(
                f"schedule label(s) {', '.join(repeated)} used twice; name each schedule as LABEL=SPEC"
            )
        if self.baseline not in labels:
            raise ValueError(f"baseline {self.baseline!r} is not one of the schedules: {', '.join(labels)}")
        if not self.seeds:
            raise ValueError("a comparison needs at least one seed")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct, got {list(self.seeds)}")
        fixed_per_run = sorted(set(self.overrides) & {"schedule", "seed"})
        if fixed_per_run:
            raise ValueError(f"{', '.join(fixed_per_run)} cannot be overridden: a comparison sets them per "
                             "run (use --schedules and --seeds)")

    def spec_of(self, label: str) -> str:
        return next(entry.spec for entry in self.schedules if entry.label == label)

    @property
    def labels(self) -> list[str]:
        return [entry.label for entry in self.schedules]

    def run_keys(self) -> list[RunKey]:
        """Runs ordered seed by seed, so an interrupted comparison has whole seeds (pairs) first."""
        return [RunKey(entry.label, seed) for seed in self.seeds for entry in self.schedules]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparePlan:
        return cls(
            preset=data["preset"],
            schedules=tuple(ScheduleEntry(**entry) for entry in data["schedules"]),
            seeds=tuple(data["seeds"]),
            baseline=data["baseline"],
            target=data.get("target"),
            overrides=dict(data.get("overrides", {})),
            timing=bool(data.get("timing", False)),
            tuning=data.get("tuning"),
        )


def default_schedules(base_rate: float, max_steps: int) -> list[ScheduleEntry]:
    """The paper's schedules and their relatives, all starting from (or reaching) ``base_rate``.

    The first entry, the fixed base rate, is the default baseline. Curriculum dropout's gamma is
    ``5 / max_steps`` (0.001 at 5000 steps, as in Morerio et al.), so it reaches 99% of the rate.
    The gap rule holds val - train loss at 0.3 nats, the gap the fixed 0.2 baseline ends with on
    the ``cpu`` preset (README, 3-seed means 2.10 - 1.80; not tuned on evaluated seeds): below it
    early the rate falls, above it late the rate rises. kp=0.25, ki=0.1 keep the loop gain near 1
    for the ~4 nats of gap per unit rate between fixed 0 and 0.2 there; warmup=1 skips step 0.
    """
    rate = f"{base_rate:g}"
    gamma = f"{5.0 / max_steps:.3g}"
    return [
        ScheduleEntry(f"fixed-{rate}", f"constant:{rate}"),
        ScheduleEntry("fixed-0", "constant:0"),
        ScheduleEntry("linear", f"linear:{rate}->0.0"),
        ScheduleEntry("exponential", f"exponential:{rate}->0.0,k=5"),
        ScheduleEntry("cosine", f"cosine:{rate}->0.0"),
        ScheduleEntry("adaptive", f"adaptive:{rate},delta=0.02,patience=2,threshold=0.005,ema=0.5"),
        ScheduleEntry("gap", f"gap:{rate},target=0.3,kp=0.25,ki=0.1,warmup=1"),
        ScheduleEntry("early", f"early:{rate}@0.25"),
        ScheduleEntry("late", f"late:{rate}@0.5"),
        ScheduleEntry("curriculum", f"curriculum:{rate},gamma={gamma}"),
    ]


def parse_schedule_args(texts: Iterable[str]) -> list[ScheduleEntry]:
    """Read ``SPEC`` or ``LABEL=SPEC`` arguments; a bare spec is labelled by its kind.

    A spec may itself contain ``=`` (``adaptive:0.2,delta=0.02``), so text before the first
    ``=`` is a label only when it looks like one (no ``:`` or ``,``).
    """
    entries = []
    for text in texts:
        head, equals, tail = text.partition("=")
        if equals and LABEL_PATTERN.match(head.strip()):
            label, spec = head.strip(), tail.strip()
        else:
            spec = text.strip()
            label = label_for(spec)
        try:
            entries.append(ScheduleEntry(label, spec))
        except ValueError as error:
            raise ValueError(f"schedule {text!r}: {error}") from error
    return entries


def label_for(spec: str) -> str:
    """A short label for a spec: ``fixed-<rate>`` for a constant, the schedule's kind otherwise."""
    rule = parse_schedule(spec)
    if isinstance(rule, Constant):
        return f"fixed-{rule.rate:g}"
    return rule.name


def check_positive(name: str, value: int) -> int:
    """``value`` if it is at least 1, else a ValueError naming the option and the value."""
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value}")
    return value


def seed_list(count: int, first: int = 0) -> tuple[int, ...]:
    """``count`` consecutive seeds starting at ``first``."""
    check_positive("seeds", count)
    return tuple(range(first, first + count))


def choose_baseline(entries: Sequence[ScheduleEntry], requested: str | None) -> str:
    """The requested baseline label, else the first schedule (the fixed rate in the default set)."""
    return requested if requested is not None else entries[0].label
