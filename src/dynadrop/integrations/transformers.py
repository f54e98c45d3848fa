"""Hugging Face ``Trainer`` callback that schedules dropout rates once per optimizer step.

    from dynadrop.integrations.transformers import DropoutSchedulerCallback
    trainer = transformers.Trainer(..., args=TrainingArguments(..., report_to=["tensorboard"]))
    DropoutSchedulerCallback("linear:0.1->0.0").add_to(trainer)   # or callbacks=[...]

Needs transformers: ``pip install 'dynadrop[transformers]'``.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from dynadrop.core.scheduler import DepthProfile, DropoutScheduler
from dynadrop.integrations._binding import MonitorArg, ScheduleArg, SchedulerBinding

try:
    from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
except ImportError as error:  # pragma: no cover - exercised by a test that hides the package
    raise ImportError(
        "dynadrop.integrations.transformers needs transformers: "
        "pip install 'dynadrop[transformers]'"
    ) from error

__all__ = ["STATE_FILE", "DropoutSchedulerCallback"]

STATE_FILE = "dropout_scheduler.json"


class DropoutSchedulerCallback(TrainerCallback):
    """Drive a :class:`dynadrop.DropoutScheduler` from a Hugging Face ``Trainer``.

    - Binds to the model when training begins and finds every dropout site in it (``nn.Dropout``
      modules as in BERT/GPT-2, and float rates as in BART or Llama's ``attention_dropout``);
      ``total_steps`` defaults to ``state.max_steps``.
    - Steps to ``state.global_step`` at each ``on_step_end``: once per optimizer step, also under
      gradient accumulation.
    - After each evaluation it feeds feedback-driven schedules the signals they read
      (``controller.signals``) from the evaluation metrics. ``monitor`` names where: a plain
      string is the validation metric (default ``eval_loss``; ``None``: each signal under its
      own name), a mapping names any signal, e.g. for ``GapAdaptive`` with
      ``eval_dataset={"val": ..., "train": ...}``:
      ``monitor={"val_loss": "eval_val_loss", "train_loss": "eval_train_loss"}``. The Trainer's
      evaluation already gathers over processes, so every rank sees the same value.
    - Adds ``dropout/<group>`` rates to the logs it is given in ``on_log``. Callbacks run in
      order, and the Trainer puts its ``report_to`` integrations before those passed in
      ``callbacks=``; :meth:`add_to` puts this callback first instead, so they report the rates.
    - Writes its state to ``dropout_scheduler.json`` in each checkpoint folder and, when training
      resumes, reads it back from ``args.resume_from_checkpoint`` if that is a folder, else from
      ``output_dir/checkpoint-<global_step>``, and re-applies the rates.
    """

    def __init__(
        self,
        schedule: ScheduleArg,
        *,
        total_steps: int | None = None,
        monitor: MonitorArg = "eval_loss",
        log_rates: bool = True,
        depth_profile: DepthProfile = None,
        group_rules: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self._binding = SchedulerBinding(
            type(self).__name__, schedule, total_steps, monitor, depth_profile, group_rules
        )
        self.log_rates = log_rates

    def add_to(self, trainer: Trainer) -> DropoutSchedulerCallback:
        """Make this the first callback of ``trainer`` (so its rates are in the logs before any
        ``report_to`` integration writes them); returns ``self``."""
        callbacks = trainer.callback_handler.callbacks
        if self in callbacks:
            callbacks.remove(self)
        callbacks.insert(0, self)
        return self

    @property
    def scheduler(self) -> DropoutScheduler | None:
        """The scheduler, once training has begun (``None`` before)."""
        return self._binding.scheduler

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
        model: nn.Module | None = None, **kwargs: Any,
    ) -> None:
        if model is None:
            raise ValueError(f"{type(self).__name__} needs the model, but the Trainer passed none")
        self._binding.bind(model, state.max_steps, "state.max_steps")
        if state.global_step > 0:
            self._restore(args, state)
        if self.scheduler.last_step != state.global_step:
            self.scheduler.step(state.global_step)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.scheduler is not None:
            self.scheduler.step(state.global_step)

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
        metrics: Mapping[str, float] | None = None, **kwargs: Any,
    ) -> None:
        if self.scheduler is not None and metrics:
            observed = self._binding.monitored_metrics(metrics)
            if observed:
                self.scheduler.observe(**observed)

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
        logs: dict[str, float] | None = None, **kwargs: Any,
    ) -> None:
        if self.log_rates and logs is not None:
            logs.update(self._binding.rate_logs())

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.scheduler is None or not args.should_save:
            return
        folder = os.path.join(args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")
        _write_json_atomically(os.path.join(folder, STATE_FILE), self._binding.state_dict())

    def _restore(self, args: TrainingArguments, state: TrainerState) -> None:
        resume = args.resume_from_checkpoint
        folder = resume if isinstance(resume, str) and os.path.isdir(resume) else os.path.join(
            args.output_dir, f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        )
        path = os.path.join(folder, STATE_FILE)
        if not os.path.isfile(path):
            warnings.warn(
                f"{type(self).__name__}: resuming at step {state.global_step} but {path} does not "
                "exist; schedules continue from that step, validation-driven ones restart from "
                "their initial rate (set TrainingArguments.resume_from_checkpoint to the folder)",
                UserWarning,
                stacklevel=2,
            )
            return
        with open(path) as file:
            self._binding.load_state_dict(json.load(file))


def _write_json_atomically(path: str, payload: Mapping[str, Any]) -> None:
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".dropout_scheduler.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(payload, file, indent=2)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
