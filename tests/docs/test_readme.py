"""Every Python example in the README runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.gpt.conftest import generated_text

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example_runs(index, tmp_path, monkeypatch):
    """Each example runs in a fresh directory, with a small generated corpus as the default data and
    experiment trackers offline (what an example sets in the environment is undone afterwards)."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text(generated_text(20_000))
    monkeypatch.setenv("DYNADROP_DATA", str(corpus))
    monkeypatch.setenv("DYNADROP_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.chdir(tmp_path)
    exec(compile(EXAMPLES[index], f"README example {index}", "exec"), {"__name__": "__readme__"})
