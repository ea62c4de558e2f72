#!/usr/bin/env bash
# The whole GPU check in one go, for a fresh machine with an NVIDIA GPU and PyTorch
# (CUDA build) installed; CuPy is installed here if missing:
#
#     bash benchmarks/gpu_check.sh            # under 8 minutes; prints a summary at the end
#     WHEELS=.whl bash benchmarks/gpu_check.sh   # no network: CuPy from a folder of wheels
#
# 1. installs CuPy for the machine's CUDA (cupy-cuda11x / 12x / 13x, from the CUDA
#    version nvidia-smi or nvcc reports; from $WHEELS if given, else the package index),
#    then minigrad from this checkout (no dependencies, no build isolation),
# 2. runs the `gpu`-marked tests of the modules, training, checkpoints, decoding and
#    attention on "cuda" against the CPU,
# 3. trains the copy task with --device cuda, and with --amp,
# 4. times a training step against PyTorch CUDA eager for `small` and `base`, in float32
#    and with autocast + GradScaler (--amp), and prints the ratios,
# 5. runs every entry of the op tables on "cuda" against the CPU
#    (tests/gpu/test_cuda_op_table.py; in parallel where pytest-xdist is installed).
# Every stage has its own time limit, cut to what is left of a 460 s budget
# (GPU_CHECK_SECONDS), so the whole ends in under 8 minutes. Logs go to
# $GPU_CHECK_LOGS, else $OUT, else a fresh temporary folder; the failing tests' names
# are listed in the summary.
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_DIR=${GPU_CHECK_LOGS:-${OUT:-$(mktemp -d)}}
mkdir -p "$LOG_DIR"
PY=${PYTHON:-python3}
SUMMARY="$LOG_DIR/summary.txt"
status() { printf '%-38s %s\n' "$1" "$2" | tee -a "$SUMMARY"; }
elapsed() { echo "$(( $(date +%s) - $1 )) s"; }
DEADLINE=$(( $(date +%s) + ${GPU_CHECK_SECONDS:-460} ))
limit() {                # a stage's time limit: $1 seconds, or what is left of the budget
    local left=$(( DEADLINE - $(date +%s) ))
    [ "$left" -lt 1 ] && left=1
    echo $(( left < $1 ? left : $1 ))
}

echo "== environment" | tee "$SUMMARY"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee -a "$SUMMARY"

# ---- 1. CuPy for this CUDA, then minigrad
cuda_version() {         # "12.4": the driver's CUDA (nvidia-smi), else the toolkit's (nvcc)
    nvidia-smi 2>/dev/null | sed -n 's/.*CUDA Version: *\([0-9][0-9]*\.[0-9]*\).*/\1/p' | head -n 1
    command -v nvcc >/dev/null && nvcc --version | sed -n 's/.*release \([0-9][0-9]*\.[0-9]*\).*/\1/p'
}
if ! $PY -c "import cupy" 2>/dev/null; then
    CUDA=$(cuda_version | head -n 1)
    case "${CUDA%%.*}" in
        11) CUPY=cupy-cuda11x ;;
        12) CUPY=cupy-cuda12x ;;
        13) CUPY=cupy-cuda13x ;;
        *)  CUPY="" ;;
    esac
    if [ -z "$CUPY" ]; then
        status "cupy" "FAILED: no CUDA version found (nvidia-smi / nvcc): '${CUDA}'"
    else
        start=$(date +%s)
        if [ -n "${WHEELS:-}" ]; then
            timeout $(limit 90) $PY -m pip install -q --no-index --find-links "$WHEELS" "$CUPY" \
                >"$LOG_DIR/cupy_install.log" 2>&1
        else
            timeout $(limit 90) $PY -m pip install -q "$CUPY" >"$LOG_DIR/cupy_install.log" 2>&1
        fi
        rc=$?
        status "cupy install ($CUPY for CUDA $CUDA, $(elapsed $start))" \
            "$([ $rc -eq 0 ] && echo ok || echo 'FAILED: see cupy_install.log')"
    fi
