"""Data-parallel training: 2 CPU processes (gloo), via torch.multiprocessing and via torchrun's c10d."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch.distributed as dist
import torch.multiprocessing as mp

from dynadrop.gpt.config import TrainConfig
from dynadrop.gpt.trainer import train

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, config: TrainConfig, run_dir: Path, out: Path) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank))
    summary = train(config, run_dir, progress=False)
    (out / f"rank{rank}.json").write_text(json.dumps(summary))


def test_two_ranks_share_rates_see_different_data_and_only_rank0_writes(smoke, tmp_path):
    config = replace(smoke, max_steps=8, eval_interval=4, log_interval=2, checkpoint_interval=4,
                     schedule={"mlp": "adaptive:0.2,delta=0.05,patience=0", "default": "linear:0.2->0.0"})
    out = tmp_path / "out"
    out.mkdir()
    mp.spawn(_worker, args=(2, _free_port(), config, tmp_path / "run", out), nprocs=2, join=True)
    rank0, rank1 = (json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["world_size"] == rank1["world_size"] == 2
    assert rank0["final_rates"] == rank1["final_rates"]
    assert rank0["final_rates"]["mlp"] != 0.2  # the controller acted on the all-reduced val loss
    assert rank0["best_val_loss"] == rank1["best_val_loss"]  # eval is shared out and all-reduced
    assert rank0["last_minibatch_loss"] != rank1["last_minibatch_loss"]  # different batches
    run_dir = tmp_path / "run"
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoint.prev.pt", "checkpoint.pt", "config.json", "metrics.jsonl", "summary.json", "train.lock"]
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["type"] == "train"]
    assert steps == [2, 4, 6, 8]  # one writer: no duplicated lines


def test_two_nodes_meet_through_c10d_rendezvous_on_loopback(corpus, private_cache, tmp_path):
    """The README's 2-node torchrun command, both "nodes" here: one agent and one rank each.

    The rendezvous store lives in this process (both agents ``is_host=false``): on one machine the
    agent that hosted it could exit first and leave the other's shutdown waiting on a dead store.
    """
    port = _free_port()
    store = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False)
    run_dir = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "DYNADROP_CACHE": str(private_cache),
           "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1", "LOGLEVEL": "INFO"}  # agents say each phase
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "dynadrop-test",
               "--rdzv-conf", "is_host=false", "--local-addr", "127.0.0.1",
               "-m", "dynadrop", "train", "--preset", "smoke",
               "--data", str(corpus), "--device", "cpu", "--max-steps", "4", "--eval-interval", "2",
               "--run-dir", str(run_dir), "--no-progress"]
    nodes = [subprocess.Popen(command, env=env, cwd=tmp_path, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, start_new_session=True) for _ in range(2)]
    outputs = _outputs_within(nodes, seconds=120)
    del store
    assert [node.returncode for node in nodes] == [0, 0], "\n".join(outputs)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 4


def _outputs_within(nodes: list[subprocess.Popen], seconds: float) -> list[str]:
    """Each node's output once all have exited; a node still running after ``seconds`` fails the
    test with every node's output so far (agent and worker killed, not left behind)."""
    try:
        return [node.communicate(timeout=seconds)[0] for node in nodes]
    except subprocess.TimeoutExpired as timeout:
        for node in nodes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(node.pid, signal.SIGKILL)
        outputs = [node.communicate()[0] for node in nodes]
        report = "\n---\n".join(outputs)
        raise AssertionError(f"the nodes did not all exit within {seconds} s:\n{report}") from timeout
