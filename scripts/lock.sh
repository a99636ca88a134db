#!/usr/bin/env bash
# Re-resolve requirements.txt from requirements.in with the deliberate overrides (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/uv pip compile requirements.in --override overrides.txt --python-version 3.11 \
  --custom-compile-command ./scripts/lock.sh -o requirements.txt "$@"
