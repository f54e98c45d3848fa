"""Every Python example in docs/integrations.md runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_doc_has_an_example_per_integration():
    assert [("lightning" in code, "transformers" in code) for code in EXAMPLES] == [
        (True, False), (False, True)]


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_doc_example_runs(index):
    exec(compile(EXAMPLES[index], f"docs/integrations.md example {index}", "exec"),
         {"__name__": "__docs__"})
