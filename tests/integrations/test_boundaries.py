"""The core and the integrations package import no training framework; only the submodules do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_importing_dynadrop_and_its_integrations_package_pulls_in_no_framework():
    code = ("import sys, dynadrop, dynadrop.integrations; "
            "print(sorted(m for m in ('lightning', 'transformers', 'accelerate') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            env={**os.environ, "PYTHONPATH": str(SRC)})
    assert result.stdout.strip() == "[]"
