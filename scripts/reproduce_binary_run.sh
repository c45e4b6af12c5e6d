#!/usr/bin/env bash
# Reproduce the binary run reported in docs/results.md: prepare, train, export, evaluate, fuse.
# Takes about 1.5 hours on 2 CPU cores (most of it training). Needs the real data beside the
# checkout, or DATA=path/to/train-sample.csv(.gz).
set -euo pipefail
DATA=${DATA:-../shared/data/so-closed-questions/train-sample-subset.csv.gz}
RUN=${RUN:-runs/minilm-lora-r8}
SOTRIAGE=${SOTRIAGE:-.venv/bin/sotriage}

if [ "${SKIP_TRAIN:-0}" != 1 ]; then
  $SOTRIAGE data prepare "$DATA" --out data/so-binary --labels binary --seed 42
  $SOTRIAGE baseline data/so-binary --features text --json runs/baselines/binary-text.json
  $SOTRIAGE baseline data/so-binary --features text+meta --json runs/baselines/binary-text+meta.json
  $SOTRIAGE -v train data/so-binary --out "$RUN" --rank 8 --epochs 1 --batch-size 16 --eval-every 400 \
    --eval-max-examples 1500 --patience 3 --max-length 256
fi
$SOTRIAGE -v export "$RUN" --parity-examples 512
for backend in torch onnx onnx-int8; do
  $SOTRIAGE evaluate "$RUN" --backend "$backend" --json > "$RUN/metrics/encoder-only-$backend.json"
done
$SOTRIAGE -v fuse "$RUN" --backend onnx-int8
for backend in torch onnx-int8; do
  $SOTRIAGE evaluate "$RUN" --backend "$backend" --json > "$RUN/metrics/fused-$backend.json"
done
