#!/usr/bin/env bash
# Set up where needed, then lint, type-check and run the whole test suite
# (unit, AppTest, embedded services, real browser). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/setup-compliance.sh
step() { printf '\033[1;34m[test]\033[0m %s\n' "$*"; }
step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy --strict apex_core"
.venv/bin/mypy apex_core
step "import-linter (pyproject.toml: apex_core.local behind its contract; apex_core without streamlit)"
.venv/bin/lint-imports --no-logo
step "pytest"
mkdir -p test-output
exec .venv/bin/pytest --junitxml=test-output/junit.xml "$@"
