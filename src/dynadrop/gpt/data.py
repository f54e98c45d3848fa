"""Character-level data: find the corpus, build the vocabulary, split, cache, and draw batches.

Any UTF-8 text file works. Its characters (sorted) are the vocabulary; the first 90% of the text
is the training split and the last 10% the validation split (nanoGPT's ``shakespeare_char``).
Both splits are cached as uint16 memmaps under ``cache_dir()/<sha256 of the source>/`` with a
``meta.json`` recording the vocabulary and the source's sha256, so later runs just map them.

The default corpus, tinyshakespeare, is looked up in this order: an explicit path (``--data``),
the ``DYNADROP_DATA`` environment variable, ``cache_dir()/tinyshakespeare.txt``, and finally a
download from its canonical location, verified by sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dynadrop.gpt.files import atomic_write, atomic_write_bytes, atomic_write_json

TINYSHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TINYSHAKESPEARE_FILE = "tinyshakespeare.txt"
TRAIN_FRACTION = 0.9
SUBSET_MODES = ("spread", "prefix")


class DataError(ValueError):
    """The corpus cannot be found or used; the message says why and what to do."""


def cache_dir() -> Path:
    """Where datasets live: ``$DYNADROP_CACHE``, else ``~/.cache/dynadrop``."""
    return Path(os.environ.get("DYNADROP_CACHE") or Path.home() / ".cache" / "dynadrop")


@dataclass
class CharDataset:
    """A character-level corpus: vocabulary and the two splits as arrays of token ids."""

    vocab: str
    train: np.ndarray
    val: np.ndarray
    source_sha256: str

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        return encode_text(self.vocab, text)

    def decode(self, ids: list[int]) -> str:
        return decode_ids(self.vocab, ids)


def encode_text(vocab: str, text: str) -> list[int]:
    """Token ids of ``text``; a character outside ``vocab`` is an error naming it."""
    index = {char: i for i, char in enumerate(vocab)}
    unknown = sorted(set(text) - index.keys())
    if unknown:
        raise DataError(f"characters {unknown!r} are not in the vocabulary ({len(vocab)} characters)")
    return [index[char] for char in text]


def decode_ids(vocab: str, ids: list[int]) -> str:
    return "".join(vocab[i] for i in ids)


def locate_corpus(path: str | Path | None = None) -> Path:
    """The text file to train on: ``path``, else ``$DYNADROP_DATA``, else tinyshakespeare."""
    if path is not None:
        return _existing_file(Path(path), "--data")
    from_env = os.environ.get("DYNADROP_DATA")
    if from_env:
        return _existing_file(Path(from_env), "DYNADROP_DATA")
    cached = cache_dir() / TINYSHAKESPEARE_FILE
    if cached.is_file():
        return cached
    try:
        return download_tinyshakespeare(cached)
    except (urllib.error.URLError, OSError) as error:
        raise DataError(
            f"tinyshakespeare was not found and could not be downloaded from {TINYSHAKESPEARE_URL} "
            f"({error}). Supply it in one of three ways: pass --data PATH (any UTF-8 text file), "
            f"set the DYNADROP_DATA environment variable to its path, or put it at {cached} "
            "(for example by running `dynadrop prepare` on a machine with network access)."
        ) from error


def _existing_file(path: Path, source: str) -> Path:
    if not path.is_file():
        raise DataError(f"{source} names {str(path)!r}, which is not a file")
    return path


def download_tinyshakespeare(destination: Path, timeout_s: float = 30.0) -> Path:
    """Download tinyshakespeare to ``destination`` (atomically), checking its sha256."""
    with urllib.request.urlopen(TINYSHAKESPEARE_URL, timeout=timeout_s) as response:
        content = response.read()
    digest = hashlib.sha256(content).hexdigest()
    if digest != TINYSHAKESPEARE_SHA256:
        raise DataError(
            f"downloaded tinyshakespeare has sha256 {digest}, expected {TINYSHAKESPEARE_SHA256}; "
            "refusing to use it"
        )
    atomic_write_bytes(destination, content)
    return destination


def read_text(path: Path) -> str:
    """The file's text, with clear errors for empty, binary and non-UTF-8 files."""
    raw = path.read_bytes()
    if not raw:
        raise DataError(f"data file {str(path)!r} is empty")
    if b"\x00" in raw:
        raise DataError(f"data file {str(path)!r} looks binary (it contains NUL bytes); "
                        "give a UTF-8 text file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(f"data file {str(path)!r} is not UTF-8 text ({error})") from error


def prepare_dataset(path: str | Path | None = None) -> CharDataset:
    """Locate the corpus, build (or reuse) its cached splits, and return them memory-mapped."""
    source = locate_corpus(path)
    raw = source.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    folder = cache_dir() / digest
    if not (folder / "meta.json").is_file():
        _build_cache(source, digest, folder)
    meta = json.loads((folder / "meta.json").read_text())
    return CharDataset(
        vocab=meta["vocab"],
        train=np.memmap(folder / "train.bin", dtype=np.uint16, mode="r"),
        val=np.memmap(folder / "val.bin", dtype=np.uint16, mode="r"),
        source_sha256=digest,
    )


def _build_cache(source: Path, digest: str, folder: Path) -> None:
    text = read_text(source)
    vocab = "".join(sorted(set(text)))
    if len(vocab) > np.iinfo(np.uint16).max:
        raise DataError(f"{str(source)!r} has {len(vocab)} distinct characters; at most 65535 fit uint16")
    ids = np.array(encode_text(vocab, text), dtype=np.uint16)
    split = int(len(ids) * TRAIN_FRACTION)
    atomic_write(folder / "train.bin", lambda file: file.write(ids[:split].tobytes()))
    atomic_write(folder / "val.bin", lambda file: file.write(ids[split:].tobytes()))
    atomic_write_json(folder / "meta.json", {
        "vocab": vocab, "source": str(source), "source_sha256": digest,
        "train_chars": split, "val_chars": len(ids) - split,
    })


def check_split_length(data: np.ndarray, block_size: int, split: str) -> None:
    """Each split must hold at least one context window plus its next-character target."""
    if len(data) < block_size + 1:
        raise DataError(
            f"the {split} split has {len(data)} characters, fewer than one context window "
            f"(block_size {block_size} + 1): use a longer text or a smaller block_size"
        )


def train_subset(train: np.ndarray, chars: int | None, mode: str, chunk_chars: int) -> np.ndarray:
    """The first ``chars`` characters (``prefix``) or chunks spread evenly over the split (``spread``).

    ``spread`` takes ``chars / chunk_chars`` chunks of ``chunk_chars`` characters at evenly spaced
    offsets: the subset samples every part of the corpus (in tinyshakespeare, many plays rather
    than the first one), so validation on the last 10% is not a shifted distribution.
    """
    if mode not in SUBSET_MODES:
        raise ValueError(f"train_subset {mode!r} is not one of {SUBSET_MODES}")
    if chars is None or chars >= len(train):
        return train
    if mode == "prefix" or chars <= chunk_chars:
        return np.asarray(train[:chars])
    num_chunks = -(-chars // chunk_chars)
    starts = np.linspace(0, len(train) - chunk_chars, num_chunks).astype(np.int64)
    return np.concatenate([train[start:start + chunk_chars] for start in starts])[:chars]


def draw_batch(
    data: np.ndarray,
    block_size: int,
    batch_size: int,
    generator: torch.Generator,
    *,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows ``x`` and their next-character targets ``y``, each (batch, block_size).

    Every rank draws the offsets of all ranks from the same generator and keeps its own slice:
    ranks see different data while their generators stay identical (one state to checkpoint).
    """
    offsets = torch.randint(len(data) - block_size, (batch_size * world_size,), generator=generator)
    offsets = offsets[rank * batch_size:(rank + 1) * batch_size].numpy()
    windows = np.asarray(data[offsets[:, None] + np.arange(block_size + 1)], dtype=np.int64)
    tokens = torch.from_numpy(windows)
    return tokens[:, :-1], tokens[:, 1:]
