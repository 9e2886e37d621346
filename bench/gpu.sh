#!/usr/bin/env bash
# Every GPU measurement of issue 11 (and the ResNet-50 rows), one command, one GPU:
#   bench/gpu.sh                          # writes bench/results/*_gpu.json
#   RESULTS=$OUT PYTHON=python3 PYTHONPATH=src bench/gpu.sh    # on a lent machine without the venv
# Each step writes its own JSON; a failing step is reported and the others still run.
set -uo pipefail
PY=${PYTHON:-python}
RESULTS=${RESULTS:-bench/results}
$PY -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 'bench/gpu.sh needs a CUDA GPU; none is available here')" || exit 1
mkdir -p "$RESULTS"
status=0
step() {  # step NAME COMMAND...: run it, log to RESULTS/NAME.log, remember a failure
    local name=$1; shift
    echo "== $name: $*" >&2
    "$@" 2>&1 | tee "$RESULTS/$name.log" || { echo "!! $name failed" >&2; status=1; }
}
step gpu_sync_check $PY bench/gpu_sync_check.py
step gpu_sync_check_stream $PY bench/gpu_sync_check.py --stream
step throughput_gpu $PY bench/throughput.py gpu --out "$RESULTS/throughput_gpu.json"
step market_size_gpu $PY bench/throughput.py market --out "$RESULTS/market_size_gpu.json"
step eval_scale_gpu $PY bench/eval_scale.py --device cuda --memory-mb 8192 --out "$RESULTS/eval_scale_gpu.json"
exit $status
