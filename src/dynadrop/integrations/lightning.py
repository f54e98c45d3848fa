"""Lightning callback that schedules dropout rates once per optimizer step.

    from dynadrop.integrations.lightning import DropoutSchedulerCallback
    trainer = lightning.Trainer(callbacks=[DropoutSchedulerCallback("linear:0.2->0.0")])

Needs Lightning: ``pip install 'dynadrop[lightning]'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from dynadrop.core.scheduler import DepthProfile, DropoutScheduler
from dynadrop.integrations._binding import MonitorArg, ScheduleArg, SchedulerBinding

try:
    import lightning.pytorch as pl
except ImportError as error:  # pragma: no cover - exercised by a test that hides the package
    raise ImportError(
        "dynadrop.integrations.lightning needs Lightning: pip install 'dynadrop[lightning]'"
    ) from error

__all__ = ["DropoutSchedulerCallback"]


class DropoutSchedulerCallback(pl.Callback):
    """Drive a :class:`dynadrop.DropoutScheduler` from a Lightning ``Trainer``.

    - Binds to the LightningModule when fitting starts and finds every dropout site in it;
      ``total_steps`` defaults to ``trainer.estimated_stepping_batches``.
    - Steps to ``trainer.global_step`` after each batch, so it moves once per optimizer step
      (also under ``accumulate_grad_batches``).
    - After each validation (not the sanity check) it feeds feedback-driven schedules the
      signals they read (``controller.signals``: ``val_loss`` for ``ValLossAdaptive``,
      ``train_loss`` and ``val_loss`` for ``GapAdaptive``, ...) from ``trainer.callback_metrics``,
      averaged over ranks with the strategy, so every rank takes the same decision. Each signal
      is read under its own name unless ``monitor`` says otherwise: a plain string names the
      validation metric (``monitor="val/loss"``), a mapping names any signal
      (``monitor={"val_loss": "val/loss", "train_loss": "train_eval/loss"}``). For the gap, log
      a training loss measured in eval mode (e.g. a second validation dataloader on training
      data): the loss of the training step has dropout on.
    - Logs the rates in effect for each batch as ``dropout/<group>`` through ``pl_module.log_dict``.
    - Saves its state in Lightning checkpoints; ``trainer.fit(..., ckpt_path=...)`` restores it
      and re-applies the rates.
    """

    def __init__(
        self,
        schedule: ScheduleArg,
        *,
        total_steps: int | None = None,
        monitor: MonitorArg = None,
        log_rates: bool = True,
        depth_profile: DepthProfile = None,
        group_rules: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    ) -> None:
        self._binding = SchedulerBinding(
            type(self).__name__, schedule, total_steps, monitor, depth_profile, group_rules
        )
        self.log_rates = log_rates

    @property
    def scheduler(self) -> DropoutScheduler | None:
        """The scheduler, once fitting has started (``None`` before)."""
        return self._binding.scheduler

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._binding.bind(pl_module, trainer.estimated_stepping_batches,
                           "trainer.estimated_stepping_batches")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # The trainer restores global_step after on_fit_start: continue from it on resume.
        self._step_to(trainer.global_step)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self.log_rates:
            pl_module.log_dict(self._binding.rate_logs(), on_step=True, on_epoch=False)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
        batch_idx: int,
    ) -> None:
        self._step_to(trainer.global_step)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.scheduler is None:
            return
        metrics = self._binding.monitored_metrics(trainer.callback_metrics)
        if metrics:
            self.scheduler.observe(**{
                name: None if value is None else float(trainer.strategy.reduce(
                    torch.as_tensor(value, dtype=torch.float32, device=pl_module.device),
                    reduce_op="mean",
                ))
                for name, value in metrics.items()
            })

    def _step_to(self, global_step: int) -> None:
        if self.scheduler is not None and self.scheduler.last_step != global_step:
            self.scheduler.step(global_step)

    def state_dict(self) -> dict[str, Any]:
        return self._binding.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._binding.load_state_dict(state_dict)
