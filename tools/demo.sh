#!/usr/bin/env bash
# The main job on the embedded demo data: tiny InternVideo-Next Stage 1, then
# Stage 2 from it. Writes the demo videos and the tiny random teacher/predictor
# checkpoints (once), trains Stage 1, prints how its losses moved, draws the
# reconstruction of one validation video, converts the Stage-1 checkpoint into
# the Stage-2 init, trains Stage 2, exports its encoder, and trains the same
# attentive probe on the demo labels over the frozen pretrained encoder and
# over a frozen randomly initialised one, printing both accuracies.
# Usage: [PYTHON=python] [WORK_DIR=work_dirs/demo] bash tools/demo.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
PYTHON=${PYTHON:-python}
STAGE1=configs/ivnext/demo/stage1_vit-tiny-p14_1xb8-8x1x1-20e_demo-videos.py
STAGE2=configs/ivnext/demo/stage2_vit-tiny-p14_1xb8-16x1x1-10e_demo-videos.py
PROBE=configs/probes/demo/attentive-probe_vit-tiny-p14_1xb8-16x1x1-10e_demo-videos.py
WORK_DIR=${WORK_DIR:-work_dirs/demo}

if [ ! -f data/demo_videos/val.txt ]; then
    "$PYTHON" tools/data/make_demo_videos.py --out-dir data/demo_videos
fi
if [ ! -f data/demo_models/modernbert_tiny/config.json ]; then
    "$PYTHON" tools/data/make_demo_models.py --out-dir data/demo_models
fi

echo "== Stage 1"
"$PYTHON" tools/train.py "$STAGE1" --work-dir "$WORK_DIR/stage1"
"$PYTHON" tools/analysis/loss_summary.py "$WORK_DIR/stage1"
STAGE1_CKPT="$(cat "$WORK_DIR/stage1/last_checkpoint")"
"$PYTHON" tools/analysis/visualize_reconstruction.py "$STAGE1" "$STAGE1_CKPT" \
    data/demo_videos/val/video_00000.mp4 --out "$WORK_DIR/stage1/reconstruction.png"

echo "== Stage 2"
INIT="$WORK_DIR/stage2_init.pth"
"$PYTHON" tools/model_converters/stage1_to_stage2.py "$STAGE1_CKPT" "$INIT"
"$PYTHON" tools/train.py "$STAGE2" --work-dir "$WORK_DIR/stage2" \
    --cfg-options "model.init_checkpoint=$INIT" "model.teacher.checkpoint=$INIT"
"$PYTHON" tools/analysis/loss_summary.py "$WORK_DIR/stage2"

STAGE2_CKPT="$(cat "$WORK_DIR/stage2/last_checkpoint")"

echo "== Attentive probe: pretrained vs random frozen encoder"
ENCODER="$WORK_DIR/encoder.safetensors"
"$PYTHON" tools/model_converters/export_encoder.py "$STAGE2_CKPT" "$ENCODER"
for INIT_NAME in pretrained random; do
    if [ "$INIT_NAME" = pretrained ]; then
        INIT_OPT="model.backbone.init_cfg.checkpoint=$ENCODER"
    else
        INIT_OPT="model.backbone.init_cfg=None"
    fi
    "$PYTHON" tools/train.py "$PROBE" --work-dir "$WORK_DIR/probe_$INIT_NAME" \
        --cfg-options "$INIT_OPT"
    "$PYTHON" tools/test.py "$PROBE" "$(cat "$WORK_DIR/probe_$INIT_NAME/last_checkpoint")" \
        --work-dir "$WORK_DIR/probe_$INIT_NAME" --cfg-options "$INIT_OPT" \
        --out "$WORK_DIR/probe_$INIT_NAME/metrics.json"
done
"$PYTHON" - "$WORK_DIR" <<'PY'
import json, sys
for name in ('pretrained', 'random'):
    with open(f'{sys.argv[1]}/probe_{name}/metrics.json') as f:
        m = json.load(f)['metrics']
    print(f'probe on {name:>10} encoder: top-1 {m["acc/top1"]:.3f}  '
          f'top-5 {m["acc/top5"]:.3f}')
PY

echo "== Checkpoints"
echo "Stage 1:        $STAGE1_CKPT"
echo "Stage-2 init:   $INIT"
echo "Stage 2:        $STAGE2_CKPT"
echo "Encoder:        $ENCODER (+ .json)"
