#!/usr/bin/env bash
# Idempotent CPU install of the reference trainer: Debian's python3-torch (1.13, CPU, ~150 MB,
# about a minute) + OpenBLAS, then a venv over the system site-packages with the pinned PyPI deps.
# PyPI's default torch wheel would pull ~5 GB of CUDA libraries; see README.md for the GPU path.
#
# install.sh --hf: the Hugging Face policy path instead (requirements-hf.txt: torch 2.x from PyPI +
# transformers), a venv of its own made by ../scripts/ensure-venv.sh under ~/.cache/swerl/, keyed by
# the sha256 of the requirements files and the Python version, linked as trainer/.venv-hf. A cache hit
# costs nothing; a miss downloads ~5 GB (measured here: 306 s on a shared machine).
set -euo pipefail
cd "$(dirname "$0")"

if [[ "${1:-}" == "--hf" ]]; then
  # The same cached-venv mechanism as every other swerl venv (keyed by the pins, requirements.txt
  # included via -r, and the Python version); Debian's Python, like the native venv.
  started=$(date +%s)
  # No pip wheel cache: it would keep a second copy of the ~5 GB of torch + CUDA wheels on disk.
  python=$(PIP_NO_CACHE_DIR=1 PYTHON=/usr/bin/python3 ../scripts/ensure-venv.sh trainer-hf requirements-hf.txt)
  venv=$(dirname "$(dirname "$python")")
  echo "install.sh --hf: $venv ready in $(( $(date +%s) - started )) s" >&2
  ln -sfn "$venv" .venv-hf
  # The trainer worker's own pins (requirements-worker.txt) go on top, outside the key (a pin there
  # must not re-download torch): `npm run demo -- --arch qwen2` runs the worker in this venv.
  # Checked first, so a venv that has them costs no pip call.
  if ! .venv-hf/bin/python -c 'import prometheus_client' 2>/dev/null; then
    flock "$venv.lock" .venv-hf/bin/pip install -q --disable-pip-version-check -r requirements-worker.txt
  fi
  .venv-hf/bin/python - <<'PY'
import json, sys, torch, transformers, tokenizers, temporalio
print(json.dumps({"trainer_hf_python": sys.prefix, "torch": torch.__version__, "cuda": torch.cuda.is_available(),
                  "transformers": transformers.__version__, "tokenizers": tokenizers.__version__, "temporalio": temporalio.__version__}))
PY
  exit 0
fi

need_apt=()
dpkg -s python3-torch >/dev/null 2>&1 || need_apt+=(python3-torch)
dpkg -s python3-venv >/dev/null 2>&1 || need_apt+=(python3-venv)
dpkg -s python3-pip >/dev/null 2>&1 || need_apt+=(python3-pip)
# Without it libtorch falls back to the reference BLAS: ~5x slower matmuls.
dpkg -s libopenblas0-pthread >/dev/null 2>&1 || need_apt+=(libopenblas0-pthread)
if ((${#need_apt[@]})); then
  echo "install.sh: apt-get install ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if [[ ! -x .venv/bin/python ]]; then
  /usr/bin/python3 -m venv --system-site-packages .venv
fi
# pip is a no-op when the pins are already satisfied.
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt -r requirements-worker.txt
.venv/bin/python - <<'PY'
import json, torch, temporalio, safetensors
print(json.dumps({"trainer_python": __import__("sys").executable, "torch": torch.__version__,
                  "torch_from": torch.__file__, "cuda": torch.cuda.is_available(),
                  "temporalio": temporalio.__version__, "safetensors": safetensors.__version__}))
PY
