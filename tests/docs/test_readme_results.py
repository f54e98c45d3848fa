"""The README's result tables are the committed reports' own, and stay in step with them."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("readme_results", ROOT / "scripts" / "readme_results.py")
readme_results = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(readme_results)


def test_readme_result_blocks_match_the_committed_reports():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for directory in ("results/compare-quick", "results/compare-cpu", "results/compare-cpu-timing"):
        assert f"<!-- results: {directory} -->" in readme
    assert readme_results.regenerate(readme) == readme, "run python3 scripts/readme_results.py"


def test_a_block_is_replaced_by_the_results_section_of_its_report(tmp_path):
    (tmp_path / "cmp").mkdir()
    (tmp_path / "cmp" / "report.md").write_text("# T\n\n## Results\n\n| a |\n|---|\n| 1 |\n\n## Next\nmore\n")
    readme = "intro\n<!-- results: cmp -->\nold table\n<!-- end results -->\nafter\n"
    fresh = readme_results.regenerate(readme, root=tmp_path)
    assert fresh == "intro\n<!-- results: cmp -->\n\n| a |\n|---|\n| 1 |\n\n<!-- end results -->\nafter\n"
    (tmp_path / "cmp" / "report.md").write_text("# no results here\n")
    with pytest.raises(ValueError, match="no '## Results' section"):
        readme_results.regenerate(readme, root=tmp_path)