fi
$PY -c "import cupy, torch; print('cupy', cupy.__version__, '| torch', torch.__version__, '| torch cuda', torch.version.cuda, '| cupy sees', cupy.cuda.runtime.getDeviceCount(), 'GPU')" 2>&1 \
    | tail -n 1 | tee -a "$SUMMARY"

$PY -m pip install --no-deps --no-build-isolation -q -e . >"$LOG_DIR/install.log" 2>&1 \
    || $PY -m pip install --no-deps -q -e . >>"$LOG_DIR/install.log" 2>&1
rc=$?
status "minigrad install (editable, no deps)" "$([ $rc -eq 0 ] && echo ok || echo 'FAILED: see install.log')"

# ---- 2. the gpu tests (the op table runs last: it is the longest)
XDIST=$($PY -c "import xdist" 2>/dev/null && echo "-n 12")
gpu_tests() {            # $1: label, $2: log name, $3: seconds, $4...: pytest arguments
    local label=$1 log=$2 seconds=$3; shift 3
    local start; start=$(date +%s)
    timeout "$(limit "$seconds")" $PY -m pytest -q -p no:cacheprovider -m gpu --tb=short "$@" \
        >"$LOG_DIR/$log" 2>&1
    local rc=$?
    status "$label ($(elapsed "$start"))" "$(tail -n 1 "$LOG_DIR/$log") (rc $rc)"
    grep -E "^(FAILED|ERROR) " "$LOG_DIR/$log" | cut -c1-200 | tee -a "$SUMMARY"
}
gpu_tests "gpu tests" gpu_tests.log 120 tests/gpu/test_cuda_ops.py tests/gpu/test_cuda_training.py \
    tests/minigrad/test_flash_attention.py

# ---- 3. the copy task on the GPU
copy_task() {            # $1: label, $2: run name, $3...: extra flags
    local label=$1 name=$2; shift 2
    local start; start=$(date +%s)
    timeout "$(limit 70)" $PY examples/copy_task.py --device cuda --no-progress \
        --out "$LOG_DIR/$name" "$@" >"$LOG_DIR/$name.log" 2>&1
    local rc=$?
    status "$label ($(elapsed "$start"))" \
        "$(grep -iE 'exact[- ]match' "$LOG_DIR/$name.log" | tail -n 1) (rc $rc)$([ $rc -ne 0 ] \
            && echo ": $(tail -n 1 "$LOG_DIR/$name.log")")"
}
copy_task "copy task on cuda" copy_task
# --amp in the examples (branch `examples`): runs once examples/copy_task.py has the flag
if $PY examples/copy_task.py --help 2>/dev/null | grep -q -- "--amp"; then
    copy_task "copy task on cuda --amp" copy_task_amp --amp
else
    status "copy task on cuda --amp" "skipped: examples/copy_task.py has no --amp yet"
fi

# ---- 4. a training step against PyTorch CUDA eager, float32 and autocast
for mode in float32 amp; do
    flag=$([ $mode = amp ] && echo --amp || echo)
    start=$(date +%s)
    timeout "$(limit 70)" $PY benchmarks/train_step.py --device cuda --configs small,base --reps 10 \
        --warmup 3 $flag >"$LOG_DIR/train_step_$mode.log" 2>&1
    rc=$?
    status "train_step $mode vs torch CUDA ($(elapsed $start))" \
        "rc $rc$([ $rc -ne 0 ] && echo ": $(tail -n 1 "$LOG_DIR/train_step_$mode.log")")"
    grep -E "^(==|minigrad|pytorch|ratio)" "$LOG_DIR/train_step_$mode.log" | tee -a "$SUMMARY"
done

# ---- 5. every op table entry on cuda
gpu_tests "op tables on cuda" op_table.log 240 $XDIST tests/gpu/test_cuda_op_table.py

echo
echo "== summary (logs in $LOG_DIR)"
cat "$SUMMARY"
