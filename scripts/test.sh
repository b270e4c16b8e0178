#!/usr/bin/env bash
# The whole test suite: static checks, unit tests, integration + fault tests on the real stack
# (Temporal dev server, Postgres, Docker started by the harness), and the trainer's pytest suite
# (native venv; then the Hugging Face path's tests in its own venv, cached by content hash).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
npm run --silent lint
npm run --silent typecheck
npx vitest run --project unit
npx vitest run --project integration
trainer/.venv/bin/python -m pytest trainer/tests -q
trainer/install.sh --hf
trainer/.venv-hf/bin/python -m pytest trainer/tests/test_hf.py -q
