#!/usr/bin/env bash
# Fault trials (label fault): SIGKILL one random rank of a 2-3 rank training job in a chosen moment
# — forward/backward and all-reduce ("compute"), an asynchronous checkpoint write slowed with
# checkpoint.slow_write ("checkpoint"), in-training evaluation ("eval") — and check that the job
# ends non-zero within 60 s, no process is left behind, and `--resume auto` continues from the
# newest complete checkpoint. The first three trials cover the three moments (in a random order),
# later ones draw a moment at random. That the kill landed inside its moment is read from the run
# directory just before and just after the kill (the same checkpoints/step_N.tmp of a save in
# flight; the same evaluation step, logged without eval/step_N.json yet; for "compute" neither
# before, and no evaluation or commit after); a kill that landed elsewhere reruns the trial (at
# most 4 attempts), then fails. Prints a table of the observed moment, time-to-exit and steps lost
# per trial.
#   kill_trials.sh L2FACE WORK SRC [TRIALS=3] [SEED=1]
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"; TRIALS="${4:-3}"; RANDOM="${5:-1}"
MPI=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1)
EVAL_EVERY=3
rm -rf "$WORK"; mkdir -p "$WORK"
# 1500 evaluation images (x2 with flips) keep rank 0 evaluating long enough to observe.
"$L2FACE" synth --out "$WORK/corpus" --identities 20 --images-per-identity 6 --eval-identities 100 \
  --eval-images-per-identity 15 --folds 2 --pairs-per-fold 200 --size 32 --seed 4 --threads 2 \
  >/dev/null
common=(--set data.train="$WORK/corpus/train" --set data.image_size=32 --set data.workers=1
        --set data.batch_size=8 --set model.width=8 --set model.embedding_dim=16
        --set optim.max_steps=100000 --set optim.lr=0.02 --set run.threads=1
        --set monitoring.serve=false --set monitoring.log_every=1 --set checkpoint.every_steps=4
        --set comm.timeout_seconds=20)

# The state of a run directory into STATE=(save-in-flight evaluating-step LATEST), "-" for none.
# No process is started after the save check, the last one: it is taken just before the kill.
observe() {
  local dir="$1" step ev=- latest tmp
  step=$(tail -1 "$dir/train_log.jsonl" 2>/dev/null | sed -n 's/.*"step":\([0-9]*\).*/\1/p')
  if [ -f "$dir.eval_on" ] && [ -n "$step" ] && [ $(( step % EVAL_EVERY )) = 0 ] &&
     [ ! -e "$dir/eval/step_$step.json" ]; then
    ev="$step"
  fi
  latest=-; [ -f "$dir/checkpoints/LATEST" ] && read -r latest < "$dir/checkpoints/LATEST"
  tmp=("$dir"/checkpoints/step_*.tmp)
  [ -e "${tmp[0]}" ] && tmp="${tmp[0]##*/}" || tmp=-
  STATE=("$tmp" "$ev" "$latest")
}

# Whether the state before the kill lies inside `moment`.
ready() {
  case "$1" in
    compute) [ "${BEFORE[0]}" = - ] && [ "${BEFORE[1]}" = - ] ;;
    checkpoint) [ "${BEFORE[0]}" != - ] ;;
    eval) [ "${BEFORE[1]}" != - ] ;;
  esac
}

# Whether the kill landed inside `moment`, from the states before and after it; prints what was
# seen. "compute": no save or evaluation before, no evaluation and no commit after (a save the
# surviving ranks began after the kill is allowed); "checkpoint": the same save in flight both
# times; "eval": the same evaluation running both times.
landed() {
  case "$1" in
    compute) ready compute && [ "${AFTER[1]}" = - ] && [ "${AFTER[2]}" = "${BEFORE[2]}" ] &&
               echo "no save or evaluation in flight (LATEST ${BEFORE[2]})" ;;
    checkpoint) ready checkpoint && [ "${AFTER[0]}" = "${BEFORE[0]}" ] &&
                  echo "writing ${BEFORE[0]}" ;;
    eval) ready eval && [ "${AFTER[1]}" = "${BEFORE[1]}" ] && echo "evaluating step ${BEFORE[1]}" ;;
  esac || { echo "before the kill: save ${BEFORE[0]}, evaluation ${BEFORE[1]}, LATEST" \
                 "${BEFORE[2]}; after it: save ${AFTER[0]}, evaluation ${AFTER[1]}, LATEST" \
                 "${AFTER[2]}"; return 1; }
}

# Starts the job of a trial in the background; sets JOB.
start_job() {
  local moment="$1" np="$2" dir="$3" extra=() env=()
  case "$moment" in
    checkpoint) extra=(--set checkpoint.every_steps=2)
                env=(L2FACE_FAULT=checkpoint.slow_write=400) ;;
    eval) extra=(--set eval.pairs="$WORK/corpus/eval/pairs.txt"
                 --set eval.images="$WORK/corpus/eval"
                 --set eval.every_steps=$EVAL_EVERY --set eval.folds=2)
          touch "$dir.eval_on" ;;
  esac
  ( rc=0; env "${env[@]}" "${MPI[@]}" -np "$np" "$L2FACE" train "${common[@]}" "${extra[@]}" \
      --set run.dir="$dir" > "$dir.log" 2>&1 || rc=$?; echo "$rc" > "$dir.rc" ) &
  JOB=$!
}

