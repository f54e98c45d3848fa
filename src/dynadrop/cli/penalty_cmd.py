"""`dynadrop penalty`: Monte Carlo dropout penalty of a trained GPT, per rate, group and depth."""

from __future__ import annotations

import argparse
from pathlib import Path

from dynadrop.cli.arguments import positive_int


def run(args: argparse.Namespace) -> int:
    import torch

    from dynadrop.gpt.data import DataError, draw_batch, prepare_dataset
    from dynadrop.gpt.sampling import load_trained_model
    from dynadrop.theory import penalty_profile

    model, vocab, config = load_trained_model(args.run)
    dataset = prepare_dataset(args.data or config.get("data"))
    if dataset.vocab != vocab:
        raise DataError(f"the data's vocabulary ({len(dataset.vocab)} symbols) is not the one the model "
                        f"was trained on ({len(vocab)}); pass the training corpus with --data")
    generator = torch.Generator().manual_seed(args.seed)
    block_size = model.config.block_size
    batches = [draw_batch(dataset.val, block_size, args.batch_size, generator) for _ in range(args.batches)]
    profile = penalty_profile(model, batches, args.rates, label_noise=args.label_noise,
                              samples=args.samples, seed=args.seed)
    print(profile)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "penalty",
        help="dropout penalty of a trained GPT run: loss with dropout at rate p minus without",
        description="Load a trained GPT (run directory or checkpoint) and measure on validation "
        "batches how much the loss rises when dropout at rate p is switched on: for all sites, "
        "each group (attention, residual, embedding, mlp) and each block depth, with Monte Carlo "
        "standard errors. --label-noise repeats the all-sites measurement with that fraction of "
        "targets replaced by random characters (Helmbold & Long: for ReLU-type networks the "
        "penalty depends on the labels).",
    )
    parser.add_argument("run", type=Path, help="run directory or checkpoint file")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.2, 0.3],
                        help="dropout rates to measure (default 0.1 0.2 0.3)")
    parser.add_argument("--label-noise", type=float, nargs="*", default=[0.1, 0.3],
                        help="label-noise levels for the sweep (default 0.1 0.3; none: no sweep)")
    parser.add_argument("--batches", type=positive_int, default=4, help="validation batches (default 4)")
    parser.add_argument("--batch-size", type=positive_int, default=16,
                        help="sequences per batch (default 16)")
    parser.add_argument("--samples", type=positive_int, default=8,
                        help="dropout passes per batch (default 8)")
    parser.add_argument("--data", metavar="PATH", help="the training corpus, if not where the run found it")
    parser.add_argument("--seed", type=int, default=0)
    parser.set_defaults(func=run)
