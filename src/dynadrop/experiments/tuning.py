"""Fair tuning on held-out seeds: every schedule family gets the same search budget.

A schedule with knobs (a decay's start rate, exponential's k, early/late/curriculum times, the
adaptive rule's delta/patience/threshold/EMA) can look better or worse than a fixed rate just
because of its setting. So, before the evaluation, each family's candidates are trained on
*tuning seeds*; the candidate with the lowest mean best validation loss over those seeds is the
family's setting, and the verdicts are computed on *evaluation seeds* that tuning never saw.
The fixed rate is a family too (its knob is the rate), so the baseline is tuned like the rest.

The tuning comparison lives in ``OUT/tuning/`` (its own plan, runs and report, candidates
labelled ``<family>.<index>``); ``OUT/tuning/choice.json`` records every candidate's score and
the choice. Both steps resume like any comparison.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from dynadrop.core import Constant, parse_schedule
from dynadrop.experiments.analysis import Analysis
from dynadrop.experiments.plan import ComparePlan, RunKey, ScheduleEntry, label_for

TUNING_DIR = "tuning"
CHOICE_FILE = "choice.json"
SCORE_METRIC = "best_val_loss"
FIRST_TUNING_SEED = 1000


@dataclass(frozen=True)
class TuningPlan:
    """Candidate specs per family (label -> specs, the default setting first) and the tuning seeds."""

    families: dict[str, tuple[str, ...]]
    seeds: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ValueError("tuning needs at least one tuning seed")
        for label, specs in self.families.items():
            if not specs:
                raise ValueError(f"family {label!r} has no candidates")
            for spec in specs:
                parse_schedule(spec)

    @property
    def budget(self) -> int:
        """Candidates per tuned family (every family gets the same number)."""
        return max(len(specs) for specs in self.families.values())

    def check_held_out(self, evaluation_seeds: Sequence[int]) -> None:
        """Refuse tuning seeds that are also evaluation seeds: verdicts must come from unseen seeds."""
        shared = sorted(set(self.seeds) & set(evaluation_seeds))
        if shared:
            raise ValueError(f"tuning seeds {shared} are also evaluation seeds; tuning and evaluation "
                             f"must use different seeds (e.g. --first-tune-seed {max(evaluation_seeds) + 1})")


@dataclass(frozen=True)
class Choice:
    """One family's tuning outcome: each candidate's mean score over the tuning seeds, and the pick."""

    family: str
    candidates: tuple[str, ...]
    scores: tuple[float | None, ...]
    chosen: str

    @property
    def chosen_label(self) -> str:
        """The label the family carries in the evaluation (a fixed rate is named by its rate)."""
        rule = parse_schedule(self.chosen)
        return label_for(self.chosen) if isinstance(rule, Constant) else self.family


def default_candidates(base_rate: float, max_steps: int) -> dict[str, tuple[str, ...]]:
    """Four settings per family of the default schedule set, the untuned default first.

    Rates span 0.5x-2x the base rate (capped below 1); shape knobs take three values around
    the default at the base rate, plus the default shape at 1.5x the rate; the gap rule, whose
    rate is its output, tries targets 0.2/0.3/0.4 and a faster, smoothed loop instead.
    ``fixed-0`` has no knob and is not tuned.
    """
    rate = _rate_text(base_rate)
    higher = _rate_text(1.5 * base_rate)
    rates = [_rate_text(factor * base_rate) for factor in (1.0, 0.5, 1.5, 2.0)]
    gamma = 5.0 / max_steps
    return {
        "fixed": tuple(f"constant:{r}" for r in rates),
        "linear": tuple(f"linear:{r}->0.0" for r in rates),
        "cosine": tuple(f"cosine:{r}->0.0" for r in rates),
        "exponential": (f"exponential:{rate}->0.0,k=5", f"exponential:{rate}->0.0,k=2",
                        f"exponential:{rate}->0.0,k=10", f"exponential:{higher}->0.0,k=5"),
        "adaptive": (f"adaptive:{rate},delta=0.02,patience=2,threshold=0.005,ema=0.5",
                     f"adaptive:{rate},delta=0.05,patience=1,threshold=0.0,ema=0.0",
                     f"adaptive:{rate},delta=0.01,patience=3,threshold=0.01,ema=0.7",
                     f"adaptive:{higher},delta=0.02,patience=2,threshold=0.005,ema=0.5"),
        "early": (f"early:{rate}@0.25", f"early:{rate}@0.1", f"early:{rate}@0.5", f"early:{higher}@0.25"),
        "late": (f"late:{rate}@0.5", f"late:{rate}@0.25", f"late:{rate}@0.75", f"late:{higher}@0.5"),
        "curriculum": tuple(f"curriculum:{r},gamma={g:.3g}" for r, g in
                            ((rate, gamma), (rate, 2 * gamma / 5), (rate, 2 * gamma), (higher, gamma))),
        "gap": tuple(f"gap:{rate},{loop},warmup=1" for loop in (
            "target=0.3,kp=0.25,ki=0.1", "target=0.2,kp=0.25,ki=0.1", "target=0.4,kp=0.25,ki=0.1",
            "target=0.3,kp=0.5,ki=0.2,ema=0.5")),
    }


def family_of(entry: ScheduleEntry) -> str:
    """The tuning family of a default-set entry: ``fixed`` for a non-zero constant, else its label."""
    rule = parse_schedule(entry.spec)
    if isinstance(rule, Constant):
        return "fixed" if rule.rate > 0 else entry.label
    return entry.label


def tuning_plan_for(evaluation: ComparePlan, candidates: Mapping[str, Sequence[str]],
                    seeds: Sequence[int]) -> TuningPlan:
    """The families of ``evaluation`` that have candidates, tuned on ``seeds`` (checked held out)."""
    families = {family_of(entry): tuple(candidates[family_of(entry)])
                for entry in evaluation.schedules if family_of(entry) in candidates}
    if not families:
        raise ValueError("none of the schedules has tuning candidates; tuning applies to the default "
                         f"schedule set ({', '.join(candidates)})")
    tuning = TuningPlan(families=families, seeds=tuple(seeds))
    tuning.check_held_out(evaluation.seeds)
    return tuning


def tuning_comparison(evaluation: ComparePlan, tuning: TuningPlan) -> ComparePlan:
    """The comparison that scores every candidate on the tuning seeds, under the evaluation's budget."""
    entries = [ScheduleEntry(f"{family}.{index}", spec)
               for family, specs in tuning.families.items() for index, spec in enumerate(specs)]
    return ComparePlan(preset=evaluation.preset, schedules=tuple(entries), seeds=tuning.seeds,
                       baseline=entries[0].label, overrides=dict(evaluation.overrides))


