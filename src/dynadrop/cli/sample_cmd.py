"""`dynadrop sample`: generate text from a trained run, or measure its inference speed."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynadrop.cli.arguments import count, positive_int


def run(args: argparse.Namespace) -> int:
    import torch

    from dynadrop.gpt.data import decode_ids, encode_text
    from dynadrop.gpt.distributed import resolve_device
    from dynadrop.gpt.sampling import generate, load_trained_model, measure_inference_speed

    model, vocab, _ = load_trained_model(args.run, device=str(resolve_device(args.device)))
    prompt = encode_text(vocab, args.prompt or vocab[0])
    if args.speed:
        tokens_per_s = measure_inference_speed(
            model, samples=args.num_samples, new_tokens=args.length, temperature=args.temperature,
            top_k=args.top_k, start_token=prompt[0], seed=args.seed)
        print(f"inference: {tokens_per_s:.1f} tokens/s ({args.num_samples} samples x {args.length} tokens, "
              f"batch 1, eval mode, {args.device})")
        return 0
    generator = torch.Generator(device=args.device).manual_seed(args.seed)
    start = torch.tensor([prompt], dtype=torch.long, device=args.device)
    for _ in range(args.num_samples):
        out = generate(model, start, args.length, temperature=args.temperature, top_k=args.top_k,
                       generator=generator)
        print(decode_ids(vocab, out[0].tolist()))
        print("---")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="generate text from a trained GPT run, or measure inference tokens/s (--speed)",
        description="Load checkpoint.pt from a run directory (or a checkpoint file) and sample text. "
        "With --speed, measure inference throughput with the paper's protocol instead: eval mode, "
        "batch 1, 10 samples x 500 tokens, temperature 0.8, top-k 200 (the defaults). Dropout is "
        "off in eval mode, so a training schedule cannot change this number.",
    )
    parser.add_argument("run", type=Path, help="run directory or checkpoint file")
    parser.add_argument("--prompt", default="\n", help="text to continue (default a newline)")
    parser.add_argument("--length", type=count, default=500, help="new tokens per sample (default 500)")
    parser.add_argument("--num-samples", type=positive_int, default=10, help="samples (default 10)")
    parser.add_argument("--temperature", type=float, default=0.8, help="softmax temperature (default 0.8)")
    parser.add_argument("--top-k", type=int, default=200, help="keep the k likeliest tokens (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--speed", action="store_true", help="measure tokens/s instead of printing text")
    parser.set_defaults(func=run)
