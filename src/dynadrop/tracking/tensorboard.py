"""TensorBoard: event files under ``<run_dir>/tensorboard`` (``tensorboard --logdir`` a folder above).

A resumed run purges the events after its checkpoint's step, so the curves show no doubled tail.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from dynadrop.tracking.sinks import RunIdentity, scalars

LOG_DIR = "tensorboard"


class TensorBoardSink:
    """Scalars with ``SummaryWriter``, flushed after every record; the config as a text entry."""

    def __init__(self, identity: RunIdentity, params: Mapping[str, Any]) -> None:
        self.log_dir = identity.run_dir / LOG_DIR
        self.params = dict(params)
        self.writer: Any = None

    def start(self, resumed_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        purge_step = None if resumed_step is None else resumed_step + 1
        self.writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=purge_step)
        if resumed_step is None:
            self.writer.add_text("config", f"```\n{json.dumps(self.params, indent=2)}\n```")

    def write(self, record: Mapping[str, Any]) -> None:
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, record["step"])
        self.writer.flush()

    def close(self, failed: bool) -> None:
        self.writer.close()