# Waits for training to run, then a random 0-3 s more, then for `moment`; kills rank `victim`
# between two observations. Sets DELAY, T0, BEFORE, AFTER. Fails when the moment never comes.
kill_in_moment() {
  local moment="$1" np="$2" victim="$3" dir="$4" pids i
  for _ in $(seq 1 300); do
    [ -s "$dir/train_log.jsonl" ] && [ "$(wc -l < "$dir/train_log.jsonl")" -ge 5 ] && break
    sleep 0.1
  done
  DELAY=$(( RANDOM % 30 ))
  sleep "$(printf '%d.%d' $(( DELAY / 10 )) $(( DELAY % 10 )))"
  pids=($(pgrep -f "run.dir=$dir\$" | xargs -r ps -o pid=,comm= -p | awk '$2 == "l2face" {print $1}' | sort -n))
  [ "${#pids[@]}" = "$np" ] || { echo "expected $np ranks, found ${#pids[@]}"; cat "$dir.log"; return 1; }
  for i in $(seq 1 1500); do
    observe "$dir"; BEFORE=("${STATE[@]}")
    ready "$moment" && break
    [ "$i" = 1500 ] && { echo "no '$moment' moment within 30 s (last: ${BEFORE[*]})"; return 1; }
    sleep 0.02
  done
  T0=$EPOCHREALTIME  # builtins only between the save check and the kill
  kill -9 "${pids[$victim]}"
  observe "$dir"; AFTER=("${STATE[@]}")
}

# Waits for the job to end; fails unless it ended non-zero within 65 s with no process left.
# Sets RC and SECS.
await_exit() {
  local dir="$1" left
  for _ in $(seq 1 650); do kill -0 "$JOB" 2>/dev/null || break; sleep 0.1; done
  SECS=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
  if kill -0 "$JOB" 2>/dev/null; then
    echo "the job is still running 65 s after the kill"; pkill -9 -f "run.dir=$dir\$" || true
    return 1
  fi
  wait "$JOB" || true
  RC=$(cat "$dir.rc")
  [ "$RC" != 0 ] || { echo "the job exited 0 after a rank was killed"; return 1; }
  left=$(pgrep -f "run.dir=$dir\$" || true)
  [ -z "$left" ] || { echo "processes left behind: $left"; return 1; }
  if awk -v s="$SECS" 'BEGIN{exit !(s > 60)}'; then echo "$SECS s to exit (> 60 s)"; return 1; fi
}

# Resumes from the newest complete checkpoint for two more steps. Sets SAVED and LAST.
resume() {
  local np="$1" dir="$2"
  LAST=$(tail -1 "$dir/train_log.jsonl" | sed 's/.*"step":\([0-9]*\).*/\1/')
  SAVED=$(sed 's/step_//' "$dir/checkpoints/LATEST" 2>/dev/null || echo 0)
  "${MPI[@]}" -np "$np" "$L2FACE" train "${common[@]}" --set run.dir="$dir" --resume auto \
    --set optim.max_steps=$(( SAVED + 2 )) >> "$dir.resume.log" 2>&1 || {
      echo "resume failed"; tail -20 "$dir.resume.log"; return 1; }
  if [ "$SAVED" -gt 0 ]; then
    grep -q "resuming from .*step_$SAVED " "$dir.resume.log" || { echo "did not resume from step_$SAVED"; return 1; }
  fi
}

# One attempt of trial $1 in `moment`: 0 = passed (a table row printed), 2 = the kill landed
# outside the moment (the caller reruns), 1 = a failure.
attempt() {
  local t="$1" moment="$2" a="$3" np victim dir seen
  np=$(( 2 + RANDOM % 2 ))
  victim=$(( RANDOM % np ))
  dir="$WORK/t${t}a${a}"
  start_job "$moment" "$np" "$dir"
  kill_in_moment "$moment" "$np" "$victim" "$dir" || {
    pkill -9 -f "run.dir=$dir\$" || true; return 1; }
  await_exit "$dir" || return 1
  seen=$(landed "$moment") || {
    echo "trial $t: the kill landed outside the '$moment' moment ($seen)"
    return 2
  }
  resume "$np" "$dir" || return 1
  printf "| %d | %d | %s | %s | %d | %d.%d | %s | %s | %s | %s | %s |\n" "$t" "$np" "$moment" \
    "$seen" "$victim" $(( DELAY / 10 )) $(( DELAY % 10 )) "$RC" "$SECS" "$LAST" "$SAVED" \
    $(( LAST - SAVED ))
}

moments=(compute checkpoint eval)
first=$(( RANDOM % 3 )); step=$(( 1 + RANDOM % 2 ))
printf "| trial | ranks | moment | observed at the kill | killed rank | after (s) | exit | time to exit (s) | last step | resumed from | steps lost |\n"
printf "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|\n"
for t in $(seq 1 "$TRIALS"); do
  if [ "$t" -le 3 ]; then moment=${moments[$(( (first + (t - 1) * step) % 3 ))]}
  else moment=${moments[$(( RANDOM % 3 ))]}; fi
  for a in 1 2 3 4; do
    rc=0; attempt "$t" "$moment" "$a" || rc=$?
    [ "$rc" = 0 ] && break
    [ "$rc" = 2 ] || { echo "trial $t ($moment) failed"; exit 1; }
    [ "$a" = 4 ] && { echo "trial $t: 4 kills in a row missed the '$moment' moment"; exit 1; }
    echo "trial $t: rerunning (attempt $(( a + 1 )) of 4)"
  done
done
echo "fault trials ok"
