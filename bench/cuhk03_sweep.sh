#!/usr/bin/env bash
# The paper's pruning claims on CUHK03 in one command (issue 12): every method x 10-50% pruned x 3 seeds,
# each cell one retraining on the pruned set, results in $OUT/sweep.sqlite, figures + tables beside it.
# Re-running the same command resumes: finished cells are skipped, cached scores reused.
#
#   bench/cuhk03_sweep.sh                                   # CPU preset: small CNN from scratch at 64x32
#   BACKBONE=mobilenetv2 PRETRAINED=1 SIZE=256x128 DEVICE=cuda OUT=bench/results/cuhk03_sweep_gpu bench/cuhk03_sweep.sh
#   bench/cuhk03_sweep.sh --seeds 0,1,2,3 --method el2n:20  # extra options go to `reidprune sweep`
#
# Environment (defaults = the CPU preset): DATA (../shared/data/cuhk03), OUT (bench/results/cuhk03_sweep),
# BACKBONE (small), PRETRAINED (empty = from scratch; 1 = --pretrained), WEIGHTS (a local weight file),
# SIZE (64x32), EPOCHS (12: the scoring run, T = 12), RETRAIN_EPOCHS (30; the paper trains 120),
# PRESET (cpu; paper = FastReID's schedule), DEVICE (auto), GRID (bench/cuhk03_grid.toml), PYTHON,
# DELTA_CHANCE (empty = the grid's absolute delta 0.1; K = outliers at max(soft label) <= K / C: a small CNN
# from scratch has flat soft labels, 85% of CUHK03 under 0.1, so its +purify cells are skipped, reported
# as "not done", unless K is given).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA="${DATA:-$ROOT/../shared/data/cuhk03}"
OUT="${OUT:-$HERE/results/cuhk03_sweep}"
PYTHON="${PYTHON:-python}"
args=(sweep "$DATA" --out "$OUT" --grid "${GRID:-$HERE/cuhk03_grid.toml}" --layout market1501
      --preset "${PRESET:-cpu}" --backbone "${BACKBONE:-small}" --size "${SIZE:-64x32}"
      --epochs "${EPOCHS:-12}" --retrain-epochs "${RETRAIN_EPOCHS:-30}" --device "${DEVICE:-auto}")
[[ -n "${PRETRAINED:-}" ]] && args+=(--pretrained)
[[ -n "${WEIGHTS:-}" ]] && args+=(--weights "$WEIGHTS")
[[ -n "${DELTA_CHANCE:-}" ]] && args+=(--delta-chance --delta "$DELTA_CHANCE")
PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m reidprune "${args[@]}" "$@"
