"""`dynadrop inspect`: list the dropout sites of a model, optionally after applying a schedule."""

from __future__ import annotations

import argparse
import importlib

from torch import nn

from dynadrop.cli.arguments import count, positive_int
from dynadrop.core import DropoutScheduler, find_dropout_sites, parse_schedule, sites_table
from dynadrop.examples import MODELS

FORMS = f"a built-in example ({', '.join(MODELS)}) or package.module:factory"


def load_model(reference: str) -> nn.Module:
    """A built-in example name, or ``package.module:factory`` called with no arguments.

    Mistakes in the reference (unknown name, module or attribute) raise ValueError naming it.
    """
    if reference in MODELS:
        return MODELS[reference]()
    module_name, colon, attribute = reference.partition(":")
    if not colon or not module_name.strip() or not attribute.strip():
        raise ValueError(f"unknown model {reference!r}: give {FORMS}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        raise ValueError(f"model {reference!r}: no module named {error.name!r} (not installed, or not on "
                         f"PYTHONPATH); give {FORMS}") from None
    if not hasattr(module, attribute):
        raise ValueError(f"model {reference!r}: module {module_name!r} has no {attribute!r}; give {FORMS}")
    factory = getattr(module, attribute)
    model = factory() if not isinstance(factory, nn.Module) else factory
    if not isinstance(model, nn.Module):
        raise ValueError(f"model {reference!r} gave a {type(model).__name__}, not a torch.nn.Module")
    return model


def run(args: argparse.Namespace) -> int:
    model = load_model(args.model)
    if args.schedule:
        scheduler = DropoutScheduler(model, parse_schedule(args.schedule), args.total_steps)
        scheduler.step(args.step)
        print(f"after {scheduler}")
    print(sites_table(find_dropout_sites(model)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="list a model's dropout sites (name, kind, group, depth, rate)",
        description="List every place in a model where a dropout rate lives: nn.Dropout modules, "
        "MultiheadAttention and RNN floats, float attributes feeding F.dropout/SDPA, DropPath "
        "drop_prob. With --schedule, show the rates that schedule sets at --step.",
    )
    parser.add_argument("model", help=FORMS)
    parser.add_argument("--schedule", help="a schedule spec to apply, e.g. 'linear:0.2->0.0'")
    parser.add_argument("--total-steps", type=positive_int, default=1000,
                        help="for --schedule (default 1000)")
    parser.add_argument("--step", type=count, default=0, help="for --schedule (default 0)")
    parser.set_defaults(func=run)
