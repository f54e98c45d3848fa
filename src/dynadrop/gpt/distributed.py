"""Data-parallel set-up: one process per device under ``torchrun``, or a single process.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the process group is initialised with
nccl on CUDA and gloo on CPU. Only rank 0 writes files; every rank gets identical dropout rates
because schedules are closed-form in the step and validation metrics are averaged over ranks.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Process:
    rank: int
    world_size: int
    device: torch.device
    owns_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str) -> torch.device:
    """``auto`` is CUDA when available, else CPU; a named device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available; use 'cpu' or 'auto'")
    return device


def start_process(device_name: str) -> Process:
    """This process's rank, world size and device; joins the process group under torchrun."""
    device = resolve_device(device_name)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1 and not dist.is_initialized():
        return Process(0, 1, device, owns_group=False)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owns_group = not dist.is_initialized()
    if owns_group:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Process(dist.get_rank(), dist.get_world_size(), device, owns_group)


def end_process(process: Process) -> None:
    if process.owns_group:
        dist.destroy_process_group()


def data_parallel(model: nn.Module, process: Process) -> nn.parallel.DistributedDataParallel:
    """``model`` wrapped for data-parallel training, without re-sending its buffers every forward.

    The buffers (dropout rates, causal masks) are equal on every rank already: the rates are set
    from the same schedule step and all-reduced metrics. torch 2.13 renamed the switch
    (``broadcast_buffers`` -> ``forward_sync_buffers``); the name this torch knows is used.
    """
    known = inspect.signature(nn.parallel.DistributedDataParallel).parameters
    switch = "forward_sync_buffers" if "forward_sync_buffers" in known else "broadcast_buffers"
    device_ids = [process.device] if process.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids, **{switch: False})


def all_reduce_sum(values: torch.Tensor, process: Process) -> torch.Tensor:
    """Sum over ranks (identity for a single process)."""
    if process.world_size > 1:
        dist.all_reduce(values)
    return values


def barrier(process: Process) -> None:
    """Wait for every rank (nothing to wait for in a single process)."""
    if process.world_size > 1:
        dist.barrier()
