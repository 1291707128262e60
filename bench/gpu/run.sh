#!/usr/bin/env bash
# GPU checks in one call (< 8 min): build l2face against the machine's own torch, run the unit tests
# on the GPU machine, then a CUDA training run on a synthetic corpus and its evaluation.
# Needs .gpu-deps/ (scripts/gpu_deps.sh) beside the tree. Results go to $OUT (default /tmp/l2face-gpu).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/l2face-gpu}"
mkdir -p "$OUT"
log() { echo "[gpu $(date +%T)] $*" | tee -a "$OUT/summary.txt"; }
STEPS="${GPU_STEPS:-300}"
DRY="${GPU_DRY_RUN:-0}"   # 1: check the script's plumbing without a GPU (configure only)

DEPS=/tmp/l2face-deps
mkdir -p "$DEPS"
for f in .gpu-deps/*.deb; do dpkg -x "$f" "$DEPS"; done
export LD_LIBRARY_PATH="$DEPS/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}"
PY="${GPU_PYTHON:-python3}"
TORCH_PREFIX=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)')
NCCL_HOME=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
log "torch $("$PY" -c 'import torch; print(torch.__version__, torch.cuda.is_available())'), nccl ${NCCL_HOME:-none}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee -a "$OUT/summary.txt" || true

BUILD=build-gpu
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DL2FACE_USE_CCACHE=OFF \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$DEPS/usr" -DL2FACE_CUDA=AUTO \
  ${NCCL_HOME:+-DNCCL_INCLUDE_DIR=$NCCL_HOME/include -DNCCL_LIBRARY=$(ls $NCCL_HOME/lib/libnccl.so* | head -1)} \
  > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
grep "l2face:" "$OUT/configure.log" | tee -a "$OUT/summary.txt"
[ "$DRY" = 1 ] && { log "dry run: configured"; exit 0; }
t0=$(date +%s)
cmake --build "$BUILD" -j "$(nproc)" > "$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; exit 1; }
log "build: $(( $(date +%s) - t0 )) s"

(cd "$BUILD" && ctest -L unit -j 8 --output-on-failure --timeout 300) > "$OUT/ctest.log" 2>&1 \
  && log "unit tests: $(grep -E 'tests passed' "$OUT/ctest.log")" \
  || { tail -40 "$OUT/ctest.log"; log "unit tests FAILED"; }

L2FACE="$BUILD/bin/l2face"
C=/tmp/l2face-corpus
"$L2FACE" synth --out "$C" --identities 2000 --images-per-identity 20 --eval-identities 300 \
  --eval-images-per-identity 8 --pairs-per-fold 300 --size 112 --seed 11 | tee -a "$OUT/summary.txt"
# name backbone steps batch extra...
runs=("tiny tiny $STEPS 256 --set model.width=32"
      "r50 iresnet50 ${GPU_R50_STEPS:-120} 256 --set run.precision=bf16 --set run.channels_last=true")
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
log "done"
