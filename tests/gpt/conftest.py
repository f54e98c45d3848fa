"""Fixtures for the GPT workload: a small generated corpus and a private dataset cache."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from dynadrop.gpt.config import TrainConfig, preset

WORDS = ("the", "king", "queen", "shall", "speak", "of", "love", "and", "war", "my", "lord", "night")


def generated_text(chars: int, seed: int = 0) -> str:
    """Pseudo-English lines: learnable structure, no network, a 20-odd character vocabulary."""
    rng = random.Random(seed)
    lines = []
    while sum(len(line) + 1 for line in lines) < chars:
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize() + ".")
    return "\n".join(lines)[:chars]


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch) -> Path:
    """Every test gets its own dataset cache and no DYNADROP_DATA from the environment."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("DYNADROP_CACHE", str(cache))
    monkeypatch.delenv("DYNADROP_DATA", raising=False)
    return cache


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(generated_text(20_000))
    return path


@pytest.fixture
def smoke(corpus) -> TrainConfig:
    """The smoke preset on the generated corpus, on CPU."""
    return preset("smoke", data=str(corpus), device="cpu")
