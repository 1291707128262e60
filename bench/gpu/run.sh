#!/usr/bin/env bash
# GPU checks in one call (< 8 min on one H200): build l2face against the machine's own torch, run the
# unit tests that have CUDA paths, a CUDA training run (tiny, then IResNet-50 in bf16) on a
# synthetic corpus with its evaluation, and IResNet-50 bf16 training images/s at batch 256 against
# the PyTorch reference (bench/step's step_bench vs bench/reference/train_reference.py, compute
# only and end to end, 2 alternating rounds). Results go to OUT (summary.txt, logs, JSON, step.md).
#
#   bench/gpu/run.sh [--out DIR] [--python PY] [--steps N] [--r50-steps N] [--step-rounds N]
#                    [--jobs N] [--skip-tests] [--skip-train] [--skip-step] [--dry-run]
#
#   --out        results (default /tmp/l2face-gpu; the device tool's $OUT when set)
#   --python     the python whose torch to build against and to run the reference with
#                (default python3: the GPU machine's own torch, not this tree's .venv)
#   --dry-run    check the plumbing without a GPU: arguments, dependency unpacking, the CMake
#                flags (configure only, into a scratch directory), then print the plan
# Environment (same meaning): OUT, GPU_PYTHON, GPU_STEPS, GPU_R50_STEPS, GPU_DRY_RUN=1.
# Needs .gpu-deps/ (scripts/gpu_deps.sh, run on the development machine) beside the tree unless
# the GPU machine has the Debian packages installed.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/l2face-gpu}"
PY="${GPU_PYTHON:-python3}"
STEPS="${GPU_STEPS:-300}"
R50_STEPS="${GPU_R50_STEPS:-120}"
DRY="${GPU_DRY_RUN:-0}"
ROUNDS=2 JOBS="$(nproc)" SKIP_TESTS=0 SKIP_TRAIN=0 SKIP_STEP=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --python) PY="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --r50-steps) R50_STEPS="$2"; shift 2 ;;
    --step-rounds) ROUNDS="$2"; shift 2 ;;
    --jobs) JOBS="$2"; shift 2 ;;
    --skip-tests) SKIP_TESTS=1; shift ;;
    --skip-train) SKIP_TRAIN=1; shift ;;
    --skip-step) SKIP_STEP=1; shift ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/gpu/run.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
