#!/usr/bin/env bash
# The main job on the embedded demo data: write the demo videos (once), train
# the demo config, evaluate its last checkpoint and print the metrics.
# Usage: [PYTHON=python] [WORK_DIR=work_dirs/demo] bash tools/demo.sh [train.py options]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON=${PYTHON:-python}
CONFIG=${CONFIG:-configs/demo/recognizer3d_vit-tiny-p14_1xb8-8x1x1-10e_demo-videos.py}
WORK_DIR=${WORK_DIR:-work_dirs/demo}
DATA=data/demo_videos

if [ ! -f "$DATA/val.txt" ]; then
    "$PYTHON" tools/data/make_demo_videos.py --out-dir "$DATA"
fi
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
"$PYTHON" tools/test.py "$CONFIG" "$(cat "$WORK_DIR/last_checkpoint")" \
    --work-dir "$WORK_DIR" --out "$WORK_DIR/metrics.json"
