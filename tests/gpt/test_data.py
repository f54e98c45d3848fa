"""Data: vocabulary, split, cache, corpus lookup, subsets, bad files, batches."""

from __future__ import annotations

import hashlib
import json
import urllib.error

import numpy as np
import pytest
import torch

from dynadrop.gpt import data
from dynadrop.gpt.data import DataError, draw_batch, prepare_dataset, train_subset


def test_splits_vocabulary_and_cache(corpus, private_cache):
    text = corpus.read_text()
    dataset = prepare_dataset(corpus)
    assert dataset.vocab == "".join(sorted(set(text)))
    split = int(len(text) * 0.9)
    assert dataset.decode(list(dataset.train)) == text[:split]
    assert dataset.decode(list(dataset.val)) == text[split:]
    assert dataset.train.dtype == np.uint16
    digest = hashlib.sha256(corpus.read_bytes()).hexdigest()
    meta = json.loads((private_cache / digest / "meta.json").read_text())
    assert meta["source_sha256"] == digest == dataset.source_sha256
    assert dataset.encode("the king") == [dataset.vocab.index(c) for c in "the king"]


def test_unknown_characters_are_named(corpus):
    with pytest.raises(DataError, match="'Z'"):
        prepare_dataset(corpus).encode("Zed")


def test_lookup_order_path_then_env_then_cache(tmp_path, corpus, private_cache, monkeypatch):
    cached = private_cache / data.TINYSHAKESPEARE_FILE
    cached.write_text("cached text")
    assert data.locate_corpus() == cached
    monkeypatch.setenv("DYNADROP_DATA", str(corpus))
    assert data.locate_corpus() == corpus
    other = tmp_path / "other.txt"
    other.write_text("x")
    assert data.locate_corpus(other) == other


def test_offline_without_data_names_the_three_ways(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as error:
        data.locate_corpus()
    message = str(error.value)
    assert "--data" in message and "DYNADROP_DATA" in message and data.TINYSHAKESPEARE_FILE in message


def test_download_is_verified(monkeypatch, private_cache):
    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return b"not shakespeare"

    monkeypatch.setattr(data.urllib.request, "urlopen", lambda *a, **k: Response())
    with pytest.raises(DataError, match="sha256"):
        data.locate_corpus()
    assert not (private_cache / data.TINYSHAKESPEARE_FILE).exists()


@pytest.mark.parametrize(("content", "problem"), [
    (b"", "empty"), (b"abc\x00def" * 10, "binary"), (b"\xff\xfe\xfa" * 10, "not UTF-8"),
])
def test_bad_files_get_clear_errors(tmp_path, content, problem):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=problem):
        prepare_dataset(path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nope.txt"):
        prepare_dataset(tmp_path / "nope.txt")


def test_too_short_split_is_an_error():
    with pytest.raises(DataError, match="fewer than one context window"):
        data.check_split_length(np.zeros(10, dtype=np.uint16), 16, "validation")


def test_subsets():
    train = np.arange(10_000, dtype=np.uint16)
    assert list(train_subset(train, 300, "prefix", 100)) == list(range(300))
    spread = train_subset(train, 300, "spread", 100)
    assert len(spread) == 300
    assert spread[0] == 0 and spread[-1] == 9_999  # chunks reach both ends of the split
    assert list(spread[:100]) == list(range(100))  # each chunk is contiguous
    assert train_subset(train, None, "spread", 100) is train
    with pytest.raises(ValueError, match="'middle'"):
        train_subset(train, 300, "middle", 100)


def test_batches_are_shifted_windows_and_ranks_differ():
    tokens = np.arange(1000, dtype=np.uint16)
    x, y = draw_batch(tokens, 8, 4, torch.Generator().manual_seed(1))
    assert x.shape == (4, 8) and torch.equal(y, x + 1)
    rank0, rank1 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    x0, _ = draw_batch(tokens, 8, 4, rank0, rank=0, world_size=2)
    x1, _ = draw_batch(tokens, 8, 4, rank1, rank=1, world_size=2)
    assert x1.shape == (4, 8) and not torch.equal(x0, x1)
    assert torch.equal(rank0.get_state(), rank1.get_state())  # ranks' generators stay in step
