"""Schedules x seeds, labels and the default set."""

from __future__ import annotations

import pytest

from dynadrop.core import parse_schedule
from dynadrop.experiments.plan import (
    ComparePlan,
    RunKey,
    ScheduleEntry,
    default_schedules,
    parse_schedule_args,
    seed_list,
)


def test_default_set_has_every_schedule_family_at_the_base_rate():
    entries = default_schedules(0.2, 5000)
    labels = [entry.label for entry in entries]
    assert labels == ["fixed-0.2", "fixed-0", "linear", "exponential", "cosine", "adaptive", "gap", "early",
                      "late", "curriculum"]
    rules = {entry.label: parse_schedule(entry.spec) for entry in entries}
    assert rules["fixed-0.2"](0, 5000) == pytest.approx(0.2)
    assert rules["fixed-0"](2500, 5000) == 0.0
    for decaying in ("linear", "exponential", "cosine"):
        assert rules[decaying](0, 5000) == pytest.approx(0.2)
        assert rules[decaying](5000, 5000) == pytest.approx(0.0)
    assert rules["curriculum"].gamma == pytest.approx(0.001)
    assert rules["adaptive"].rate == pytest.approx(0.2)
    assert (rules["gap"].rate, rules["gap"].target) == (pytest.approx(0.2), 0.3)


def test_labels_from_specs_and_label_equals_spec():
    entries = parse_schedule_args(["constant:0.1", "linear:0.3->0.0", "mine=cosine:0.2->0.0",
                                   "adaptive:0.2,delta=0.02"])
    assert [(e.label, e.spec) for e in entries] == [
        ("fixed-0.1", "constant:0.1"), ("linear", "linear:0.3->0.0"), ("mine", "cosine:0.2->0.0"),
        ("adaptive", "adaptive:0.2,delta=0.02"),
    ]


def test_bad_spec_names_the_argument():
    with pytest.raises(ValueError, match="'wobbly:0.2'"):
        parse_schedule_args(["wobbly:0.2"])


def test_duplicate_labels_are_refused_with_a_hint():
    with pytest.raises(ValueError, match="LABEL=SPEC"):
        ComparePlan("cpu", tuple(parse_schedule_args(["linear:0.2->0", "linear:0.3->0"])), (0,), "linear")


def test_bad_label_and_baseline_and_seeds():
    with pytest.raises(ValueError, match="bad schedule label"):
        ScheduleEntry("a/b", "0.2")
    entries = (ScheduleEntry("a", "0.2"),)
    with pytest.raises(ValueError, match="baseline 'b'"):
        ComparePlan("cpu", entries, (0,), "b")
    with pytest.raises(ValueError, match="seeds must be at least 1, got 0"):
        seed_list(0)
    with pytest.raises(ValueError, match="distinct"):
        ComparePlan("cpu", entries, (1, 1), "a")


def test_runs_are_ordered_seed_by_seed_and_round_trip():
    plan = ComparePlan("cpu", tuple(parse_schedule_args(["0.2", "0.0"])), seed_list(2), "fixed-0.2",
                       target=1.9, overrides={"max_steps": 10})
    assert plan.run_keys() == [RunKey("fixed-0.2", 0), RunKey("fixed-0", 0), RunKey("fixed-0.2", 1),
                               RunKey("fixed-0", 1)]
    assert plan.run_keys()[1].relative_dir == "runs/fixed-0/seed-0"
    assert ComparePlan.from_dict(plan.to_dict()) == plan
