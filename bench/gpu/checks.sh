# bench/gpu/run.sh's seven checks, sourced. Each check_N takes the epoch second its time limit
# ends, runs its commands through x (printed instead in a dry run) and records its verdict.

# The CUDA cases of each unit-test binary (gtest filters). A case that skips on the GPU machine
# fails the check; RunContext.BackendChoiceIsReportedWithoutBuildingIt skips by design where a
# CUDA device is visible, so it is left out.
UNIT_FILTERS=(
  "trainer_test=*Cuda*:*CUDA*:Precision.*"
  "comm_test=RunContext.*:-RunContext.BackendChoiceIsReportedWithoutBuildingIt"
)
C="$W/corpus"
TRAIN_COMMON=(--config configs/demo.yaml --set data.image_size=112 --set data.workers=8
              --set monitoring.serve=false --set eval.every_steps=0 --set run.device=cuda
              --set model.backbone=tiny --set model.width=16 --set model.embedding_dim=128)
STEP_COMMON=(--backbone iresnet50 --batch 256 --size 112 --device cuda --precision bf16
             --channels-last 1)

# The synthetic corpus of checks 2, 4, 5 and 7, made once under its own limit (CORPUS_LIMIT):
# 200 identities x 16 images at 112 px (check 4's loaders go round it more than once), 40
# evaluation identities.
ensure_corpus() {
  [ -n "${CORPUS_READY:-}" ] && return 0
  rm -rf "$C"
  x "$L/synth.log" "$(( $(date +%s) + CORPUS_LIMIT ))" "$BIN/l2face" synth --out "$C" \
    --identities 200 --images-per-identity 16 --eval-identities 40 --eval-images-per-identity 6 \
    --folds 2 --pairs-per-fold 60 --size 112 --seed 11 && CORPUS_READY=1
}

