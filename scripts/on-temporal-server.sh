#!/usr/bin/env bash
# Runs vitest against the dev stack with the real Temporal server instead of the dev server
# (`swerl dev up --temporal server`: temporal-server v1.32.2 on the stack's Postgres, built from its
# Go module the first time, ~15 min). The stack's state dir remembers the kind, so a later plain
# `swerl dev up` keeps the real server; `swerl dev down --only temporal && swerl dev up --temporal dev`
# goes back. Used by `npm run test:temporal-server` and `npm run test:hosts`; not part of CI.
set -euo pipefail
cd "$(dirname "$0")/.."
state=${SWERL_HOME:-.swerl}
if [ "$(cat "$state/temporal-kind" 2>/dev/null || echo dev)" != server ]; then
  npx tsx cli/main.ts dev down --only temporal
fi
npx tsx cli/main.ts dev up --temporal server
export SWERL_TEMPORAL_KIND=server
exec npx vitest run "$@"
