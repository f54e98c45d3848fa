"""`dynadrop compare`: train every schedule x seed under one budget and report the comparison."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from dynadrop.cli.report_cmd import add_alpha_argument
from dynadrop.cli.train_cmd import add_logger_argument
from dynadrop.core import SPEC_HELP
from dynadrop.experiments.executors import Executor, LocalExecutor
from dynadrop.experiments.executors.ray import DEFAULT_WORKER_DIR, RayExecutor
from dynadrop.experiments.plan import (
    ComparePlan,
    check_positive,
    choose_baseline,
    parse_schedule_args,
    seed_list,
)
from dynadrop.experiments.report import console_summary
from dynadrop.experiments.study import run_study
from dynadrop.experiments.tuning import FIRST_TUNING_SEED, TUNING_DIR, TuningPlan, tuning_plan_for
from dynadrop.experiments.workload import (
    COMPARE_PRESETS,
    compare_preset,
    describe,
    preset_candidates,
    preset_schedules,
    tracking_options,
)
from dynadrop.tracking import check_loggers

EXECUTORS = ("local", "ray")
EPILOG = f"""\
Default schedules (at the preset's base rate p, e.g. 0.2; labels in brackets):
  constant:p [fixed-p, the baseline]  constant:0 [fixed-0]  linear:p->0.0 [linear]
  exponential:p->0.0,k=5 [exponential]  cosine:p->0.0 [cosine]
  adaptive:p,delta=0.02,patience=2,threshold=0.005,ema=0.5 [adaptive]
  gap:p,target=0.3,kp=0.25,ki=0.1,warmup=1 [gap]
  early:p@0.25 [early]  late:p@0.5 [late]  curriculum:p,gamma=5/max_steps [curriculum]
Give your own as SPEC (labelled by its kind, e.g. linear) or LABEL=SPEC.

Presets:
{chr(10).join(f"  {name:6} {describe(name)}" for name in COMPARE_PRESETS)}

Rerun the same command to resume: finished runs are skipped, interrupted ones resume from
their checkpoints, failed ones are retried.

Verdicts: paired t-tests against the baseline over seeds, Holm-Bonferroni adjusted over all
schedules of the report (--alpha), with paired CIs and effect sizes. Fair tuning: --tune-seeds K
gives each family the same budget of candidates on K tuning seeds, then evaluates the chosen
settings on different seeds.

{SPEC_HELP}"""


def run(args: argparse.Namespace) -> int:
    plan = build_plan(args)
    executor = build_executor(args)
    out_dir = Path(args.out or f"runs/compare-{args.preset}")
    loggers = check_loggers(args.logger)
    options = tracking_options(loggers, out_dir.resolve().name) if loggers else None
    study = run_study(plan, out_dir, tuning=build_tuning(args, plan), executor=executor, alpha=args.alpha,
                      progress=None if args.quiet else sys.stderr, run_options=options)
    if study.analysis is not None:
        print(console_summary(study.analysis))
    for phase, outcome in study.outcomes.items():
        print(f"{phase} runs: {len(outcome.finished)} trained, {len(outcome.skipped)} already finished, "
              f"{len(outcome.failed)} failed")
    if study.analysis is None:
        print(f"tuning runs failed (see {out_dir / TUNING_DIR / 'report.md'}); rerun to retry them before "
              "the evaluation starts", file=sys.stderr)
    return 1 if study.failed else 0


def build_tuning(args: argparse.Namespace, plan: ComparePlan) -> TuningPlan | None:
    """The tuning phase ``--tune-seeds K`` asks for (built-in candidates of the default set), if any."""
    if not args.tune_seeds:
        return None
    if args.schedules:
        raise ValueError("--tune-seeds tunes the default schedule set with its built-in candidates; "
                         "drop --schedules (or --tune-seeds)")
    check_positive("tune-seeds", args.tune_seeds)
    candidates = preset_candidates(plan.preset, plan.overrides)
    return tuning_plan_for(plan, candidates, seed_list(args.tune_seeds, args.first_tune_seed))


def build_plan(args: argparse.Namespace) -> ComparePlan:
    """The comparison the command line asks for (errors name the bad value and what is allowed)."""
    chosen = compare_preset(args.preset)
    overrides = parse_overrides(args.set or [])
    if args.data is not None:
        if overrides.get("data", args.data) != args.data:
            raise ValueError(f"--data {args.data!r} and --set data={overrides['data']!r} disagree; give one")
        overrides["data"] = args.data
    if args.schedules:
        entries = parse_schedule_args(args.schedules)
    else:
        entries = preset_schedules(args.preset, overrides)
    return ComparePlan(
        preset=args.preset,
        schedules=tuple(entries),
        seeds=seed_list(args.seeds if args.seeds is not None else chosen.seeds, args.first_seed),
        baseline=choose_baseline(entries, args.baseline),
        target=args.target,
        overrides=overrides,
        timing=args.timing,
    )


def build_executor(args: argparse.Namespace) -> Executor:
    """Local processes (``--jobs``), or Ray tasks (``--executor ray`` and its resources)."""
    if args.executor == "local":
        return LocalExecutor(jobs=args.jobs)
    if args.timing:
        raise ValueError("--timing runs locally, one run at a time: drop --executor ray")
    if args.jobs != 1:
        raise ValueError(f"--jobs {args.jobs} is for --executor local; on Ray, the cluster's CPUs and "
                         "--cpus-per-run decide how many runs go at once")
    return RayExecutor(args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                       worker_dir=args.worker_dir)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``FIELD=VALUE`` pairs; VALUE is read as JSON when it parses (``500``, ``true``), else a string."""
    overrides = {}
    for item in items:
        name, equals, text = item.partition("=")
        if not equals or not name.strip():
            raise ValueError(f"--set {item!r}: expected FIELD=VALUE, e.g. max_steps=500")
        try:
            overrides[name.strip()] = json.loads(text)
        except json.JSONDecodeError:
            overrides[name.strip()] = text
    return overrides


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare dropout schedules: every schedule x seed, statistics, report",
        description="Train the character-level GPT under every schedule x seed with one budget, "
        "paired by seed (same seed = same initial weights and batch order), then write a report "
        "(report.md, summary.json, results.csv, plots/) with means, 95% confidence intervals and "
        "paired t-tests against the baseline, and print the results table.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", default="quick",
                        help=f"training budget: {', '.join(COMPARE_PRESETS)} (default quick)")
    parser.add_argument("--schedules", nargs="+", metavar="SPEC",
                        help="schedules to compare, SPEC or LABEL=SPEC (default: the set below)")
    parser.add_argument("--seeds", type=int, default=None,
                        help="number of evaluation seeds (default: the preset's, 5 for cpu, 4 for quick)")
    parser.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="runs in parallel, each in its own process with cores/jobs threads (default 1)")
    parser.add_argument("--executor", choices=EXECUTORS, default="local",
                        help="where runs execute: local processes, or Ray tasks on a cluster "
                        "(pip install 'dynadrop[ray]'; default local)")
    parser.add_argument("--address", default=None,
                        help="ray: the cluster to join, e.g. HOST:6379 or auto (default: a running one, "
                        "else a new local one)")
    parser.add_argument("--cpus-per-run", type=int, default=1,
                        help="ray: CPUs each run asks for, also its torch threads (default 1)")
    parser.add_argument("--gpus-per-run", type=float, default=0.0,
                        help="ray: GPUs each run asks for, may be fractional (default 0)")
    parser.add_argument("--worker-dir", default=DEFAULT_WORKER_DIR,
                        help="ray: where runs and their checkpoints live on the workers; the small "
                        f"result files come back to --out (default {DEFAULT_WORKER_DIR})")
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="the training corpus, a UTF-8 text file (default: tinyshakespeare; the same as "
                        "--set data=PATH)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="comparison directory (default runs/compare-PRESET)")
    parser.add_argument("--baseline", default=None,
                        help="label every schedule is compared against (default: the first schedule)")
    parser.add_argument("--target", type=float, default=None,
                        help="val loss for convergence speed (default: the baseline's best, per seed)")
    parser.add_argument("--set", nargs="+", metavar="FIELD=VALUE",
                        help="override training-config fields, e.g. --set max_steps=500 device=cpu")
    parser.add_argument("--tune-seeds", type=int, default=0, metavar="K",
                        help="tune first: every schedule family with knobs trains the same number of "
                        "candidate settings on K tuning seeds (OUT/tuning/), and the evaluation uses "
                        "each family's best on the evaluation seeds (default 0: no tuning)")
    parser.add_argument("--first-tune-seed", type=int, default=FIRST_TUNING_SEED,
                        help=f"first tuning seed (default {FIRST_TUNING_SEED}); tuning seeds must differ "
                        "from the evaluation seeds")
    parser.add_argument("--timing", action="store_true",
                        help="timing mode: one run at a time on every core, each run compiled and warmed "
                        "up before its timed training, so training times and time-to-target are results")
    add_alpha_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress display")
    add_logger_argument(parser)
    parser.set_defaults(func=run)
