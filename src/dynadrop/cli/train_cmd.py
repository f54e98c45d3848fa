"""`dynadrop train`: train the character-level GPT under a dropout schedule (resumable)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import fields
from pathlib import Path

from dynadrop.core import SPEC_HELP
from dynadrop.gpt.compiling import COMPILE_STRATEGIES
from dynadrop.gpt.config import PRESETS, SCHEDULE_GROUPS, TrainConfig, preset, schedule_from_args
from dynadrop.tracking import TRACKERS

# Fields with their own flag handling (the schedule is repeatable; the rest are generated).
_SPECIAL = {"schedule"}


def _optional_int(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def _optional_str(text: str) -> str | None:
    return None if text.lower() == "none" else text


# The words every command uses (``--data PATH``), where the field's name would say less.
_METAVARS = {"data": "PATH"}
_TYPES = {"int": int, "float": float, "str": str, "int | None": _optional_int, "str | None": _optional_str}


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """A ``--field-name`` flag for every :class:`TrainConfig` field (default: the preset's)."""
    group = parser.add_argument_group("preset overrides (any TrainConfig field)")
    for field in fields(TrainConfig):
        if field.name in _SPECIAL:
            continue
        flag = "--" + field.name.replace("_", "-")
        if field.type == "bool":
            group.add_argument(flag, dest=field.name, action=argparse.BooleanOptionalAction, default=None)
        else:
            group.add_argument(flag, dest=field.name, type=_TYPES[field.type], default=None,
                               metavar=_METAVARS.get(field.name, field.name.upper()))
    group.add_argument(
        "--schedule", action="append", default=None, metavar="[GROUP=]SPEC",
        help="dropout schedule: one spec for every site, or GROUP=SPEC (repeatable) per group, "
        f"groups {', '.join(SCHEDULE_GROUPS)}; e.g. --schedule attention=cosine:0.2->0 "
        "--schedule mlp=0.1 --schedule default=0.2",
    )


def add_logger_argument(parser: argparse.ArgumentParser) -> None:
    """``--logger NAME`` (repeatable): experiment trackers that also receive every metrics record."""
    parser.add_argument("--logger", action="append", default=[], choices=sorted(TRACKERS),
                        help="also log to this experiment tracker (repeatable; needs "
                        "pip install 'dynadrop[trackers]'): tensorboard events in the run directory, "
                        "MLflow at MLFLOW_TRACKING_URI, W&B (WANDB_MODE=offline keeps it local)")


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    overrides = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
                 if f.name not in _SPECIAL and getattr(args, f.name) is not None}
    if args.schedule:
        overrides["schedule"] = schedule_from_args(args.schedule)
    return preset(args.preset, **overrides)


def default_run_dir(config: TrainConfig, preset_name: str) -> Path:
    schedule = config.schedule if isinstance(config.schedule, str) else json.dumps(config.schedule)
    slug = re.sub(r"[^A-Za-z0-9.]+", "_", schedule).strip("_")
    return Path("runs") / f"{preset_name}-{slug}-seed{config.seed}"


def run(args: argparse.Namespace) -> int:
    from dynadrop.gpt.trainer import train

    config = config_from_args(args)
    run_dir = args.out or default_run_dir(config, args.preset)
    print(f"run directory: {run_dir}", file=sys.stderr)
    summary = train(config, run_dir, progress=not args.no_progress, restart=args.restart, loggers=args.logger,
                    compile_strategy=args.compile_strategy)
    print(json.dumps(summary, indent=2))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    presets = "\n".join(f"  {name:6} {_describe(config)}" for name, config in PRESETS.items())
    parser = subparsers.add_parser(
        "train",
        help="train the character-level GPT under a dropout schedule (resumable, DDP-ready)",
        description="Train a nanoGPT-equivalent character-level GPT (tinyshakespeare by default) "
        "with every dropout site scheduled. The run directory (--out) gets config.json, "
        "metrics.jsonl, checkpoint.pt (+ checkpoint.prev.pt, the one before) and summary.json; "
        "running again on the same directory resumes, from the previous checkpoint if the latest "
        "is damaged. Under "
        "`torchrun --nproc_per_node N -m dynadrop train ...` it trains data-parallel.",
        epilog=f"presets:\n{presets}\n\n{SPEC_HELP}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                        help="base settings (default cpu)")
    parser.add_argument("--out", "--run-dir", dest="out", type=Path, default=None, metavar="DIR",
                        help="the run directory (default runs/PRESET-SCHEDULE-seedSEED); resumed if it "
                        "holds a checkpoint")
    parser.add_argument("--restart", action="store_true",
                        help="start the run over: move the directory's old files into DIR/old-TIME/ first "
                        "(nothing is deleted)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--compile-strategy", choices=COMPILE_STRATEGIES, default="whole",
                        help="with --compile: whole (one graph, fastest steps) or regional (embedding, "
                        "head and one block graph the blocks share: a shorter cold compile for deep "
                        "models, slower steps); default whole")
    add_logger_argument(parser)
    add_config_arguments(parser)
    parser.set_defaults(func=run)


def _describe(config: TrainConfig) -> str:
    data = "all" if config.train_chars is None else f"{config.train_chars:,} chars ({config.train_subset})"
    return (f"{config.n_layer}x{config.n_embd}, {config.n_head} heads, context {config.block_size}, "
            f"batch {config.batch_size}, {config.max_steps} steps, train data {data}, "
            f"dropout {config.schedule}")
