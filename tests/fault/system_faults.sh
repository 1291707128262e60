#!/usr/bin/env bash
# Fault injection on the real CLI (label fault): a corrupted newest checkpoint (bit flip,
# truncation, missing shard, missing manifest) is detected and the previous one used, saying why;
# a full disk while saving (a small tmpfs) gives a clear error and leaves the previous checkpoint
# intact, training going on or stopping as configured; a rank that stops calling collectives is
# named by the watchdog and the job ends (exit 3); NaN losses are skipped and counted, K in a row
# stop the run (exit 1), and no NaN reaches a checkpoint.
#   system_faults.sh L2FACE WORK SRC
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"
MPI=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1)
rm -rf "$WORK"; mkdir -p "$WORK"
"$L2FACE" synth --out "$WORK/corpus" --identities 20 --images-per-identity 6 --eval-identities 4 \
  --eval-images-per-identity 3 --folds 2 --pairs-per-fold 2 --size 32 --seed 6 --threads 2 >/dev/null
common=(--set data.train="$WORK/corpus/train" --set data.image_size=32 --set data.workers=1
        --set data.batch_size=6 --set model.width=8 --set model.embedding_dim=16
        --set optim.max_steps=8 --set optim.lr=0.02 --set run.threads=1 --set monitoring.serve=false
        --set checkpoint.every_steps=4 --set checkpoint.keep_last=0
        --set classifier.parallel=sharded)
fail() { echo "FAIL: $*"; exit 1; }
expect_rc() {  # want log command...
  local want="$1" log="$2"; shift 2
  local rc=0; "$@" > "$log" 2>&1 || rc=$?
  [ "$rc" = "$want" ] || { tail -20 "$log"; fail "exit $rc, expected $want: $*"; }
}

# 1. Corruptions of the newest checkpoint: the previous one is used and the log says why.
expect_rc 0 "$WORK/base.log" "${MPI[@]}" -np 2 "$L2FACE" train "${common[@]}" --set run.dir="$WORK/base"
for kind in bitflip truncate shard manifest; do
  rm -rf "$WORK/$kind"; cp -r "$WORK/base" "$WORK/$kind"
  d="$WORK/$kind/checkpoints/step_8"
  case "$kind" in
    bitflip) "$SRC/.venv/bin/python" -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=0x10; open(p,'wb').write(b)" "$d/backbone.pt" ;;
    truncate) truncate -s 200 "$d/classifier.shard-00001.bin" ;;
    shard) rm "$d/classifier.shard-00000.bin" ;;
    manifest) rm "$d/manifest.json" ;;
  esac
  expect_rc 0 "$WORK/$kind.log" "${MPI[@]}" -np 2 "$L2FACE" train "${common[@]}" \
    --set run.dir="$WORK/$kind" --set optim.max_steps=10 --resume auto
  grep -q "resuming from .*step_4 (step 4" "$WORK/$kind.log" || { cat "$WORK/$kind.log"; fail "$kind: not resumed from step_4"; }
  grep -qi "step_8" "$WORK/$kind.log" || fail "$kind: the log does not say why step_8 was skipped"
  echo "corrupt newest checkpoint ($kind): detected, resumed from step_4"
done