check_1() {
  local end="$1" reports=() spec name rc notes=""
  for spec in "${UNIT_FILTERS[@]}"; do
    name="${spec%%=*}"
    x "$L/unit_$name.log" "$end" "$TESTS/$name" --gtest_filter="${spec#*=}" \
      --gtest_output=json:"$L/unit_$name.json"
    reports+=("$L/unit_$name.json")
  done
  # comm_nccl_test starts MPI: one rank under mpirun (one GPU: every case needs a device per rank).
  if [ ${#MPIRUN[@]} -gt 0 ] || [ "$DRY" = 1 ]; then
    x "$L/unit_comm_nccl_test.log" "$end" "${MPIRUN[@]:-mpirun}" -np 1 "$TESTS/comm_nccl_test" \
      --gtest_output=json:"$L/unit_comm_nccl_test.json"
    reports+=("$L/unit_comm_nccl_test.json")
  else
    notes="; comm_nccl_test not run ($MPI_NOTE)"
  fi
  [ "$DRY" = 1 ] && return
  verdict 1 unit "${reports[@]}"
  REASON[1]+="$notes"
}

# NaN at steps 7 and 13, saves every 20 steps, 40 steps; then --resume auto to 60 steps with
# torch's CUDA sync-debug mode set to error around the step. Judged from summary.json and the
# checkpoint folders (the first run's copied aside before the resume).
check_2() {
  local end="$1" r="$W/smoke" rc
  local args=("${TRAIN_COMMON[@]}" --set data.train="$C/train" --set eval.pairs="$C/eval/pairs.txt"
              --set data.batch_size=64 --set run.precision=bf16 --set run.channels_last=true
              --set comm.backend=nccl --set classifier.parallel=sharded
              --set checkpoint.every_steps=20 --set optim.warmup_steps=5
              --set monitoring.log_every=10 --set run.dir="$r")
  ensure_corpus || { record 2 FAIL "synth: $(why $? "$L/synth.log")"; return; }
  rm -rf "$r" "$r.first"
  x "$L/smoke_a.log" "$end" env L2FACE_FAULT=train.nan_loss@step7,train.nan_loss@step13 \
    "$BIN/l2face" train "${args[@]}" --set optim.max_steps=40
  rc=$?
  [ "$rc" = 0 ] || { record 2 FAIL "first run: $(why "$rc" "$L/smoke_a.log")"; return; }
  [ "$DRY" = 1 ] || cp -r "$r" "$r.first"
  x "$L/smoke_b.log" "$end" "$BIN/l2face" train "${args[@]}" --set optim.max_steps=60 \
    --resume auto --set run.cuda_sync_debug=error
  rc=$?
  [ "$DRY" = 1 ] && return
  if [ "$rc" != 0 ]; then
    if grep -q "cuda_sync_debug" "$L/smoke_b.log"; then
      record 2 FAIL "run.cuda_sync_debug is unknown to this l2face: $(why "$rc" "$L/smoke_b.log")"
    else
      record 2 FAIL "resumed run: $(why "$rc" "$L/smoke_b.log")"
    fi
    return
  fi
  verdict 2 smoke "$r.first" "$r" 40 60 20
}

# step_bench against train_reference.py on the same batches; MODE compute or e2e.
step_pair() {  # check end mode extra-args...
  local n="$1" end="$2" mode="$3" rc; shift 3
  x "$L/step_${mode}_l2face.log" "$end" "$BIN/step_bench" "${STEP_COMMON[@]}" "$@"
  rc=$?
  [ "$rc" = 0 ] || { record "$n" FAIL "step_bench: $(why "$rc" "$L/step_${mode}_l2face.log")"; return; }
  x "$L/step_${mode}_pytorch.log" "$end" env LD_LIBRARY_PATH="$PY_LD_LIBRARY_PATH" "$PY" \
    bench/reference/train_reference.py "${STEP_COMMON[@]}" "$@"
  rc=$?
  [ "$DRY" = 1 ] && return
  [ "$rc" = 0 ] || { record "$n" FAIL "reference: $(why "$rc" "$L/step_${mode}_pytorch.log")"; return; }
  verdict "$n" step "$L/step_${mode}_l2face.log" "$L/step_${mode}_pytorch.log" "$mode"
}

check_3() {
  step_pair 3 "$1" compute --warmup 5 --steps 20 --classes 2000
}

check_4() {
  ensure_corpus || { record 4 FAIL "synth: $(why $? "$L/synth.log")"; return; }
  step_pair 4 "$1" e2e --warmup 5 --steps 15 --corpus "$C/train" --workers 12 --flip 0.5
}

check_5() {
  local end="$1" rc
  if [ "$DRY" = 0 ] && [ ! -f "$W/smoke/checkpoints/LATEST" ]; then
    record 5 "NOT RUN" "no checkpoint from check 2"
    return
  fi
  x "$L/eval_cpu.log" "$end" "$BIN/l2face" eval --checkpoint "$W/smoke" \
    --pairs "$C/eval/pairs.txt" --device cpu --out "$L/eval_cpu.json"
  rc=$?
  [ "$DRY" = 1 ] && return
  [ "$rc" = 0 ] || { record 5 FAIL "$(why "$rc" "$L/eval_cpu.log")"; return; }
  verdict 5 eval "$L/eval_cpu.json"
}

# One rank, exact softmax, batch 64, SGD with momentum: weights, gradient and momentum of 1M rows
# (6.1 GiB) dominate. Margin 20 %: the goal docs/performance.md states for the resident-memory
# measurement on the CPU (measured 1.01x there).
check_6() {
  local end="$1" rc launcher=()
  [ ${#MPIRUN[@]} -gt 0 ] && launcher=("${MPIRUN[@]}" -np 1)
  [ "$DRY" = 1 ] && [ ${#launcher[@]} -eq 0 ] && launcher=(mpirun -np 1)
  x "$L/classifier.log" "$end" "${launcher[@]}" "$BIN/classifier_bench" --classes 1000000 \
    --dim 512 --batch 64 --steps 3 --device cuda
  rc=$?
  [ "$DRY" = 1 ] && return
  [ "$rc" = 0 ] || { record 6 FAIL "$(why "$rc" "$L/classifier.log")"; return; }
  verdict 6 classifier "$L/classifier.log" 0.20
}

# The same model on 2 ranks x 16 images (mpi backend, device buffers staged through the host)
# as on 1 rank x 32: no BatchNorm, no dropout, fp32, replicated head; the losses of steps 1-5
# differ only by reduction order and batch-size-dependent kernels, against O(1e-2) for a wrongly
# synchronised gradient; tolerance 1e-3. On the CPU (2026-12-07, the same commands with
# run.device=cpu, 32 px): 1.1e-7 for the 2-rank run, 1.5e-2 for a 1-rank run at half the
# learning rate.
check_7() {
  local end="$1" rc
  if [ ${#MPIRUN[@]} -eq 0 ] && [ "$DRY" = 0 ]; then
    record 7 "NOT RUN" "$MPI_NOTE"
    return
  fi
  ensure_corpus || { record 7 FAIL "synth: $(why $? "$L/synth.log")"; return; }
  local args=("${TRAIN_COMMON[@]}" --set data.train="$C/train" --set eval.pairs="$C/eval/pairs.txt"
              --set model.norm=none --set model.dropout=0 --set run.precision=fp32
              --set classifier.parallel=replicated --set optim.max_steps=5 --set optim.warmup_steps=0
              --set monitoring.log_every=1 --set checkpoint.every_steps=0 --set data.workers=2)
  rm -rf "$W/eq1" "$W/eq2"
  x "$L/equiv_1.log" "$end" "$BIN/l2face" train "${args[@]}" --set run.dir="$W/eq1" \
    --set data.batch_size=32
  rc=$?
  [ "$rc" = 0 ] || { record 7 FAIL "1 rank: $(why "$rc" "$L/equiv_1.log")"; return; }
  x "$L/equiv_2.log" "$end" "${MPIRUN[@]:-mpirun}" -np 2 "$BIN/l2face" train "${args[@]}" \
    --set run.dir="$W/eq2" --set data.batch_size=16 --set comm.backend=mpi
  rc=$?
  [ "$DRY" = 1 ] && return
  [ "$rc" = 0 ] || { record 7 FAIL "2 ranks: $(why "$rc" "$L/equiv_2.log")"; return; }
  verdict 7 equiv "$W/eq1" "$W/eq2" 5 1e-3
}
