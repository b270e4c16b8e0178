#!/usr/bin/env bash
# Creates (once) the venv the swebench bridge runs in and prints its python. The venv lives under
# ~/.cache/swerl keyed by the hash of requirements.txt, so a change of pin makes a new one and two
# worktrees share one. Idempotent and safe to run concurrently (flock); PyPI is the only source.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
hash=$(sha256sum "$here/requirements.txt" | cut -c1-12)
root="${SWERL_BRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/swerl}"
venv="$root/swebench-bridge-$hash"
if [ ! -f "$venv/.complete" ]; then
  mkdir -p "$root"
  exec 9>"$root/swebench-bridge-$hash.lock"
  flock 9
  if [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    "${PYTHON:-python3}" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps -r "$here/requirements.txt" >&2
    "$venv/bin/python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import swebench_bridge.loader as l; l.load()' "$(dirname "$here")" >&2
    touch "$venv/.complete"
  fi
fi
echo "$venv/bin/python"
