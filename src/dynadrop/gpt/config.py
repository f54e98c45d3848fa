"""Training hyperparameters (:class:`TrainConfig`) and the named presets: paper, cpu, smoke."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from dynadrop.core import GROUPS, parse_schedule
from dynadrop.gpt.data import SUBSET_MODES
from dynadrop.gpt.model import ATTENTION_PATHS

Schedule = str | dict[str, str]
# Fields added after runs were recorded, with the value every run recorded before them had.
RECORDED_BEFORE = {"attention": "explicit"}
DTYPES = ("float32", "bfloat16")
SCHEDULE_GROUPS = (*GROUPS, "default")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Defaults are nanoGPT's ``shakespeare_char``.

    ``schedule`` is one dropout schedule spec for every site (``"0.2"``, ``"linear:0.2->0.0"``),
    or a dict from group (attention, residual, embedding, mlp, or ``default`` for the rest) to
    spec. ``train_chars`` trains on a subset of the training split: ``train_subset="spread"``
    takes chunks of ``subset_chunk_chars`` evenly spread over the split, ``"prefix"`` its start.
    ``device="auto"`` picks CUDA when available. ``compile`` (on by default, as in nanoGPT) trains
    through ``torch.compile`` with hashed dropout masks: 2.3x eager at the paper's shape on 2 CPU
    cores, but a cold compile costs ~35 s (the ``cpu`` preset model), so the seconds-long presets
    turn it off. ``attention`` picks the GPT's attention path (``fused``: one CPU kernel with the
    dropout mask inside; see :mod:`dynadrop.gpt.model`).
    """

    # model
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    block_size: int = 256
    bias: bool = False
    attention: str = "fused"
    # data
    data: str | None = None
    train_chars: int | None = None
    train_subset: str = "spread"
    subset_chunk_chars: int = 1024
    # optimisation
    batch_size: int = 64
    grad_accum: int = 1
    max_steps: int = 5000
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0
    # dropout
    schedule: Schedule = "0.2"
    # evaluation, logging, checkpoints
    eval_interval: int = 250
    eval_batches: int = 200
    log_interval: int = 10
    checkpoint_interval: int = 250
    # system
    seed: int = 0
    device: str = "auto"
    dtype: str = "float32"
    compile: bool = True

    def __post_init__(self) -> None:
        positive = ("n_layer", "n_head", "n_embd", "block_size", "subset_chunk_chars", "batch_size",
                    "grad_accum", "max_steps", "eval_interval", "eval_batches", "log_interval",
                    "checkpoint_interval")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} must be divisible by n_head {self.n_head}")
        if self.train_chars is not None and self.train_chars <= self.block_size:
            raise ValueError(f"train_chars {self.train_chars} must exceed block_size {self.block_size} "
                             "(or be None for the whole training split)")
        if self.train_subset not in SUBSET_MODES:
            raise ValueError(f"train_subset {self.train_subset!r} is not one of {SUBSET_MODES}")
        if self.attention not in ATTENTION_PATHS:
            raise ValueError(f"attention {self.attention!r} is not one of {ATTENTION_PATHS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype {self.dtype!r} is not one of {DTYPES}")
        if not 0 <= self.min_lr <= self.learning_rate:
            raise ValueError(f"need 0 <= min_lr ({self.min_lr}) <= learning_rate ({self.learning_rate})")
        if self.warmup_steps < 0 or self.grad_clip < 0 or self.weight_decay < 0:
            raise ValueError("warmup_steps, grad_clip and weight_decay must be >= 0")
        check_schedule(self.schedule)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """The config a recorded dict describes; fields it predates take the value its run had."""
        return cls(**{**RECORDED_BEFORE, **values})

    @property
    def tokens_per_step(self) -> int:
        """Tokens in one optimizer step of one process."""
        return self.batch_size * self.block_size * self.grad_accum


def check_schedule(schedule: Schedule) -> None:
    """Raise a clear error for a bad spec or group name (the core's parser names the problem)."""
    if isinstance(schedule, dict):
        if not schedule:
            raise ValueError("the schedule dict is empty: give at least one group -> spec")
        for group, spec in schedule.items():
            if group not in SCHEDULE_GROUPS:
                raise ValueError(f"unknown dropout group {group!r}; allowed: {', '.join(SCHEDULE_GROUPS)}")
            parse_schedule(spec)
    elif isinstance(schedule, str):
        parse_schedule(schedule)
    else:
        raise TypeError(f"schedule must be a spec string or a dict group -> spec, got {schedule!r}")


def schedule_from_args(values: list[str]) -> Schedule:
    """A schedule from command-line values, each ``SPEC`` (every site) or ``GROUP=SPEC``.

    One plain spec gives a string; any ``GROUP=SPEC`` gives a dict, a plain spec among them
    becoming the ``default`` entry for the groups not named.
    """
    plain = [value for value in values if not _group_prefix(value)]
    if len(values) == 1 and plain:
        return values[0]
    if len(plain) > 1:
        raise ValueError(f"give one plain schedule spec at most (it covers the groups not named), "
                         f"got {plain}")
    schedule = {"default": plain[0]} if plain else {}
    for value in values:
        group = _group_prefix(value)
        if group:
            if group in schedule:
                raise ValueError(f"group {group!r} is given two schedules")
            schedule[group] = value[len(group) + 1:]
    return schedule


def _group_prefix(value: str) -> str | None:
    group, equals, _ = value.partition("=")
    return group.strip() if equals and group.strip() in SCHEDULE_GROUPS else None


PRESETS: dict[str, TrainConfig] = {
    # nanoGPT's shakespeare_char, as the paper ran it.
    "paper": TrainConfig(),
    # Two CPU cores, ~3 minutes a run, small enough data that p=0 overfits and dropout pays off.
    "cpu": TrainConfig(
        n_layer=4, n_head=4, n_embd=192, block_size=64, batch_size=12, train_chars=30_000,
        max_steps=1500, learning_rate=1e-3, min_lr=1e-4, warmup_steps=100,
        eval_interval=150, eval_batches=50, log_interval=25, checkpoint_interval=250,
    ),
    # Seconds: for tests and trying the CLI.
    "smoke": TrainConfig(
        n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=4, max_steps=20,
        warmup_steps=5, eval_interval=10, eval_batches=2, log_interval=5, checkpoint_interval=10,
        compile=False,
    ),
}


def preset(name: str, **overrides: Any) -> TrainConfig:
    """The named preset with any fields overridden; unknown names and fields are errors."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; allowed: {', '.join(PRESETS)}")
    names = [field.name for field in fields(TrainConfig)]
    for key in overrides:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=3)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"TrainConfig has no field {key!r}{hint}")
    return replace(PRESETS[name], **overrides)
