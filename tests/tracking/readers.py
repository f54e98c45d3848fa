"""Read what each tracker wrote back with the tracker's own reader, as ``{tag: {step: value}}``.

W&B 0.31 ships no Python reader of its offline run file any more (the SDK's core is a Go
binary), so :func:`wandb_scalars` frames the file's records itself (W&B's log format: a 7-byte
file header, then LevelDB-style 32 KiB blocks of records) and parses each record with W&B's own
protobuf message, ``wandb.proto.wandb_internal_pb2.Record``.
"""

from __future__ import annotations

import json
import struct
from collections import defaultdict
from pathlib import Path

Curves = dict[str, dict[int, float]]

WANDB_FILE_HEADER = 7
WANDB_BLOCK = 32768
WANDB_RECORD_HEADER = 7  # crc32 (4), length (2), type (1)
WANDB_FULL, WANDB_FIRST, WANDB_LAST = 1, 2, 4


def tensorboard_scalars(log_dir: Path) -> Curves:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: {event.step: event.value for event in accumulator.Scalars(tag)}
            for tag in accumulator.Tags()["scalars"]}


def mlflow_runs(experiment: str) -> dict[str, Curves]:
    """Each run of the MLflow experiment (tracking URI from the environment), by run name."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    found = client.get_experiment_by_name(experiment)
    runs = {}
    for run in client.search_runs([found.experiment_id]):
        runs[run.info.run_name] = {
            key: {metric.step: metric.value for metric in client.get_metric_history(run.info.run_id, key)}
            for key in run.data.metrics
        }
    return runs


def wandb_run(run_dir: Path) -> tuple[dict[str, str], Curves]:
    """The one offline W&B run under ``run_dir/wandb``: its names (project, group, name) and curves."""
    from wandb.proto.wandb_internal_pb2 import Record

    (path,) = (run_dir / "wandb").glob("offline-run-*/run-*.wandb")
    names: dict[str, str] = {}
    curves: Curves = defaultdict(dict)
    for payload in _wandb_payloads(path.read_bytes()):
        record = Record()
        record.ParseFromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            names = {"project": record.run.project, "group": record.run.run_group,
                     "name": record.run.display_name}
        elif kind == "history":
            row = {item.key or "/".join(item.nested_key): json.loads(item.value_json)
                   for item in record.history.item}
            for key, value in row.items():
                if not key.startswith("_"):
                    curves[key][row["_step"]] = value
    return names, dict(curves)


def _wandb_payloads(data: bytes) -> list[bytes]:
    assert data[:4] == b":W&B", "not a W&B run file"
    payloads, pending, offset = [], b"", WANDB_FILE_HEADER
    while offset + WANDB_RECORD_HEADER <= len(data):
        left_in_block = WANDB_BLOCK - offset % WANDB_BLOCK
        if left_in_block < WANDB_RECORD_HEADER:
            offset += left_in_block  # the block's zero padding
            continue
        length, kind = struct.unpack_from("<HB", data, offset + 4)
        chunk = data[offset + WANDB_RECORD_HEADER: offset + WANDB_RECORD_HEADER + length]
        offset += WANDB_RECORD_HEADER + length
        pending = chunk if kind in (WANDB_FULL, WANDB_FIRST) else pending + chunk
        if kind in (WANDB_FULL, WANDB_LAST):
            payloads.append(pending)
    return payloads
