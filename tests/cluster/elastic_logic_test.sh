#!/usr/bin/env bash
# launch (label elastic): the decisions of launch/l2face-elastic, fast and without root, against a
# stand-in mpirun and l2face. The stand-in mpirun fails at once when one of its hosts is marked
# dead and ends a running job (exit 137) when one of them dies; the stand-in `l2face train` counts
# steps with a global batch of FAKE_S (12), writes progress.json and checkpoints like l2face,
# checkpoints and exits 75 on SIGUSR1, and exits 2 when its ranks cannot split the global batch;
# `l2face doctor` fails (exit 4) on a host marked sick, and once (exit 1) on a host marked flaky. Cases: shrink, spare, a spare added to the
# spares file while the job runs, grow back, a sick host at start, --min-hosts (69),
# --max-restarts (70), a refused configuration (2), SIGTERM to the supervisor (75), usage errors.
# Usage: elastic_logic_test.sh WORK SRC
set -euo pipefail
WORK="$1"; SRC="$2"
ELASTIC="$SRC/launch/l2face-elastic"
fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 30 "$f"; }; done >&2
  exit 1
}
rm -rf "$WORK"; mkdir -p "$WORK/state"
export FAKE_STATE="$WORK/state"

cat > "$WORK/mpirun" <<'EOF'
#!/usr/bin/env bash
# Stand-in mpirun: -np N --host h:s,... [options] PROGRAM ARGS...
np=1 hosts=""
while [ "$#" -gt 0 ]; do
  case "$1" in
    -np) np="$2"; shift 2 ;;
    --host) hosts="$2"; shift 2 ;;
    --map-by|--bind-to|-x|--hostfile) shift 2 ;;
    --mca) shift 3 ;;
    --allow-run-as-root|--oversubscribe) shift ;;
    *) break ;;
  esac
done
names=$(echo "$hosts" | tr ',' '\n' | sed 's/:.*//')
dead() { for h in $names; do [ -e "$FAKE_STATE/dead.$h" ] && return 0; done; return 1; }
if dead; then echo "mpirun: a daemon did not report back" >&2; exit 1; fi
FAKE_NP="$np" FAKE_HOSTS="$hosts" "$@" &
child=$!
trap 'kill -USR1 $child 2>/dev/null' USR1
while kill -0 "$child" 2>/dev/null; do
  if dead; then kill -9 "$child" 2>/dev/null; wait "$child" 2>/dev/null; echo "mpirun: lost a daemon" >&2; exit 137; fi
  sleep 0.05
done
wait "$child"
EOF
cat > "$WORK/l2face" <<'EOF'
#!/usr/bin/env bash
# Stand-in l2face: doctor and train.
cmd="$1"; shift
host="${FAKE_HOSTS%%:*}"
if [ "$cmd" = doctor ]; then
  [ ! -e "$FAKE_STATE/sick.$host" ] || { echo "problem: $host is sick"; exit 4; }
  if [ -e "$FAKE_STATE/flaky.$host" ]; then rm "$FAKE_STATE/flaky.$host"; echo "a passing failure" >&2; exit 1; fi
  exit 0
fi
dir="" steps=40 every=4 resume="" keep=0
while [ "$#" -gt 0 ]; do
  case "$1" in
    --set) case "$2" in run.dir=*) dir="${2#run.dir=}" ;; optim.max_steps=*) steps="${2#*=}" ;;
             data.global_batch=*) FAKE_S="${2#*=}"; echo "kept $FAKE_S" >> "$FAKE_STATE/runs" ;; esac; shift 2 ;;
    --resume) resume="$2"; shift 2 ;;
    --keep-global-batch) keep=1; shift ;;
    *) shift ;;
  esac
done
[ "$resume" = auto ] && [ "$keep" = 1 ] || { echo "expected --resume auto --keep-global-batch" >&2; exit 9; }
S="${FAKE_S:-12}" np="${FAKE_NP:-1}"
if [ $((S % np)) -ne 0 ]; then echo "l2face: global batch $S cannot be split over $np rank(s)" >&2; exit 2; fi
mkdir -p "$dir/checkpoints"
step=0
[ -f "$dir/checkpoints/LATEST" ] && step=$(sed 's/step_//' "$dir/checkpoints/LATEST")
start=$step
echo "restarts=${L2FACE_RESTARTS:-unset} np=$np start=$step" >> "$FAKE_STATE/runs"
echo "$FAKE_HOSTS" >> "$FAKE_STATE/launches"
first=""
save() { mkdir -p "$dir/checkpoints/step_$1"; echo "step_$1" > "$dir/checkpoints/LATEST"; }
stop=0
trap 'stop=1' USR1
while [ "$step" -lt "$steps" ]; do
  # No command substitution in this loop: a USR1 trap that runs while bash parses one fails
  # ("unexpected EOF while looking for matching `)'") and the signal is lost.
  crash=""; [ ! -f "$FAKE_STATE/crash_at" ] || read -r crash < "$FAKE_STATE/crash_at" || true
  [ "$crash" != "$step" ] || exit 86
  sleep 0.05
  step=$((step + 1))
  [ -n "$first" ] || first="$EPOCHREALTIME"
  printf '{"step":%d,"time":%s,"first_step_time":%s,"world_size":%d,"started_step":%d,"global_batch":%d,"batch_per_rank":%d,"accumulate_steps":1,"restarts":%s}\n' \
    "$step" "$EPOCHREALTIME" "$first" "$np" "$start" "$S" $((S / np)) "${L2FACE_RESTARTS:-0}" > "$dir/progress.json.tmp"
  mv "$dir/progress.json.tmp" "$dir/progress.json"
  [ $((step % 4)) -ne 0 ] || save "$step"
  if [ "$stop" = 1 ]; then save "$step"; exit 75; fi
