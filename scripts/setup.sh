#!/usr/bin/env bash
# Set up everything the app and its tests need, where needed (idempotent, fast when done):
#   Debian packages (PostgreSQL + PostGIS, Chromium, Node.js/npm), the Python environment in .venv
#   (exactly requirements.txt), the offline map libraries (npm ci in static/), the Sentinel-2 sample,
#   the STAC extension schemas (<data dir>/stac-schemas), and the openEO API compliance suite
#   (.venv-openeo-suite/ + its layout in .apex/openeo-test-suite/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
APT_PACKAGES=(postgresql-15 postgresql-15-postgis-3 chromium nodejs npm ca-certificates)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# nodejs/npm may come from elsewhere (e.g. NodeSource): a working npm is enough.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
read -r -a missing <<<"${missing[*]:-}"
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "Need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  log "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- Python environment ----------------------------------------------------------------------
PYTHON=${APEX_PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  UV_VERSION=$(grep -E '^uv==' requirements.txt | cut -d= -f3)
  log "bootstrapping uv $UV_VERSION"
  .venv/bin/python -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
REQ_HASH=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$REQ_HASH" ]; then
  log "installing Python packages (requirements.txt, exact)"
  # bytecode now, once: every embedded service and app start would compile pandas, openeo-driver… again
  .venv/bin/uv pip sync -q --compile-bytecode --python .venv/bin/python requirements.txt
  echo "$REQ_HASH" >.venv/.requirements.sha256
fi

# --- Map libraries, served by the app itself (offline maps) -----------------------------------
LOCK_HASH=$(sha256sum static/package-lock.json | cut -d' ' -f1)
if [ "$(cat static/node_modules/.lock.sha256 2>/dev/null)" != "$LOCK_HASH" ]; then
  log "installing map libraries (npm ci in static/)"
  npm ci --prefix static --no-audit --no-fund --loglevel=error >/dev/null
  echo "$LOCK_HASH" >static/node_modules/.lock.sha256
fi

# --- Sentinel-2 sample for the embedded openEO backend ----------------------------------------
.venv/bin/python -m apex_core.sampledata | { grep -v ' present ' || true; }

# --- STAC extension JSON schemas, for offline metadata validation (<data dir>/stac-schemas) ---------
.venv/bin/python -m apex_core.sampledata --stac-schemas | { grep -v ' present ' || true; }

log "ready"
