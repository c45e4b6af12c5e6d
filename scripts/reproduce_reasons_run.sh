#!/usr/bin/env bash
# Reproduce the five-class (close reason) run reported in docs/results.md: prepare, baseline,
# train, export, evaluate, fuse. Takes about 1.5 hours on 2 CPU cores, most of it training.
# Needs the real data beside the checkout, or DATA=path/to/train-sample.csv(.gz).
set -euo pipefail
DATA=${DATA:-../shared/data/so-closed-questions/train-sample-subset.csv.gz}
RUN=${RUN:-runs/minilm-lora-r8-reasons}
SOTRIAGE=${SOTRIAGE:-.venv/bin/sotriage}

if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  $SOTRIAGE data prepare "$DATA" --out data/so-reasons --labels reasons --seed 42
  $SOTRIAGE baseline data/so-reasons --features text --json runs/baselines/reasons-text.json
  $SOTRIAGE baseline data/so-reasons --features text+meta --json runs/baselines/reasons-text+meta.json
  $SOTRIAGE -v train data/so-reasons --out "$RUN" --rank 8 --targets all-linear --epochs 1 \
    --eval-every 400 --eval-max-examples 1500 --patience 3
fi
$SOTRIAGE -v export "$RUN" --parity-examples 512 --openvino-int8 --openvino-calibration percentile
for backend in onnx onnx-int8 openvino-int8; do
  $SOTRIAGE evaluate "$RUN" --backend "$backend" --json > "$RUN/metrics/encoder-only-$backend.json"
done
$SOTRIAGE -v fuse "$RUN" --backend onnx-int8
