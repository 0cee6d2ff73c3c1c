#!/usr/bin/env bash
# Usage: benchmarks/gpu_check.sh WHEEL_DIR OUT_DIR [gpu_check.py options]
#
# The GPU readiness check (docs/benchmarks.md): install, without network, the
# wheels of WHEEL_DIR (from tools/gpu/collect_wheels.sh) that this machine
# lacks, keeping its torch, then run benchmarks/gpu_check.py, which writes
# OUT_DIR/report.md after every section. All of it within GPU_CHECK_BUDGET
# seconds (default 480). With --cpu-tiny (or GPU_CHECK_TINY=1) the install is a
# dry run and the check runs at tiny sizes on the CPU (the test suite's mode).
# Environment: PYTHON (default python3).
set -uo pipefail
if [[ $# -lt 2 ]]; then
    echo "usage: $0 WHEEL_DIR OUT_DIR [gpu_check.py options]" >&2
    exit 2
fi
WHEEL_DIR=$1
OUT_DIR=$2
shift 2
PYTHON=${PYTHON:-python3}
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUDGET=${GPU_CHECK_BUDGET:-480}
TINY=${GPU_CHECK_TINY:-0}
for arg in "$@"; do [[ $arg == --cpu-tiny ]] && TINY=1; done
start=$SECONDS
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/install.log"
export PYTORCH_NVML_BASED_CUDA_CHECK=1 PYTHONUNBUFFERED=1
# Fewer fragmentation failures while the batch search fills the memory.
export PYTORCH_CUDA_ALLOC_CONF=${PYTORCH_CUDA_ALLOC_CONF:-expandable_segments:True}

# The wheels this interpreter lacks (or has at a version mmivnext's
# requirements refuse); never the torch family.
"$PYTHON" "$ROOT/tools/gpu/wheels.py" plan "$WHEEL_DIR" \
    > "$OUT_DIR/install_plan.txt" 2> "$LOG"
plan_rc=$?
mapfile -t PLAN < "$OUT_DIR/install_plan.txt"
rm -f "$OUT_DIR/install_plan.txt"
DRY=()
[[ $TINY == 1 ]] && DRY=(--dry-run)
if [[ $plan_rc -ne 0 ]]; then
    status="failed: the wheel folder could not be read (rc $plan_rc)"
    install_rc=1
elif [[ ${#PLAN[@]} -eq 0 ]]; then
    status="nothing to install"
    install_rc=0
else
    echo "Installing ${#PLAN[@]} wheels from $WHEEL_DIR${DRY:+ (dry run)}"
    timeout 150 "$PYTHON" -m pip install --no-index --no-deps --no-cache-dir \
        --disable-pip-version-check ${DRY[@]+"${DRY[@]}"} --find-links "$WHEEL_DIR" \
        "${PLAN[@]}" >> "$LOG" 2>&1
    install_rc=$?
    status="pip install${DRY:+ --dry-run} --no-deps of ${#PLAN[@]} wheels:"
    [[ $install_rc -eq 0 ]] && status+=" ok" || status+=" failed (rc $install_rc)"
fi
skipped=$(grep -c '^skip ' "$LOG")
problems=$(grep '^PROBLEM: ' "$LOG" | sed 's/^PROBLEM: /; /' | tr -d '\n')
names=$(for whl in "${PLAN[@]}"; do basename "$whl"; done | cut -d- -f1,2 | tr '\n' ' ')
STATUS="From \`$WHEEL_DIR\` ($((SECONDS - start)) s): $status; ${skipped} wheels left out (present at accepted versions, see install.log)${problems:+; unmet requirements$problems}."
label=Installed
[[ $TINY == 1 ]] && label="Would install"
[[ -n $names ]] && STATUS+=" $label: ${names% }."
[[ $install_rc -ne 0 ]] && STATUS+=$'\n\n```\n'"$(tail -15 "$LOG")"$'\n```'
echo "$status"

# The checks, with what is left of the budget; the repository's code runs
# (PYTHONPATH), the installed mmivnext wheel provides the metadata.
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" \
    "$ROOT/benchmarks/gpu_check.py" --out-dir "$OUT_DIR" \
    --budget $((BUDGET - (SECONDS - start) - 10)) \
    --install-status "$STATUS" "$@"
check_rc=$?
echo "Report: $OUT_DIR/report.md ($((SECONDS - start)) s in all)"
exit $(( install_rc != 0 || check_rc != 0 ))