done
save "$step"
exit 0
EOF
chmod +x "$WORK/mpirun" "$WORK/l2face"

common=(--l2face "$WORK/l2face" --mpirun "$WORK/mpirun" --health-timeout 5 --poll-interval 1
        --min-resize-interval 0)
reset() { rm -f "$FAKE_STATE"/*; }
supervise() {  # supervise NAME ARGS... (background; exit code to NAME.rc)
  local name="$1"; shift
  ( rc=0; "$ELASTIC" "${common[@]}" --run-dir "$WORK/$name" "$@" > "$WORK/$name.out" 2>&1 || rc=$?
    echo "$rc" > "$WORK/$name.rc" ) &
}
wait_step() {  # wait_step NAME STEP
  for _ in $(seq 1 400); do
    [ -f "$WORK/$1/progress.json" ] && [ "$(sed 's/.*"step":\([0-9]*\).*/\1/' "$WORK/$1/progress.json")" -ge "$2" ] && return 0
    sleep 0.05
  done
  fail "$1: step $2 not reached"
}
wait_rc() {  # wait_rc NAME EXPECTED
  for _ in $(seq 1 600); do [ -f "$WORK/$1.rc" ] && break; sleep 0.05; done
  [ -f "$WORK/$1.rc" ] || fail "$1: the supervisor did not end"
  [ "$(cat "$WORK/$1.rc")" = "$2" ] || fail "$1: exit $(cat "$WORK/$1.rc"), expected $2"
}
launches() { tr '\n' ' ' < "$FAKE_STATE/launches" | sed 's/ $//'; }
reasons() { grep -o '"event":"launch","reason":"[a-z]*"' "$WORK/$1/elastic.jsonl" | sed 's/.*"reason":"//; s/"//' | tr '\n' ' ' | sed 's/ $//'; }
expect() { [ "$2" = "$3" ] || fail "$1: got '$2', expected '$3'"; }

# shrink: c dies at step 5; the job finishes on a and b, after one restart. b's first check after
# the failure fails (a passing failure): the retry passes and b stays.
reset; supervise shrink --hosts a,b,c -- train
wait_step shrink 5; touch "$FAKE_STATE/flaky.b" "$FAKE_STATE/dead.c"
wait_rc shrink 0
expect shrink "$(launches)" "a:1,b:1,c:1 a:1,b:1"
expect shrink "$(reasons shrink)" "start failure"
grep -q '"lost_hosts":\["c"\],"added_hosts":\[\],"world_size":2' "$WORK/shrink/elastic.jsonl" || fail "shrink: event"
grep -q '"event":"first_step","reason":"failure".*"seconds_from_failure":' "$WORK/shrink/elastic.jsonl" || fail "shrink: first step"
grep -q 'restarts=1 np=2' "$FAKE_STATE/runs" || fail "shrink: L2FACE_RESTARTS"
grep -q 'kept 12' "$FAKE_STATE/runs" || fail "shrink: the restart does not keep the global batch"
[ ! -e "$FAKE_STATE/flaky.b" ] || fail "shrink: b was not checked"
! grep -q "host b is dropped" "$WORK/shrink.out" || fail "shrink: b was dropped for one failed check"
ls "$WORK/shrink/elastic-checks/"*-c.log > /dev/null || fail "shrink: c's failed check is not kept"
grep -q '"steps_lost":[0-4][,}]' "$WORK/shrink/elastic.jsonl" || fail "shrink: steps lost"

# spare: d takes c's place.
reset; supervise spare --hosts a,b,c --spares d -- train
wait_step spare 5; touch "$FAKE_STATE/dead.c"
wait_rc spare 0
expect spare "$(launches)" "a:1,b:1,c:1 a:1,b:1,d:1"

# spares file: c dies, no spare; one is added to the file while the job runs on two hosts.
reset; : > "$WORK/spares.txt"; supervise sparefile --hosts a,b,c --spares-file "$WORK/spares.txt" -- train --set optim.max_steps=120
wait_step sparefile 5; touch "$FAKE_STATE/dead.c"
for _ in $(seq 1 200); do [ "$(wc -l < "$FAKE_STATE/launches")" -ge 2 ] && break; sleep 0.05; done
printf 'bad"name\ne   # added while running\n' >> "$WORK/spares.txt"
wait_rc sparefile 0
expect sparefile "$(launches)" "a:1,b:1,c:1 a:1,b:1 a:1,b:1,e:1"
expect sparefile "$(reasons sparefile)" "start failure resize"
grep -q "spares file .*'bad\"name' is not a host name; skipped" "$WORK/sparefile.out" || fail "sparefile: the bad line"