def choose(analysis: Analysis, tuning: TuningPlan) -> list[Choice]:
    """Each family's candidate with the lowest mean best val loss over the tuning seeds.

    Every tuning run must have finished: a choice made on part of the budget is not the same
    choice, so missing runs are an error naming them. Ties go to the earlier candidate (the
    default setting first).
    """
    missing = [str(problem.key) for problem in analysis.problems]
    if missing:
        raise ValueError(f"tuning is not complete ({len(missing)} runs without results: "
                         f"{', '.join(missing)}); rerun the same command to finish it")
    choices = []
    for family, specs in tuning.families.items():
        scores = tuple(_mean_score(analysis, f"{family}.{index}", tuning.seeds)
                       for index in range(len(specs)))
        best = min(range(len(specs)), key=lambda index: math.inf if scores[index] is None else scores[index])
        choices.append(Choice(family=family, candidates=specs, scores=scores, chosen=specs[best]))
    return choices


def evaluation_with_choices(evaluation: ComparePlan, choices: Sequence[Choice],
                            tuning: TuningPlan) -> ComparePlan:
    """The evaluation plan with each tuned family's spec (and a fixed rate's label) set to its choice.

    When tuning picks another fixed rate than the given one, the given rate (e.g. the paper's
    ``fixed-0.2``) stays in the evaluation right after the tuned one, as a reference: a reader can
    then compare every schedule with the untuned baseline too (``dynadrop report --baseline``).
    """
    by_family = {choice.family: choice for choice in choices}
    entries, baseline = [], evaluation.baseline
    for entry in evaluation.schedules:
        choice = by_family.get(family_of(entry))
        if choice is None:
            entries.append(entry)
            continue
        entries.append(ScheduleEntry(choice.chosen_label, choice.chosen))
        if family_of(entry) == "fixed" and choice.chosen_label != entry.label:
            entries.append(entry)
        if entry.label == evaluation.baseline:
            baseline = choice.chosen_label
    return replace(evaluation, schedules=tuple(entries), baseline=baseline,
                   tuning=choices_data(choices, tuning))


def choices_data(choices: Sequence[Choice], tuning: TuningPlan) -> dict[str, Any]:
    """``choice.json``: the budget, the tuning seeds and every family's scores and choice."""
    return {"seeds": list(tuning.seeds), "budget": tuning.budget, "metric": SCORE_METRIC,
            "choices": [asdict(choice) for choice in choices]}


def _mean_score(analysis: Analysis, label: str, seeds: Sequence[int]) -> float | None:
    values = [analysis.values[RunKey(label, seed)][SCORE_METRIC] for seed in seeds
              if RunKey(label, seed) in analysis.values]
    values = [value for value in values if value is not None]
    return sum(values) / len(values) if values else None


def _rate_text(rate: float) -> str:
    return f"{min(rate, 0.9):.3g}"
