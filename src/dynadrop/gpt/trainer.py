"""The training loop: AdamW, warm-up + cosine LR, clipping, accumulation, eval, exact resume.

``train(config, run_dir)`` is the one entry point (the CLI and the experiments call it). A run
directory holds ``config.json``, ``metrics.jsonl`` (one line per log step and per evaluation),
``checkpoint.pt`` (and ``checkpoint.prev.pt``, the one before) and, once finished, ``summary.json``.
A run directory with a checkpoint is resumed, and continues the identical trajectory (on CPU):
the checkpoint holds model, optimizer, dropout-scheduler and RNG states, the step and the summary
statistics so far. One process trains in a run directory at a time (``train.lock``); ``restart``
moves the old files into an ``old-TIME`` folder and starts over.
Every metrics record also goes to the experiment trackers named in ``loggers`` (see
:mod:`dynadrop.tracking`): further sinks beside ``metrics.jsonl``.

Randomness is split so that runs with the same seed but different dropout schedules are paired:
the model is initialised right after ``torch.manual_seed(seed)``, training batches come from
their own generator, evaluation batches from another (the same ones at every evaluation), and
dropout draws from the global generator, reseeded after initialisation. Dropout therefore never
shifts the batch order.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from dynadrop.core import DropoutScheduler
from dynadrop.gpt.checkpoint import (
    CHECKPOINT_FILE,
    DAMAGED_FILE,
    PREVIOUS_FILE,
    load_run_checkpoint,
    save_checkpoint,
    set_aside_damaged,
)
from dynadrop.gpt.compiling import compile_gpt
from dynadrop.gpt.config import TrainConfig
from dynadrop.gpt.data import check_split_length, draw_batch, prepare_dataset, train_subset
from dynadrop.gpt.distributed import (
    Process,
    all_reduce_sum,
    barrier,
    data_parallel,
    end_process,
    start_process,
)
from dynadrop.gpt.files import atomic_write_bytes, atomic_write_json
from dynadrop.gpt.model import GPT, GPTConfig
from dynadrop.gpt.rundir import move_aside, run_lock
from dynadrop.tracking import MetricSink, RunIdentity, open_trackers

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
# Fields that may change between a run and its resumption: they change how a step is computed
# (device, kernels), not what it computes.
RESUMABLE_CHANGES = frozenset({"device", "compile", "attention", "checkpoint_interval"})
CHECKPOINT_KEYS = ("config", "vocab", "model_config", "model", "optimizer", "dropout_scheduler", "progress",
                   "rng")
# What a restart moves aside: everything the trainer writes into a run directory.
RUN_FILES = (CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, CHECKPOINT_FILE, PREVIOUS_FILE, DAMAGED_FILE)


def derived_seed(seed: int, purpose: str) -> int:
    """A seed for one purpose (batches, evaluation, dropout), independent of the others."""
    return int.from_bytes(hashlib.sha256(f"{seed}/{purpose}".encode()).digest()[:8], "little") >> 1


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine decay to ``min_lr`` at ``max_steps``."""
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / (config.warmup_steps + 1)
    decay_steps = max(config.max_steps - config.warmup_steps, 1)
    progress = min((step - config.warmup_steps) / decay_steps, 1.0)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
    return config.min_lr + cosine * (config.learning_rate - config.min_lr)


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW with decoupled weight decay on matrices and embeddings (>= 2-D) only."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in parameters if p.dim() >= 2], "weight_decay": config.weight_decay},
        {"params": [p for p in parameters if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=config.learning_rate, betas=(config.beta1, config.beta2))


def model_config(config: TrainConfig, vocab_size: int) -> GPTConfig:
    return GPTConfig(vocab_size=vocab_size, block_size=config.block_size, n_layer=config.n_layer,
                     n_head=config.n_head, n_embd=config.n_embd, bias=config.bias, attention=config.attention)


@dataclass
class Splits:
    train: np.ndarray
    val: np.ndarray
    vocab: str


def load_splits(config: TrainConfig) -> Splits:
    dataset = prepare_dataset(config.data)
    train = train_subset(dataset.train, config.train_chars, config.train_subset, config.subset_chunk_chars)
    check_split_length(train, config.block_size, "train")
    check_split_length(dataset.val, config.block_size, "validation")
    return Splits(train, dataset.val, dataset.vocab)


@torch.no_grad()
def evaluate(model: nn.Module, splits: Splits, config: TrainConfig, process: Process) -> dict[str, float]:
    """Mean loss on ``eval_batches`` fixed batches of each split, in eval mode (dropout off).

    The batches are the same at every evaluation (a generator reseeded each time), so curves
    and schedules compare on identical data; under DDP the ranks share the batches out.
    """
    model.eval()
    losses = {}
    for split, data in (("train", splits.train), ("val", splits.val)):
        generator = torch.Generator().manual_seed(derived_seed(config.seed, f"eval/{split}"))
        total = torch.zeros(2, dtype=torch.float64, device=process.device)
        for index in range(config.eval_batches):
            x, y = draw_batch(data, config.block_size, config.batch_size, generator)
            if index % process.world_size == process.rank:
                with autocast(config, process):
                    _, loss = model(x.to(process.device), y.to(process.device))
                total += torch.stack([loss.double(), torch.ones((), dtype=torch.float64, device=loss.device)])
        loss_sum, count = all_reduce_sum(total, process).tolist()
        losses[f"{split}_loss"] = loss_sum / count
    model.train()
    return losses


def autocast(config: TrainConfig, process: Process) -> contextlib.AbstractContextManager:
    return torch.autocast(process.device.type, dtype=torch.bfloat16, enabled=config.dtype == "bfloat16")


@dataclass
class Progress:
    """What a run has achieved so far: the step, training time and the summary statistics."""

    step: int = 0
    train_time_s: float = 0.0
    best_val_loss: float = math.inf
    best_val_step: int = 0
    final_train_loss: float = math.nan
    final_val_loss: float = math.nan
    last_minibatch_loss: float = math.nan

    def record_eval(self, losses: dict[str, float]) -> None:
        self.final_train_loss, self.final_val_loss = losses["train_loss"], losses["val_loss"]
        if losses["val_loss"] < self.best_val_loss:
            self.best_val_loss, self.best_val_step = losses["val_loss"], self.step


class MetricsLog:
    """``metrics.jsonl``: one JSON object a line, written by rank 0 only, flushed every line."""

    def __init__(self, path: Path, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled

    def start(self, resumed_step: int | None) -> None:
        """Fresh runs start an empty file; resumed ones drop lines written after the checkpoint."""
        if not self.enabled:
            return
        kept = b""
        if resumed_step is not None and self.path.exists():
            lines = self.path.read_bytes().splitlines(keepends=True)
            kept = b"".join(line for line in lines if _complete_line_at_or_before(line, resumed_step))
        atomic_write_bytes(self.path, kept)

    def write(self, record: dict[str, Any]) -> None:
        if self.enabled:
            with self.path.open("a") as file:
                file.write(json.dumps(record) + "\n")

    def close(self, failed: bool) -> None:
        """Nothing to release: every line is written and closed at once."""


def _complete_line_at_or_before(line: bytes, step: int) -> bool:
    try:
        return line.endswith(b"\n") and json.loads(line)["step"] <= step
    except (ValueError, KeyError):
        return False


def train(
    config: TrainConfig,
    run_dir: Path,
    *,
    progress: bool = True,
    restart: bool = False,
    loggers: Sequence[str] = (),
    experiment: str | None = None,
    run_name: str | None = None,
    compile_strategy: str = "whole",
) -> dict[str, Any]:
    """Train (or resume, or just report a finished run) in ``run_dir``; return the summary.

    ``restart`` moves the run directory's old files into an ``old-TIME`` folder there first (they
    are never deleted). A second process on the same directory raises ``RunDirectoryInUse``.
    ``loggers`` (``tensorboard``, ``mlflow``, ``wandb``) also receive every metrics record, as
    the run ``run_name`` (default: the directory's name) of ``experiment`` (default ``dynadrop``).
    Under ``torchrun`` each process calls this; the process group is set up here and rank 0 holds
    the lock and writes to the trackers. ``compile_strategy`` (``whole`` or ``regional``, see
    :mod:`dynadrop.gpt.compiling`) says how ``config.compile`` compiles the model.
    """
    run_dir = Path(run_dir)
    identity = RunIdentity.of(run_dir, run_name, experiment)
    process = start_process(config.device)
    try:
        with run_lock(run_dir) if process.is_main else contextlib.nullcontext():
            if restart and process.is_main:
                moved = move_aside(run_dir, RUN_FILES)
                if moved is not None:
                    print(f"restart: the old files of {run_dir} are in {moved}", file=sys.stderr)
            barrier(process)
            trackers = open_trackers(loggers, identity, config.to_dict()) if process.is_main else []
            summary = _Run(config, run_dir, process, progress, trackers, compile_strategy).execute()
        barrier(process)  # no rank leaves the group while another still talks to it
        return summary
    finally:
        end_process(process)


class _Run:
    def __init__(self, config: TrainConfig, run_dir: Path, process: Process, progress: bool,
                 trackers: list[MetricSink], compile_strategy: str = "whole") -> None:
        self.config = config
        self.run_dir = run_dir
        self.process = process
        self.show_progress = progress and process.is_main
        self.splits = load_splits(config)
        torch.manual_seed(config.seed)
        self.model = GPT(model_config(config, len(self.splits.vocab))).to(process.device)
        torch.manual_seed(derived_seed(config.seed, f"dropout/rank{process.rank}"))
        self.batches = torch.Generator().manual_seed(derived_seed(config.seed, "batches"))
        self.optimizer = build_optimizer(self.model, config)
        self.scheduler = DropoutScheduler(self.model, config.schedule, total_steps=config.max_steps)
        self.state = Progress()
        self.grad_norm: torch.Tensor | None = None
        self.sinks: list[MetricSink] = [MetricsLog(run_dir / METRICS_FILE, process.is_main), *trackers]
        self.ddp: nn.parallel.DistributedDataParallel | None = None
        forward: nn.Module = self.model
        if process.world_size > 1:
            self.ddp = data_parallel(self.model, process)
            forward = self.ddp
        self.forward = compile_gpt(forward, self.model, compile_strategy) if config.compile else forward

    def execute(self) -> dict[str, Any]:
        loaded = load_run_checkpoint(self.run_dir, CHECKPOINT_KEYS)
        resumed = loaded is not None
        if resumed:
            self._restore(loaded.state)
            if loaded.path.name != CHECKPOINT_FILE:
                barrier(self.process)  # every rank has read it before rank 0 renames the damaged one
                if self.process.is_main:
                    set_aside_damaged(self.run_dir)
            if self.state.step >= self.config.max_steps and (self.run_dir / SUMMARY_FILE).is_file():
                return json.loads((self.run_dir / SUMMARY_FILE).read_text())
        if self.process.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.run_dir / CONFIG_FILE, self.config.to_dict())
        for sink in self.sinks:
            sink.start(self.state.step if resumed else None)
        failed = True
        try:
            if not resumed:
                self._evaluate()
            self._loop()
            summary = self._finish()
            failed = False
        finally:
            for sink in self.sinks:
                sink.close(failed)
        return summary

    def _loop(self) -> None:
        config, state = self.config, self.state
        bar = tqdm(total=config.max_steps, initial=state.step, disable=not self.show_progress,
                   unit="step", dynamic_ncols=True)
        since = (state.step, state.train_time_s)
        while state.step < config.max_steps:
            started = time.perf_counter()
            rates = self.scheduler.rates
            lr = learning_rate(state.step, config)
            loss = self._optimizer_step(lr)
            state.step += 1
            is_log_step = state.step % config.log_interval == 0 or state.step == config.max_steps
            if is_log_step:
                state.last_minibatch_loss = loss.item()
            state.train_time_s += time.perf_counter() - started
            if is_log_step:
                self._log_train(lr, rates, since, bar)
                since = (state.step, state.train_time_s)
            if state.step % config.eval_interval == 0 or state.step == config.max_steps:
                self._evaluate()
            if state.step % config.checkpoint_interval == 0 or state.step == config.max_steps:
                self._save()
            bar.update(1)
        bar.close()

    def _log_train(self, lr: float, rates: dict[str, float], since: tuple[int, float], bar: tqdm) -> None:
        """A ``train`` metrics line; tokens/s is over the steps since the last one."""
        state = self.state
        tokens = (state.step - since[0]) * self.config.tokens_per_step * self.process.world_size
        tokens_per_s = tokens / max(state.train_time_s - since[1], 1e-9)
        self._record({"type": "train", "step": state.step, "loss": state.last_minibatch_loss,
                      "lr": lr, "rates": rates, "wall_time": state.train_time_s,
                      "tokens_per_s": tokens_per_s})
        bar.set_postfix(loss=f"{state.last_minibatch_loss:.4f}", rate=_rates_text(rates),
                        tok_s=f"{tokens_per_s:.0f}")

    def _optimizer_step(self, lr: float) -> torch.Tensor:
        """One optimizer step over ``grad_accum`` micro-batches; returns the last micro-batch loss.

        Keeps the step's gradient norm (before clipping, over all ranks' averaged gradients) in
        ``self.grad_norm`` as a tensor, read only at evaluations, so no step waits on it.
        """
        config, process = self.config, self.process
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        for micro in range(config.grad_accum):
            x, y = draw_batch(self.splits.train, config.block_size, config.batch_size, self.batches,
                              rank=process.rank, world_size=process.world_size)
            last_micro = micro == config.grad_accum - 1
            syncing = contextlib.nullcontext() if self.ddp is None or last_micro else self.ddp.no_sync()
            with syncing, autocast(config, process):
                _, loss = self.forward(x.to(process.device), y.to(process.device))
                (loss / config.grad_accum).backward()
        if config.grad_clip > 0:
            self.grad_norm = nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        else:
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            self.grad_norm = nn.utils.get_total_norm(grads)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return loss.detach()

    def _evaluate(self) -> None:
        """Evaluate, feed the controllers and write an ``eval`` metrics line.

        Controllers get ``train_loss`` and ``val_loss`` (eval mode), ``grad_norm``: the gradient
        norm of the last optimizer step, before clipping (``None`` at step 0, before any step;
        the last step's norm needs no extra checkpoint state, as an evaluation always follows
        a step after a resume), and ``lr``: the learning rate of the next optimizer step, the
        first one the new dropout rate applies to.
        """
        losses = evaluate(self.forward, self.splits, self.config, self.process)
        self.state.record_eval(losses)
        grad_norm = None if self.grad_norm is None else self.grad_norm.item()
        lr = learning_rate(self.state.step, self.config)
        self.scheduler.observe(**losses, grad_norm=grad_norm, lr=lr)
        self._record({"type": "eval", "step": self.state.step, **losses, "grad_norm": grad_norm, "lr": lr,
                      "rates": self.scheduler.rates, "wall_time": self.state.train_time_s})

    def _record(self, record: dict[str, Any]) -> None:
        for sink in self.sinks:
            sink.write(record)

    def _rng_states(self) -> list[torch.Tensor]:
        """Each rank's dropout RNG state (gathered on every rank so rank 0 can save them all)."""
        state = torch.get_rng_state()
        if self.process.device.type == "cuda":
            state = torch.cat([state, torch.cuda.get_rng_state(self.process.device)])
        if self.process.world_size == 1:
            return [state]
        gathered: list[Any] = [None] * self.process.world_size
        dist.all_gather_object(gathered, state)
        return gathered

    def _save(self) -> None:
        rng_states = self._rng_states()
        if not self.process.is_main:
            return
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, {
            "config": self.config.to_dict(),
            "vocab": self.splits.vocab,
            "model_config": asdict(self.model.config),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "dropout_scheduler": self.scheduler.state_dict(),
            "progress": vars(self.state).copy(),
            "rng": {"dropout": rng_states, "batches": self.batches.get_state()},
        })

    def _restore(self, checkpoint: dict[str, Any]) -> None:
        saved = TrainConfig.from_dict(checkpoint["config"]).to_dict()
        current = self.config.to_dict()
        changed = {k: (saved.get(k), v) for k, v in current.items()
                   if saved.get(k) != v and k not in RESUMABLE_CHANGES}
        if changed:
            details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise ValueError(f"{self.run_dir} holds a checkpoint of a different run ({details}); "
                             "use another --out, or --restart to start over (the old files are moved aside)")
        self.model.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.scheduler.load_state_dict(checkpoint["dropout_scheduler"])
        self.state = Progress(**checkpoint["progress"])
        self.batches.set_state(checkpoint["rng"]["batches"])
        dropout_states = checkpoint["rng"]["dropout"]
        if len(dropout_states) == self.process.world_size:
            state = dropout_states[self.process.rank]
            cpu_size = torch.get_rng_state().numel()
            torch.set_rng_state(state[:cpu_size])
            if self.process.device.type == "cuda" and state.numel() > cpu_size:
                torch.cuda.set_rng_state(state[cpu_size:], self.process.device)

    def _finish(self) -> dict[str, Any]:
        state = self.state
        steps_tokens = state.step * self.config.tokens_per_step * self.process.world_size
        summary = {
            "best_val_loss": state.best_val_loss,
            "best_val_step": state.best_val_step,
            "final_train_loss": state.final_train_loss,
            "final_val_loss": state.final_val_loss,
            "last_minibatch_loss": state.last_minibatch_loss,
            "train_time_s": state.train_time_s,
            "tokens_per_s": steps_tokens / max(state.train_time_s, 1e-9),
            "steps": state.step,
            "final_rates": self.scheduler.rates,
            "num_parameters": self.model.num_parameters(),
            "world_size": self.process.world_size,
        }
        if self.process.is_main:
            atomic_write_json(self.run_dir / SUMMARY_FILE, summary)
        return summary


def _rates_text(rates: dict[str, float]) -> str:
    values = set(rates.values())
    if len(values) == 1:
        return f"{values.pop():.3f}"
    return ",".join(f"{group[:3]}={rate:.3f}" for group, rate in rates.items())