# grow: c dies, then comes back; the job checkpoints (75) and finishes on 3 hosts again.
reset; supervise grow --hosts a,b,c --ranks-per-node 2 -- train --set optim.max_steps=120
wait_step grow 5; touch "$FAKE_STATE/dead.c"
for _ in $(seq 1 200); do grep -q '"first_step","reason":"failure"' "$WORK/grow/elastic.jsonl" 2>/dev/null && break; sleep 0.05; done
rm "$FAKE_STATE/dead.c"
wait_rc grow 0
expect grow "$(launches)" "a:2,b:2,c:2 a:2,b:2 a:2,b:2,c:2"
expect grow "$(reasons grow)" "start failure resize"
grep -q '"reason":"resize".*"added_hosts":\["c"\],"world_size":6.*"steps_lost":0' "$WORK/grow/elastic.jsonl" || fail "grow: resize event"
grep -q 'restarts=1 np=6' "$FAKE_STATE/runs" || fail "grow: a resize is no restart"

# A host sick at start is left out.
reset; touch "$FAKE_STATE/sick.b"; supervise sick --hosts a,b,c --poll-interval 60 -- train
wait_rc sick 0
expect sick "$(launches)" "a:1,c:1"
grep -q "host b is not usable: l2face doctor: problem: b is sick" "$WORK/sick.out" || fail "sick: message"

# --min-hosts: two left of three, three needed.
reset; supervise minhosts --hosts a,b,c --min-hosts 3 -- train
wait_step minhosts 5; touch "$FAKE_STATE/dead.c"
wait_rc minhosts 69
grep -q "only 2 healthy host(s) left (lost: c), fewer than --min-hosts 3" "$WORK/minhosts.out" || fail "minhosts: message"
grep -q '"event":"stop","exit":69' "$WORK/minhosts/elastic.jsonl" || fail "minhosts: event"

# --max-restarts: a crash at step 6 on every run.
reset; echo 6 > "$FAKE_STATE/crash_at"; supervise maxrestarts --hosts a,b --max-restarts 2 -- train
wait_rc maxrestarts 70
expect maxrestarts "$(launches)" "a:1,b:1 a:1,b:1 a:1,b:1"
grep -q "every host passed its check: restarting on the same hosts" "$WORK/maxrestarts.out" || fail "maxrestarts: message"
grep -q -- "the job failed (exit 86) and --max-restarts 2 restart(s) are used up" "$WORK/maxrestarts.out" || fail "maxrestarts: stop message"

# A global batch the survivors cannot split: l2face exits 2, the supervisor stops.
reset; FAKE_S=8 supervise refused --hosts a,b,c,d -- train
wait_step refused 5; touch "$FAKE_STATE/dead.d"
wait_rc refused 2
grep -q "cannot be split over 3 rank(s)" "$WORK/refused.out" || fail "refused: l2face's message"
grep -q "refused its configuration on 3 rank(s)" "$WORK/refused.out" || fail "refused: message"

# SIGTERM to the supervisor: the job checkpoints; exit 75.
reset; supervise preempt --hosts a,b -- train --set optim.max_steps=100000
wait_step preempt 3
pkill -TERM -f "l2face-elastic .*--run-dir $WORK/preempt " || fail "preempt: no supervisor"
wait_rc preempt 75
grep -q '"event":"stop","exit":75' "$WORK/preempt/elastic.jsonl" || fail "preempt: event"

# Usage errors: exit 2, nothing started.
reset
printf 'a slots=4\nb:4 # a slot count where a host name belongs\n' > "$WORK/badhosts.txt"
for bad in "--hosts a --run-dir $WORK/u -- train --resume auto" "--run-dir $WORK/u -- train" \
           "--hosts a,b --min-hosts 3 --run-dir $WORK/u -- train" "--hosts a -- train" \
           "--hosts a:4 --run-dir $WORK/u -- train" "--hosts a --run-dir $WORK/u -- eval" \
           "--hosts a,b:4 --run-dir $WORK/u -- train" "--hosts a,b\"c --run-dir $WORK/u -- train" \
           "--hosts a --spares b,,c --run-dir $WORK/u -- train" \
           "--hostfile $WORK/badhosts.txt --run-dir $WORK/u -- train" \
           "--hosts a --spares-file $WORK/badhosts.txt --run-dir $WORK/u -- train"; do
  rc=0; read -r -a words <<< "$bad"; "$ELASTIC" "${common[@]}" "${words[@]}" > "$WORK/usage.out" 2>&1 || rc=$?
  [ "$rc" = 2 ] || fail "usage '$bad': exit $rc"
  grep -q '^l2face-elastic: ' "$WORK/usage.out" || fail "usage '$bad': no message"
done
[ ! -e "$FAKE_STATE/launches" ] || fail "a usage error launched something"
echo "elastic logic ok"
