"""Weights & Biases: one W&B run per training run, project and group ``identity.experiment``.

Online or offline is W&B's own setting (``WANDB_MODE=offline`` keeps the run under
``<run_dir>/wandb/`` for ``wandb sync``). A resumed run starts a new W&B run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dynadrop.tracking.sinks import RunIdentity, scalars


class WandbSink:
    """Scalars with ``run.log(..., step=record step)``, the config as the run's config."""

    def __init__(self, identity: RunIdentity, params: Mapping[str, Any]) -> None:
        self.identity = identity
        self.params = dict(params)
        self.run: Any = None

    def start(self, resumed_step: int | None) -> None:
        import wandb

        self.identity.run_dir.mkdir(parents=True, exist_ok=True)
        config = {**self.params, **({} if resumed_step is None else {"resumed_from_step": resumed_step})}
        self.run = wandb.init(project=self.identity.experiment, group=self.identity.experiment,
                              name=self.identity.name, dir=str(self.identity.run_dir), config=config,
                              reinit="create_new", settings=wandb.Settings(console="off"))

    def write(self, record: Mapping[str, Any]) -> None:
        self.run.log(scalars(record), step=record["step"])

    def close(self, failed: bool) -> None:
        self.run.finish(exit_code=1 if failed else 0)
