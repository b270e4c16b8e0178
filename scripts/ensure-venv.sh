#!/usr/bin/env bash
# ensure-venv.sh NAME REQUIREMENTS [PIP_ARGS...]: creates (once) a Python venv with the pinned
# requirements (installed with PIP_ARGS, e.g. --no-deps) and prints its python. The venv lives under
# ~/.cache/swerl (or $SWERL_VENV_CACHE) keyed by the hash of the requirements, the pip arguments and
# the Python version, so a change of pin makes a new one and worktrees and CI runs share one.
# Idempotent and safe to run concurrently (flock); PyPI is the only source.
set -euo pipefail
name=$1
req=$2
shift 2
py=${PYTHON:-python3}
# A `-r other.txt` line includes another file: its pins are part of the key too.
included=$(sed -n 's/^-r[[:space:]]*//p' "$req" | while read -r f; do echo "$(dirname "$req")/$f"; done)
# Pip arguments join the key only when given, so venvs made without them keep their names.
key=$( { cat "$req" $included; if [ $# -gt 0 ]; then echo "$*"; fi; "$py" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-12)
root="${SWERL_VENV_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/swerl}"
venv="$root/$name-$key"
if [ ! -f "$venv/.complete" ]; then
  mkdir -p "$root"
  exec 9>"$venv.lock"
  flock 9
  if [ ! -f "$venv/.complete" ]; then
    rm -rf "$venv"
    "$py" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" -r "$req" >&2
    touch "$venv/.complete"
  fi
fi
echo "$venv/bin/python"
