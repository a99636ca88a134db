#!/usr/bin/env bash
# What the tests need beyond the app (./scripts/test.sh runs it after ./scripts/setup.sh; the app itself
# does not, so serving it never depends on the compliance suite's sources): idempotent, fast when done.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
PYTHON=${APEX_PYTHON:-python3}

# --- openEO API compliance suite (tests/local/test_openeo_compliance.py) -----------------------
# Its own virtualenv (its pins are not the app's), exactly tests/compliance/requirements-openeo-suite.txt
# (hashes), and its repository layout: copied from ../shared/openeo-test-suite when there, else downloaded
# from the suite's and the openEO API's repositories, every file verified against the manifest.
SUITE_REQ=tests/compliance/requirements-openeo-suite.txt
if [ ! -x .venv-openeo-suite/bin/python ]; then
  log "creating .venv-openeo-suite with $($PYTHON --version)"
  "$PYTHON" -m venv .venv-openeo-suite
fi
SUITE_HASH=$(sha256sum "$SUITE_REQ" | cut -d' ' -f1)
if [ "$(cat .venv-openeo-suite/.requirements.sha256 2>/dev/null)" != "$SUITE_HASH" ]; then
  log "installing the openEO compliance suite ($SUITE_REQ, exact)"
  .venv/bin/uv pip sync -q --python .venv-openeo-suite/bin/python "$SUITE_REQ"
  echo "$SUITE_HASH" >.venv-openeo-suite/.requirements.sha256
fi
.venv/bin/python -m apex_core.sampledata --manifest tests/compliance/openeo-test-suite.manifest.json \
  --dest .apex/openeo-test-suite --shared ../shared/openeo-test-suite | { grep -v ' present ' || true; }
cp tests/compliance/pytest-openeo-suite.ini .apex/openeo-test-suite/pytest.ini
log "compliance suite ready"
