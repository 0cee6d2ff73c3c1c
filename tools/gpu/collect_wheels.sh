#!/usr/bin/env bash
# Usage: tools/gpu/collect_wheels.sh OUT_DIR [--present FREEZE.txt]
#
# On a machine with the package index: download the wheels that a Python 3.12
# manylinux x86-64 GPU machine with its own torch needs to run mmivnext
# (mmengine, mmcv-lite, mmaction2, decord, ... and their dependencies; never
# torch, torchvision, triton or nvidia-*), plus a wheel of mmivnext itself,
# into OUT_DIR. Install them there with benchmarks/gpu_check.sh or
#   python tools/gpu/wheels.py plan OUT_DIR | xargs pip install --no-index --no-deps
#
# --present FREEZE.txt (`pip list --format=freeze` of the GPU machine) leaves
# out what the machine already has at an accepted version: a smaller folder.
# Environment: PYTHON (default python3, with pip), TORCH_VERSION (2.11.0) and
# TORCHVISION_VERSION (0.26.0), the GPU machine's, which the rest must accept.
set -euo pipefail
if [[ $# -lt 1 || $1 == -* ]]; then
    echo "usage: $0 OUT_DIR [--present FREEZE.txt]" >&2
    exit 2
fi
OUT=$1
PRESENT=
if [[ $# -ge 2 ]]; then
    [[ $2 == --present && $# -eq 3 ]] || { echo "usage: $0 OUT_DIR [--present FREEZE.txt]" >&2; exit 2; }
    PRESENT=$3
    [[ -f $PRESENT ]] || { echo "--present: no file $PRESENT" >&2; exit 2; }
fi
PYTHON=${PYTHON:-python3}
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
WHEELS="$ROOT/tools/gpu/wheels.py"
PLATFORMS=(--only-binary=:all: --platform manylinux2014_x86_64
           --platform manylinux_2_28_x86_64 --python-version 3.12
           --implementation cp --abi cp312)
start=$SECONDS
mkdir -p "$OUT"
if compgen -G "$OUT/*.whl" >/dev/null; then
    echo "$OUT already holds wheels; give an empty or new folder" >&2
    exit 2
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# Stand-ins for the GPU machine's torch and torchvision: pip resolves the rest
# against them and downloads no CUDA torch.
"$PYTHON" "$WHEELS" stubs "$TMP/stubs" --torch "${TORCH_VERSION:-2.11.0}" \
    --torchvision "${TORCHVISION_VERSION:-0.26.0}" > "$TMP/constraints.txt"
# One OpenCV version for the two OpenCV distributions (as on CPU machines).
grep -iE '^opencv' "$ROOT/requirements/cpu-constraints.txt" >> "$TMP/constraints.txt"
grep -vE '^\s*(#|$)' "$ROOT/requirements/runtime.txt" > "$TMP/requirements.txt"

echo "Downloading the wheels mmivnext needs besides torch (log: $OUT/collect.log)"
"$PYTHON" -m pip download -d "$TMP/dl" --no-cache-dir "${PLATFORMS[@]}" \
    --find-links "$TMP/stubs" -c "$TMP/constraints.txt" \
    -r "$TMP/requirements.txt" > "$OUT/collect.log" 2>&1 \
    || { tail -20 "$OUT/collect.log" >&2; exit 1; }
rm -f "$TMP"/dl/torch-*+stub-*.whl "$TMP"/dl/torchvision-*+stub-*.whl
mv "$TMP"/dl/*.whl "$OUT"/

echo "Building the mmivnext wheel"
# From a copy: the build writes build/ and *.egg-info next to setup.py.
mkdir "$TMP/src"
cp -r "$ROOT"/{setup.py,setup.cfg,README.md,requirements,mmivnext} "$TMP/src"/
find "$TMP/src" -name __pycache__ -prune -exec rm -rf {} +
rm -rf "$TMP"/src/*.egg-info
"$PYTHON" -m pip wheel --no-deps --no-cache-dir -w "$OUT" "$TMP/src" \
    >> "$OUT/collect.log" 2>&1 || { tail -20 "$OUT/collect.log" >&2; exit 1; }

if [[ -n $PRESENT ]]; then
    "$PYTHON" "$WHEELS" plan "$OUT" --present "$PRESENT" > "$TMP/keep.txt" \
        2> "$TMP/skipped.txt"
    for whl in "$OUT"/*.whl; do
        grep -qxF "$whl" "$TMP/keep.txt" || rm "$whl"
    done
    sed 's/^/  /' "$TMP/skipped.txt"
fi

# The folder must not hold the torch family, and (without --present) every
# requirement of every wheel must be met inside it.
if compgen -G "$OUT/torch-*" >/dev/null || compgen -G "$OUT/torchvision-*" >/dev/null \
        || compgen -G "$OUT/triton-*" >/dev/null || compgen -G "$OUT/nvidia_*" >/dev/null; then
    echo "FAILED: the folder holds torch-family wheels" >&2
    exit 1
fi
if [[ -z $PRESENT ]]; then
    "$PYTHON" "$WHEELS" check "$OUT" || { echo "FAILED: see above" >&2; exit 1; }
fi
(cd "$OUT" && ls -1 *.whl > MANIFEST.txt)
echo "$(ls "$OUT"/*.whl | wc -l) wheels, $(du -sh "$OUT" | cut -f1) in $OUT" \
     "($((SECONDS - start)) s); list: $OUT/MANIFEST.txt"
