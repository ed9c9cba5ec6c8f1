#!/usr/bin/env bash
# Set up a fresh virtual environment and run the main job on the shipped sample and checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
mkdir -p out
.venv/bin/edgevfi demo --out out
