#!/usr/bin/env bash
# Re-resolve requirements.txt from requirements.in with the deliberate overrides (see README), and the
# openEO compliance suite's own environment (tests/compliance/requirements-openeo-suite.txt, with hashes).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/uv pip compile requirements.in --override overrides.txt --python-version 3.11 \
  --custom-compile-command ./scripts/lock.sh -o requirements.txt "$@"
.venv/bin/uv pip compile tests/compliance/requirements-openeo-suite.in --python-version 3.11 --generate-hashes \
  --custom-compile-command ./scripts/lock.sh -o tests/compliance/requirements-openeo-suite.txt "$@"
