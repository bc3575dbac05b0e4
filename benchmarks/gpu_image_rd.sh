#!/usr/bin/env bash
# The image study's GPU run (python -m analysis.image_rd --config gpu) in one call, so that one short GPU
# lease is enough: install what the machine lacks, train both learned codecs at every beta in one process,
# code the held-out photos, and write the results.
#
#   bash benchmarks/gpu_image_rd.sh fetch       # beforehand, where pip reaches a registry: the wheels the
#                                               # GPU machine lacks (constriction, pytorch-msssim), into .whl/
#   bash benchmarks/gpu_image_rd.sh [OUT_DIR]   # on the GPU machine, from anywhere in the repo
#
# OUT_DIR defaults to $OUT (the device tool's folder that comes back), else benchmarks/results. Written there:
# image_rd_gpu.json, image_rd_gpu.png, image_rd_gpu.log and image_rd_gpu_device.txt (nvidia-smi's name of
# the GPU). A machine without .whl/ but with a network installs the project with pip instead.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

if [[ "${1:-}" == "fetch" ]]; then
  mkdir -p .whl
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  for spec in "constriction>=0.4,<0.6" "pytorch-msssim>=1.0"; do
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d .whl "$spec"
  done
  ls -l .whl
  exit 0
fi

out=${1:-${OUT:-benchmarks/results}}
mkdir -p "$out"
if compgen -G ".whl/*.whl" > /dev/null; then  # no network: the carried wheels, the project from the tree
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/ibflow-site .whl/*.whl
  export PYTHONPATH="/tmp/ibflow-site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
else
  "$PY" -m pip install -q -e ".[images]"
fi
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script is for a GPU machine')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/image_rd_gpu_device.txt" 2>&1 || true
export PYTHONUNBUFFERED=1
# 540 s: inside one 10-minute device call, with the start and the install before it
timeout "${IMAGE_RD_TIMEOUT:-540}" "$PY" -m analysis.image_rd --config gpu --device cuda --no-progress \
  --json "$out/image_rd_gpu.json" --plot "$out/image_rd_gpu.png" 2>&1 | tee "$out/image_rd_gpu.log"
