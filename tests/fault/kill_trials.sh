#!/usr/bin/env bash
# Fault trials (label fault): SIGKILL one random rank of a 2-3 rank training job at a random
# moment — during forward/backward and all-reduce, during asynchronous checkpoint writes (slowed
# with checkpoint.slow_write), during in-training evaluation — and check that the job ends non-zero
# within 60 s, no process is left behind, and `--resume auto` continues from the newest complete
# checkpoint. Prints a table of time-to-exit and steps lost per trial.
#   kill_trials.sh L2FACE WORK SRC [TRIALS=3] [SEED=1]
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"; TRIALS="${4:-3}"; RANDOM="${5:-1}"
MPI=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1)
rm -rf "$WORK"; mkdir -p "$WORK"
"$L2FACE" synth --out "$WORK/corpus" --identities 20 --images-per-identity 6 --eval-identities 6 \
  --eval-images-per-identity 3 --folds 2 --pairs-per-fold 10 --size 32 --seed 4 --threads 2 >/dev/null
common=(--set data.train="$WORK/corpus/train" --set data.image_size=32 --set data.workers=1
        --set data.batch_size=8 --set model.width=8 --set model.embedding_dim=16
        --set optim.max_steps=100000 --set optim.lr=0.02 --set run.threads=1
        --set monitoring.serve=false --set monitoring.log_every=1 --set checkpoint.every_steps=4
        --set comm.timeout_seconds=20)
printf "| trial | ranks | moment | killed rank | after (s) | exit | time to exit (s) | last step | resumed from | steps lost |\n"
printf "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n"
worst=0
for t in $(seq 1 "$TRIALS"); do
  np=$(( 2 + RANDOM % 2 ))
  moments=(compute checkpoint eval)
  moment=${moments[$(( RANDOM % 3 ))]}
  extra=(); env=()
  case "$moment" in
    checkpoint) extra=(--set checkpoint.every_steps=2); env=(L2FACE_FAULT=checkpoint.slow_write=400) ;;
    eval) extra=(--set eval.pairs="$WORK/corpus/eval/pairs.txt" --set eval.images="$WORK/corpus/eval"
                 --set eval.every_steps=3 --set eval.folds=2) ;;
  esac
  dir="$WORK/t$t"
  ( rc=0; env "${env[@]}" "${MPI[@]}" -np "$np" "$L2FACE" train "${common[@]}" "${extra[@]}" \
      --set run.dir="$dir" > "$dir.log" 2>&1 || rc=$?; echo "$rc" > "$dir.rc" ) &
  job=$!
  # Wait for training to run, then a random 0-3 s more.
  for _ in $(seq 1 300); do
    [ -s "$dir/train_log.jsonl" ] && [ "$(wc -l < "$dir/train_log.jsonl")" -ge 5 ] && break
    sleep 0.1
  done
  delay=$(( RANDOM % 30 ))
  sleep "$(printf '%d.%d' $(( delay / 10 )) $(( delay % 10 )))"
  pids=($(pgrep -f "run.dir=$dir\$" | xargs -r ps -o pid=,comm= -p | awk '$2 == "l2face" {print $1}' | sort -n))
  [ "${#pids[@]}" = "$np" ] || { echo "trial $t: expected $np ranks, found ${#pids[@]}"; cat "$dir.log"; exit 1; }
  victim=$(( RANDOM % np ))
  t0=$(date +%s.%N)
  kill -9 "${pids[$victim]}"
  for _ in $(seq 1 650); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
  t1=$(date +%s.%N)
  if kill -0 "$job" 2>/dev/null; then
    echo "trial $t: the job is still running 65 s after the kill"; pkill -9 -f "run.dir=$dir\$" || true
    exit 1
  fi
  wait "$job" || true
  rc=$(cat "$dir.rc")
  [ "$rc" != 0 ] || { echo "trial $t: the job exited 0 after a rank was killed"; exit 1; }
  left=$(pgrep -f "run.dir=$dir\$" || true)
  [ -z "$left" ] || { echo "trial $t: processes left behind: $left"; exit 1; }
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}')
  last=$(tail -1 "$dir/train_log.jsonl" | sed 's/.*"step":\([0-9]*\).*/\1/')
  # Resume: the newest complete checkpoint, two more steps.
  saved=$(sed 's/step_//' "$dir/checkpoints/LATEST" 2>/dev/null || echo 0)
  "${MPI[@]}" -np "$np" "$L2FACE" train "${common[@]}" --set run.dir="$dir" --resume auto \
    --set optim.max_steps=$(( saved + 2 )) >> "$dir.resume.log" 2>&1 || {
      echo "trial $t: resume failed"; tail -20 "$dir.resume.log"; exit 1; }
  if [ "$saved" -gt 0 ]; then
    grep -q "resuming from .*step_$saved " "$dir.resume.log" || { echo "trial $t: did not resume from step_$saved"; exit 1; }
  fi
  lost=$(( last - saved ))
  printf "| %d | %d | %s | %d | %d.%d | %s | %s | %s | %s | %s |\n" "$t" "$np" "$moment" "$victim" \
    $(( delay / 10 )) $(( delay % 10 )) "$rc" "$secs" "$last" "$saved" "$lost"
  if awk -v s="$secs" 'BEGIN{exit !(s > 60)}'; then echo "trial $t: $secs s to exit (> 60 s)"; exit 1; fi
done
echo "fault trials ok"