for n in "$STEPS" "$R50_STEPS" "$ROUNDS" "$JOBS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/gpu/run.sh: '$n' is not a positive count" >&2; exit 2; }
done
[ "$DRY" = 0 ] || [ "$DRY" = 1 ] || { echo "bench/gpu/run.sh: GPU_DRY_RUN must be 0 or 1" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
: > "$OUT/summary.txt"
log() { echo "[gpu $(date +%T)] $*" | tee -a "$OUT/summary.txt"; }

# Debian packages (headers and libraries) unpacked beside the tree when the machine lacks them.
DEPS=/tmp/l2face-deps
mkdir -p "$DEPS"
shopt -s nullglob
debs=(.gpu-deps/*.deb)
shopt -u nullglob
if [ ${#debs[@]} -gt 0 ]; then
  for f in "${debs[@]}"; do dpkg -x "$f" "$DEPS"; done
  log "unpacked ${#debs[@]} packages from .gpu-deps"
elif [ -f /usr/include/turbojpeg.h ] && [ -d /usr/include/yaml-cpp ] && [ -d /usr/include/CLI ]; then
  log "no .gpu-deps/: using the machine's installed packages"
elif [ "$DRY" = 1 ]; then
  log "no .gpu-deps/ and missing system packages: a real run would stop here (scripts/gpu_deps.sh)"
else
  echo "bench/gpu/run.sh: no .gpu-deps/*.deb and the machine lacks turbojpeg/yaml-cpp/CLI11 headers;" \
       "run scripts/gpu_deps.sh on the development machine and carry .gpu-deps" >&2
  exit 1
fi
export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"

# The machine's own torch: Torch_DIR is passed explicitly, so CMake never falls back to a .venv.
command -v "$PY" >/dev/null || { echo "bench/gpu/run.sh: no python '$PY' (--python)" >&2; exit 1; }
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)') \
  || { echo "bench/gpu/run.sh: '$PY' cannot import torch (--python)" >&2; exit 1; }
CUDA_OK=$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))')
NCCL_HOME=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
NCCL_LIB=""
[ -n "$NCCL_HOME" ] && NCCL_LIB=$(ls "$NCCL_HOME"/lib/libnccl.so* 2>/dev/null | head -1 || true)
log "torch $("$PY" -c 'import torch; print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'), nccl ${NCCL_LIB:-from the system}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
  | tee -a "$OUT/summary.txt" || true
if [ "$CUDA_OK" != 1 ] && [ "$DRY" = 0 ]; then
  echo "bench/gpu/run.sh: torch sees no CUDA device (use --dry-run to check the plumbing only)" >&2
  exit 1
fi

BUILD=build-gpu
[ "$DRY" = 1 ] && BUILD="$OUT/build-gpu-dry"
CMAKE_ARGS=(-S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DL2FACE_USE_CCACHE=OFF
            -DTorch_DIR="$TORCH_PREFIX/Torch" -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$DEPS/usr"
            -DL2FACE_CUDA=AUTO)
[ -n "$NCCL_LIB" ] && CMAKE_ARGS+=(-DNCCL_INCLUDE_DIR="$NCCL_HOME/include" -DNCCL_LIBRARY="$NCCL_LIB")
echo "cmake ${CMAKE_ARGS[*]}" > "$OUT/configure.log"
cmake "${CMAKE_ARGS[@]}" >> "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
grep "l2face:" "$OUT/configure.log" | tee -a "$OUT/summary.txt"
torch_found=$(grep -m1 '^Torch_DIR:' "$BUILD/CMakeCache.txt" | cut -d= -f2)
[ "$torch_found" = "$TORCH_PREFIX/Torch" ] || { log "CMake found torch at $torch_found, not $TORCH_PREFIX/Torch"; exit 1; }
log "torch for the build: $torch_found"
if ! grep -q "l2face:.*CUDA ON" "$OUT/configure.log"; then
  [ "$DRY" = 1 ] || { log "the build would have no CUDA paths (configure.log)"; exit 1; }
  log "dry run: this configuration has no CUDA paths (a real run would stop here)"
fi

# The targets the checks need, not the whole tree: the CLI, the step benchmark, and the unit tests
# with CUDA paths (trainer, data, comm, eval).
TARGETS=(l2face step_bench trainer_test data_test comm_test eval_test)
L2FACE="$BUILD/bin/l2face"
C=/tmp/l2face-corpus
if [ "$DRY" = 1 ]; then
  log "dry run: configured; a real run would now do:"
  log "  cmake --build $BUILD -j $JOBS --target ${TARGETS[*]}"
  [ "$SKIP_TESTS" = 1 ] || log "  ctest -L unit -E _NOT_BUILT (CUDA unit tests)"
  [ "$SKIP_TRAIN" = 1 ] || log "  l2face synth; train tiny ($STEPS steps) and iresnet50 bf16 ($R50_STEPS steps), batch 256; eval"
  [ "$SKIP_STEP" = 1 ] || log "  step_bench vs $PY bench/reference/train_reference.py: iresnet50 bf16 batch 256, $ROUNDS rounds"
  exit 0
fi

t0=$(date +%s)
cmake --build "$BUILD" -j "$JOBS" $(printf -- '--target %s ' "${TARGETS[@]}") > "$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
log "build: $(( $(date +%s) - t0 )) s"

if [ "$SKIP_TESTS" = 0 ]; then
  (cd "$BUILD" && ctest -L unit -E _NOT_BUILT -j 8 --output-on-failure --timeout 300) > "$OUT/ctest.log" 2>&1 \
    && log "unit tests: $(grep -E 'tests passed' "$OUT/ctest.log")" \
    || { tail -40 "$OUT/ctest.log"; log "unit tests FAILED"; }
fi

if [ ! -d "$C/train" ]; then
  "$L2FACE" synth --out "$C" --identities 2000 --images-per-identity 20 --eval-identities 300 \
    --eval-images-per-identity 8 --pairs-per-fold 300 --size 112 --seed 11 | tee -a "$OUT/summary.txt"
fi

if [ "$SKIP_TRAIN" = 0 ]; then
  # name backbone steps batch extra...
  runs=("tiny tiny $STEPS 256 --set model.width=32"
        "r50 iresnet50 $R50_STEPS 256 --set run.precision=bf16 --set run.channels_last=true")
  for spec in "${runs[@]}"; do
    set -- $spec; name=$1 backbone=$2 steps=$3 batch=$4; shift 4
    "$L2FACE" train --config configs/demo.yaml --set data.train="$C/train" --set run.dir=/tmp/l2face-run-$name \
      --set run.device=cuda --set data.image_size=112 --set data.batch_size="$batch" --set data.workers=12 \
      --set model.backbone="$backbone" --set model.embedding_dim=512 --set optim.max_steps="$steps" \
      --set optim.warmup_steps=20 --set checkpoint.every_steps=0 --set monitoring.log_every=20 \
      --set monitoring.port=0 "$@" > "$OUT/train_$name.log" 2>&1 || { tail -30 "$OUT/train_$name.log"; exit 1; }
    cp /tmp/l2face-run-$name/summary.json "$OUT/summary_$name.json"
    log "train $name: $(grep -E '"images_per_second"|"final_loss"|"data_wait_fraction"|"device"' /tmp/l2face-run-$name/summary.json | tr -d '\n ')"
    "$L2FACE" eval --checkpoint /tmp/l2face-run-$name --pairs "$C/eval/pairs.txt" --device cuda \
      --out "$OUT/eval_$name.json" > "$OUT/eval_$name.log" 2>&1 || { tail -20 "$OUT/eval_$name.log"; exit 1; }
    log "eval $name: $(grep -E 'accuracy|TAR' "$OUT/eval_$name.log" | tr -s ' ' | tr '\n' ';')"
  done
fi

if [ "$SKIP_STEP" = 0 ]; then
  # IResNet-50, bf16 autocast, channels_last, batch 256: l2face's TrainStep against the reference,
  # alternating; compute only (in-memory batches) and end to end (12 loader workers each).
  mkdir -p "$OUT/step"
  : > "$OUT/step/step.jsonl"
  common=(--backbone iresnet50 --batch 256 --size 112 --device cuda --precision bf16
          --channels-last 1 --warmup 5 --steps 20 --classes 2000)
  for round in $(seq 1 "$ROUNDS"); do
    order=(l2face pytorch); [ $((round % 2)) = 0 ] && order=(pytorch l2face)
    for mode in compute e2e; do
      extra=(); [ "$mode" = e2e ] && extra=(--corpus "$C/train" --workers 12 --flip 0.5)
      for impl in "${order[@]}"; do
        cmd=("$BUILD/bin/step_bench"); [ "$impl" = pytorch ] && cmd=("$PY" bench/reference/train_reference.py)
        line=$("${cmd[@]}" "${common[@]}" "${extra[@]}" 2>> "$OUT/step/step.log" | grep '^{') \
          || { tail -20 "$OUT/step/step.log"; log "step bench $impl $mode FAILED"; exit 1; }
        echo "${line%\}}, \"round\": $round}" >> "$OUT/step/step.jsonl"
      done
    done
  done
  "$PY" bench/step/summarize.py "$OUT/step/step.jsonl" "$OUT/step" > /dev/null \
    && cat "$OUT/step/step.md" | tee -a "$OUT/summary.txt"
fi
log "done"
