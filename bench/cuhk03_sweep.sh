#!/usr/bin/env bash
# The paper's pruning claims on CUHK03 in one command (issue 12): every method x 10-50% pruned x 3 seeds,
# each cell one retraining on the pruned set, results in $OUT/sweep.sqlite, figures + tables beside it.
# Re-running the same command resumes: finished cells are skipped, cached scores reused.
#
#   bench/cuhk03_sweep.sh                                   # the cpu preset: ImageNet MobileNetV2 at 128x64
#   PRESET=paper DEVICE=cuda OUT=bench/results/cuhk03_sweep_gpu bench/cuhk03_sweep.sh   # ResNet-50 at 256x128
#   BACKBONE=mobilenetv2 SIZE=256x128 DEVICE=cuda OUT=bench/results/cuhk03_sweep_gpu bench/cuhk03_sweep.sh
#   bench/cuhk03_sweep.sh --seeds 0,1,2,3 --method el2n:20  # extra options go to `reidprune sweep`
#
# Environment (empty = the preset's value): DATA (../shared/data/cuhk03), OUT (bench/results/cuhk03_sweep),
# PRESET (cpu), BACKBONE, SIZE, PRETRAINED (1 = --pretrained, 0 = --no-pretrained), WEIGHTS (a local weight
# file), EPOCHS (the scoring run's cap), RETRAIN_EPOCHS, DEVICE (auto), GRID (bench/cuhk03_grid.toml), PYTHON,
# DELTA_CHANCE (K = outliers at max(soft label) <= K / C instead of the grid's absolute delta).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(dirname "$HERE")"
DATA="${DATA:-$ROOT/../shared/data/cuhk03}"
OUT="${OUT:-$HERE/results/cuhk03_sweep}"
PYTHON="${PYTHON:-python}"
args=(sweep "$DATA" --out "$OUT" --grid "${GRID:-$HERE/cuhk03_grid.toml}" --layout market1501
      --preset "${PRESET:-cpu}" --device "${DEVICE:-auto}")
[[ -n "${BACKBONE:-}" ]] && args+=(--backbone "$BACKBONE")
[[ -n "${SIZE:-}" ]] && args+=(--size "$SIZE")
[[ -n "${EPOCHS:-}" ]] && args+=(--epochs "$EPOCHS")
[[ -n "${RETRAIN_EPOCHS:-}" ]] && args+=(--retrain-epochs "$RETRAIN_EPOCHS")
[[ "${PRETRAINED:-}" == 1 ]] && args+=(--pretrained)
[[ "${PRETRAINED:-}" == 0 ]] && args+=(--no-pretrained)
[[ -n "${WEIGHTS:-}" ]] && args+=(--weights "$WEIGHTS")
[[ -n "${DELTA_CHANCE:-}" ]] && args+=(--delta-chance --delta "$DELTA_CHANCE")
PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}" exec "$PYTHON" -m reidprune "${args[@]}" "$@"
