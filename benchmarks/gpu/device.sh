#!/usr/bin/env bash
# The one device call (BENCHMARKS.md §6). On the lent H200, after `bash benchmarks/gpu/prepare.sh`
# here, through the device tool's `run` with carry [".whl", ".device-data"] and timeout_s 600:
#
#     bash benchmarks/gpu/device.sh
#
# It installs the carried wheels, then measures on JAX (under 8 minutes) and on PyTorch (70 s: epoch
# times): epoch times at batch 64/256/1024 in float32 and mixed_bfloat16, trials per hour with
# 1, 2, 4 and 8 workers on the one GPU, and a 3-minute `hpsearch run cifar-dropout
# --workers-per-gpu 4` with its summary. Each step has its own time limit, so a slow one costs
# only its own rows; tables and logs land in $OUT (at most 8 files come back).
#
# `--dry-run` runs the same steps here, on the CPU, with this checkout's .venv and tiny sizes,
# so that the one device call does not fail on a typo.
set -uo pipefail
cd "$(dirname "$0")/../.."
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
OUT=${OUT:-$(mktemp -d /tmp/hpsearch-gpu-XXXX)}
export PYTHONUNBUFFERED=1
DATA=.device-data/cifar10-subset.npz
[ -f "$DATA" ] || { echo "no $DATA: run bash benchmarks/gpu/prepare.sh here first"; exit 2; }
{
    changed=$(git diff --quiet HEAD 2>/dev/null || echo " with uncommitted changes")
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$changed, $(date -u), dry run: $DRY"
    if [ $DRY = 1 ]; then
        PY=${PYTHON:-.venv/bin/python}
        echo "no device lent: dry run on $(nproc) CPU cores"
        SIZES=(--subset 300 --epochs 2 --batch-sizes 64 256 --precisions float32 --workers 1 2 --window 20s --allow-cpu)
        END=30s; TORCH_LIMIT=300
    else
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
            .whl/*.whl || { echo "installing the carried wheels failed"; exit 1; }
        export PYTHONPATH=/tmp/site:$PWD
        PY=python3
        nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv
        SIZES=(--epochs 3 --batch-sizes 64 256 1024 --precisions float32 mixed_bfloat16 --workers 1 2 4 8 --window 25s)
        END=3m; TORCH_LIMIT=70
    fi
    $PY -c "import sys, keras, optuna, jax, torch; print(sys.version.split()[0], 'keras', keras.__version__, 'optuna', optuna.__version__, 'jax', jax.__version__, jax.devices(), 'torch', torch.__version__)"
    timeout 470 $PY -m benchmarks.gpu --backend jax --data $DATA "${SIZES[@]}" --end-to-end $END --out "$OUT/jax"
    echo "jax: exit $?"
    timeout $TORCH_LIMIT $PY -m benchmarks.gpu --backend torch --data $DATA "${SIZES[@]}" --workers --end-to-end none \
        --out "$OUT/torch"
    echo "torch: exit $?"
} 2>&1 | tee "$OUT/device.log"
echo "tables and logs in $OUT"