# 2. Disk full while saving: a tmpfs that holds the run and one checkpoint, not two.
mnt="$WORK/tmpfs"; mkdir -p "$mnt"
if mount -t tmpfs -o size=4m tmpfs "$mnt" 2>/dev/null; then
  trap 'umount "$mnt" 2>/dev/null || true' EXIT
  umount "$mnt"
  big=(--set classifier.parallel=replicated --set model.width=32 --set model.embedding_dim=256
       --set monitoring.log_every=1)
  # The same run on the normal disk sizes the tmpfs: the run's other files and one checkpoint fit,
  # a second checkpoint does not.
  expect_rc 0 "$WORK/sizing.log" "$L2FACE" train "${common[@]}" --set run.dir="$WORK/sizing" "${big[@]}"
  one=$(du -sk "$WORK/sizing/checkpoints/step_4" | cut -f1)
  all=$(du -sk "$WORK/sizing" | cut -f1)
  size=$(( all - 2 * one + one * 3 / 2 + 64 ))
  mount -t tmpfs -o size=${size}k tmpfs "$mnt"
  # (a) default: the failure is logged and counted, training goes on; the final save fails: exit 1.
  expect_rc 1 "$WORK/full.log" "$L2FACE" train "${common[@]}" --set run.dir="$mnt/run" "${big[@]}" \
    --set checkpoint.every_steps=3
  grep -q "error: checkpoint step 6 failed" "$WORK/full.log" || { cat "$WORK/full.log"; fail "no error for the failed save"; }
  grep -qi "No space left on device\|cannot write" "$WORK/full.log" || fail "the error does not say the disk is full"
  grep -q "the final checkpoint (step 8) could not be saved" "$WORK/full.log" || fail "final save failure not reported"
  [ "$(cat "$mnt/run/checkpoints/LATEST")" = step_3 ] || fail "LATEST changed"
  if ls "$mnt/run/checkpoints" | grep -q "\.tmp"; then fail "a .tmp directory was left behind"; fi
  "$L2FACE" embed --checkpoint "$mnt/run" --images "$WORK/corpus/eval" --out "$WORK/full.csv" > /dev/null \
    || fail "the previous checkpoint is not loadable"
  echo "disk full: error logged, step_3 intact and loadable, final failure exit 1"
  # (b) checkpoint.fail_on_error: the first failed save ends the run.
  rm -rf "$mnt/run"
  expect_rc 1 "$WORK/full2.log" "$L2FACE" train "${common[@]}" --set run.dir="$mnt/run" "${big[@]}" \
    --set checkpoint.every_steps=3 --set optim.max_steps=20 --set checkpoint.fail_on_error=true
  grep -q "checkpoint step 6 failed" "$WORK/full2.log" || { cat "$WORK/full2.log"; fail "fail_on_error: no error"; }
  [ "$(tail -1 "$mnt/run/train_log.jsonl" | sed 's/.*"step":\([0-9]*\).*/\1/')" -lt 12 ] \
    || fail "fail_on_error: training went on"
  [ "$(cat "$mnt/run/checkpoints/LATEST")" = step_3 ] || fail "fail_on_error: LATEST changed"
  echo "disk full with checkpoint.fail_on_error: the run stopped, step_3 intact"
  umount "$mnt"; trap - EXIT
else
  echo "SKIP disk-full case: cannot mount a tmpfs here (needs root)"
fi

# 3. A rank that stops calling collectives: the watchdog names it and ends the job with exit 3.
t0=$(date +%s)
expect_rc 3 "$WORK/hang.log" env L2FACE_FAULT="train.hang@rank1@step3" "${MPI[@]}" -np 2 \
  "$L2FACE" train "${common[@]}" --set run.dir="$WORK/hang" --set comm.timeout_seconds=5
grep -q "ranks that did not arrive: \[1\]" "$WORK/hang.log" || { cat "$WORK/hang.log"; fail "watchdog did not name rank 1"; }
echo "hung rank: named by the watchdog, job ended in $(( $(date +%s) - t0 )) s with exit 3"

# 4. NaN losses: skipped and counted; K in a row stop the run; no NaN in a checkpoint.
expect_rc 0 "$WORK/nan.log" env L2FACE_FAULT="train.nan_loss@step2,train.nan_loss@step5" \
  "${MPI[@]}" -np 2 "$L2FACE" train "${common[@]}" --set run.dir="$WORK/nan"
grep -q '"skipped_steps": 2' "$WORK/nan/summary.json" || { cat "$WORK/nan/summary.json"; fail "skipped steps not counted"; }
expect_rc 1 "$WORK/nanstop.log" env L2FACE_FAULT="train.nan_loss@step2,train.nan_loss@step3,train.nan_loss@step4" \
  "${MPI[@]}" -np 2 "$L2FACE" train "${common[@]}" --set run.dir="$WORK/nanstop" \
  --set optim.max_nan_steps=3 --set monitoring.log_every=1
grep -q "optim.max_nan_steps: 3 consecutive steps" "$WORK/nanstop.log" || { cat "$WORK/nanstop.log"; fail "no max_nan_steps stop"; }
"$SRC/.venv/bin/python" - "$WORK/nan" "$WORK/nanstop" <<'PY'
import glob, struct, sys
for run in sys.argv[1:]:
    for f in glob.glob(f"{run}/checkpoints/step_*/classifier.shard-*.bin"):
        data = open(f, "rb").read()[64:]
        vals = struct.unpack(f"<{len(data)//4}f", data)
        assert all(v == v and abs(v) != float("inf") for v in vals), f
print("no NaN in the class rows of any checkpoint")
PY
echo "fault injection ok"
