"""Fixtures shared by the comparison tests."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

WORDS = "the of and to a in that is was he for it with as his on be at by".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A small text with structure to learn, so the tests need neither tinyshakespeare nor a network."""
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("data") / "corpus.txt"
    path.write_text(" ".join(rng.choice(WORDS) for _ in range(6000)))
    return path
