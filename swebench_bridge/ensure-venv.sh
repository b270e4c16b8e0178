#!/usr/bin/env bash
# Creates (once) the venv the swebench bridge runs in and prints its python: scripts/ensure-venv.sh
# with the bridge's pins installed --no-deps (its requirements.txt is the whole closure it imports),
# then a check that the harness modules import.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python=$("$here/../scripts/ensure-venv.sh" swebench-bridge "$here/requirements.txt" --no-deps)
"$python" -c 'import sys; sys.path.insert(0, sys.argv[1]); import swebench_bridge.loader as l; l.load()' "$(dirname "$here")" >&2
echo "$python"
