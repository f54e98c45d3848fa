#!/usr/bin/env bash
# Install dynadrop with its test extras and run lint and the whole test suite.
# torch 2.13.0 is installed first so that no dependency pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q torch==2.13.0
python3 -m pip install -q -e ".[test,lightning,transformers,trackers,ray]"
python3 -m ruff check src tests benchmarks
python3 -m pytest -q "$@"
