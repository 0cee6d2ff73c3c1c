#!/usr/bin/env bash
# The main job on the embedded demo data: a tiny InternVideo-Next Stage-1 run.
# Writes the demo videos and the tiny random teacher/predictor checkpoints
# (once), trains the Stage-1 demo config, prints how the losses moved and
# draws the reconstruction of one validation video.
# Usage: [PYTHON=python] [WORK_DIR=work_dirs/demo] bash tools/demo.sh [train.py options]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON=${PYTHON:-python}
CONFIG=${CONFIG:-configs/ivnext/demo/stage1_vit-tiny-p14_1xb8-8x1x1-20e_demo-videos.py}
WORK_DIR=${WORK_DIR:-work_dirs/demo}

if [ ! -f data/demo_videos/val.txt ]; then
    "$PYTHON" tools/data/make_demo_videos.py --out-dir data/demo_videos
fi
if [ ! -f data/demo_models/modernbert_tiny/config.json ]; then
    "$PYTHON" tools/data/make_demo_models.py --out-dir data/demo_models
fi
"$PYTHON" tools/train.py "$CONFIG" --work-dir "$WORK_DIR" "$@"
"$PYTHON" tools/analysis/loss_summary.py "$WORK_DIR"
"$PYTHON" tools/analysis/visualize_reconstruction.py "$CONFIG" \
    "$(cat "$WORK_DIR/last_checkpoint")" data/demo_videos/val/video_00000.mp4 \
    --out "$WORK_DIR/reconstruction.png"
