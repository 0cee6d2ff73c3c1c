#!/usr/bin/env bash
# The README's main job: tiny InternVideo-Next Stage 1 and Stage 2 on the demo
# videos, reconstructions, and the same attentive probe over the frozen
# pretrained encoder and over a random one (tools/demo.py; its --help lists
# the options, which this script passes on).
# Usage: [PYTHON=python] bash tools/demo.sh [--work-dir work_dirs/demo] [...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" tools/demo.py "$@"
