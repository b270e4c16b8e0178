#!/usr/bin/env bash
# Idempotent CPU install of the reference trainer: Debian's python3-torch (1.13, CPU, ~150 MB,
# about a minute) + OpenBLAS, then a venv over the system site-packages with the pinned PyPI deps.
# PyPI's default torch wheel would pull ~5 GB of CUDA libraries; see README.md for the GPU path.
set -euo pipefail
cd "$(dirname "$0")"

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
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
.venv/bin/python - <<'PY'
import json, torch, temporalio, safetensors
print(json.dumps({"trainer_python": __import__("sys").executable, "torch": torch.__version__,
                  "torch_from": torch.__file__, "cuda": torch.cuda.is_available(),
                  "temporalio": temporalio.__version__, "safetensors": safetensors.__version__}))
PY
