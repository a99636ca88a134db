#!/usr/bin/env bash
# Set up where needed, then serve the app on its embedded defaults: http://localhost:8501
# Extra arguments go to Streamlit, e.g. ./scripts/run.sh --server.port 8600
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/python scripts/serve.py "$@"
