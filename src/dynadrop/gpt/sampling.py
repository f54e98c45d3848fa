"""Text generation from a trained GPT, and the paper's inference-speed measurement.

Inference runs in eval mode, where dropout is the identity: a training-time dropout schedule
cannot change inference speed. The speed is measured anyway, because the paper reports it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from dynadrop.gpt.checkpoint import read_checkpoint
from dynadrop.gpt.model import GPT, GPTConfig


@torch.no_grad()
def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Extend ``idx`` (batch, time) by ``max_new_tokens`` sampled tokens, cropping to the context."""
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if top_k is not None and top_k <= 0:
        raise ValueError(f"top_k must be a positive int or None, got {top_k}")
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -model.config.block_size:])
        logits = logits[:, -1, :] / temperature
        if top_k is not None:
            kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        next_token = torch.multinomial(logits.softmax(dim=-1), 1, generator=generator)
        idx = torch.cat([idx, next_token], dim=1)
    return idx


def measure_inference_speed(
    model: GPT,
    *,
    samples: int = 10,
    new_tokens: int = 500,
    temperature: float = 0.8,
    top_k: int | None = 200,
    start_token: int = 0,
    seed: int = 0,
) -> float:
    """Tokens per second generating ``samples`` x ``new_tokens`` at batch 1, in eval mode.

    Defaults are the paper's protocol (10 samples of 500 tokens, temperature 0.8, top-k 200).
    The model is left in the mode it was in.
    """
    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(seed)
    was_training = model.training
    model.eval()
    start = torch.full((1, 1), start_token, dtype=torch.long, device=device)
    try:
        generate(model, start, 2, temperature=temperature, top_k=top_k, generator=generator)  # warm-up
        _synchronize(device)
        began = time.perf_counter()
        for _ in range(samples):
            generate(model, start, new_tokens, temperature=temperature, top_k=top_k, generator=generator)
        _synchronize(device)
        elapsed = time.perf_counter() - began
    finally:
        model.train(was_training)
    return samples * new_tokens / elapsed


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_trained_model(path: Path, device: str = "cpu") -> tuple[GPT, str, dict[str, Any]]:
    """The model, its vocabulary and its training config from a checkpoint or run directory."""
    checkpoint = read_checkpoint(path, ("model_config", "model", "vocab", "config"))
    model = GPT(GPTConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    model.to(device).eval()
    return model, checkpoint["vocab"], checkpoint["config"]
