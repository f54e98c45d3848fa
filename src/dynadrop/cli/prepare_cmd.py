"""`dynadrop prepare`: find (or download) the corpus and cache its character-level splits."""

from __future__ import annotations

import argparse

from dynadrop.gpt.data import cache_dir, prepare_dataset


def run(args: argparse.Namespace) -> int:
    dataset = prepare_dataset(args.data)
    print(f"cache: {cache_dir() / dataset.source_sha256}")
    print(f"source sha256: {dataset.source_sha256}")
    print(f"vocabulary: {dataset.vocab_size} characters")
    print(f"train: {len(dataset.train):,} characters, val: {len(dataset.val):,} characters")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="cache a text corpus as character-level train/val splits (tinyshakespeare by default)",
        description="Build the vocabulary and the 90%%/10%% train/validation split of a UTF-8 text "
        "file and cache them as uint16 arrays in $DYNADROP_CACHE (default ~/.cache/dynadrop). "
        "Without --data: $DYNADROP_DATA, then the cached tinyshakespeare, then a download "
        "checked by sha256.",
    )
    parser.add_argument("--data", default=None, metavar="PATH",
                        help="a UTF-8 text file (default: tinyshakespeare)")
    parser.set_defaults(func=run)
