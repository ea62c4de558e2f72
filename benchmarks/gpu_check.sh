#!/usr/bin/env bash
# The whole GPU check in one go, for a fresh machine with an NVIDIA GPU, CuPy and
# PyTorch already installed and no network:
#
#     bash benchmarks/gpu_check.sh            # about 5 minutes; prints a summary at the end
#
# 1. installs minigrad from this checkout (no dependencies, no build isolation: offline),
# 2. runs the `gpu`-marked tests (every op and the modules on "cuda" against the CPU),
# 3. trains the copy task with --device cuda,
# 4. times a training step against PyTorch CUDA for the `small` and `base` configurations.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_DIR=${OUT:-$(mktemp -d)}
mkdir -p "$LOG_DIR"
PY=${PYTHON:-python}
status() { printf '%-34s %s\n' "$1" "$2" | tee -a "$LOG_DIR/summary.txt"; }

echo "== environment" | tee "$LOG_DIR/summary.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$LOG_DIR/summary.txt"
$PY -c "import cupy, torch; print('cupy', cupy.__version__, '| torch', torch.__version__, '| cuda', torch.version.cuda)" 2>&1 | tee -a "$LOG_DIR/summary.txt"

$PY -m pip install --no-deps --no-build-isolation -q -e . >"$LOG_DIR/install.log" 2>&1 \
    || $PY -m pip install --no-deps -q -e . >>"$LOG_DIR/install.log" 2>&1
status "install (editable, no deps)" "$([ $? -eq 0 ] && echo ok || echo FAILED: see install.log)"

start=$(date +%s)
timeout 240 $PY -m pytest -q -p no:cacheprovider -m gpu tests/gpu >"$LOG_DIR/gpu_tests.log" 2>&1
rc=$?
status "gpu tests ($(( $(date +%s) - start )) s)" "$(tail -n 1 "$LOG_DIR/gpu_tests.log") (rc $rc)"

start=$(date +%s)
timeout 240 $PY examples/copy_task.py --device cuda --out "$LOG_DIR/copy_task" >"$LOG_DIR/copy_task.log" 2>&1
rc=$?
status "copy task on cuda ($(( $(date +%s) - start )) s)" \
    "$(grep -iE 'exact[- ]match' "$LOG_DIR/copy_task.log" | tail -n 1) (rc $rc)"

timeout 240 $PY benchmarks/train_step.py --device cuda --configs small,base --reps 20 \
    >"$LOG_DIR/train_step.log" 2>&1
status "train_step vs torch CUDA (rc $?)" ""
grep -E "^(==|minigrad|pytorch|ratio|float32)" "$LOG_DIR/train_step.log" | tee -a "$LOG_DIR/summary.txt"

echo
echo "== summary (logs in $LOG_DIR)"
cat "$LOG_DIR/summary.txt"
