#!/usr/bin/env bash
# cluster (label elastic): launch/l2face-elastic over four "hosts" on this machine, each a network
# and UTS namespace plugged into one bridge (a fifth namespace is the switch). mpirun starts on
# host 1 and reaches the others through an rsh agent that enters their namespaces. A host fails
# for real: every process in its namespace is SIGKILLed at a random step and its link goes down,
# so its health check (`l2face doctor` through mpirun) fails at once, as a dead node's would.
#   shrink  3 hosts, host 3 dies: the job finishes on 2 (global batch 12 = 3 x 4 kept as 2 x 3 x 2
#           accumulation steps);
#   spare   3 hosts and a spare, host 3 dies: the spare takes its place, the job finishes on 3;
#   grow    3 hosts, host 3 dies, the job goes on with 2, host 3 comes back: the job stops at a step
#           boundary (exit 75) and finishes on 3;
# each final model equals an uninterrupted 3-rank run (model.norm none, no dropout: the same
# samples in the same global order; held-out embeddings within 1e-6 relative); steps lost <= the
# checkpoint interval + the asynchronous commit's lag.
#   min-hosts     --min-hosts 3 and a host dies: exit 69, the newest checkpoint loads;
#   max-restarts  a rank that crashes at step 6 on every run, --max-restarts 1: exit 70;
#   indivisible   global batch 8 on 4 hosts, one dies: 3 ranks cannot split 8, l2face refuses
#                 (exit 2, naming the options), the supervisor stops with exit 2.
# Needs root and `ip netns`; exits 77 (skipped) with the reason where namespaces cannot be made.
# Usage: elastic_test.sh L2FACE WORK SRC [SEED]
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"; SEED="${4:-$$}"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
SKIP=77
skip() { echo "SKIP: $*"; exit "$SKIP"; }
fail() {
  echo "FAIL: $*" >&2
  for f in "$WORK"/*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }; done >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
command -v mpirun >/dev/null || skip "mpirun is not installed"

rm -rf "$WORK"; mkdir -p "$WORK"
RANDOM=$SEED
echo "seed $SEED (rerun: elastic_test.sh L2FACE WORK SRC $SEED)"
tag="l2e$$"
NET="10.$((150 + $$ % 50)).$(($$ / 50 % 250)).0"
SW="$tag-sw"
ns() { echo "$tag-$1"; }
addr() { echo "${NET%.0}.$1"; }
cleanup() {
  local i
  for i in 1 2 3 4; do ip netns pids "$(ns "$i")" 2>/dev/null | xargs -r kill -9 2>/dev/null || true; done
  for i in 1 2 3 4; do ip netns del "$(ns "$i")" 2>/dev/null || true; done
  ip netns del "$SW" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$SW" 2>/dev/null || skip "cannot create network namespaces here (ip netns add failed)"
ip -n "$SW" link add br0 type bridge 2>/dev/null || skip "cannot create a bridge"
ip -n "$SW" link set br0 up
for i in 1 2 3 4; do
  ip netns add "$(ns "$i")"
  ip link add "$tag-h$i" type veth peer name "$tag-s$i" 2>/dev/null || skip "cannot create a veth pair"
  ip link set "$tag-h$i" netns "$(ns "$i")"
  ip link set "$tag-s$i" netns "$SW"
  ip -n "$SW" link set "$tag-s$i" master br0 up
  ip -n "$(ns "$i")" addr add "$(addr "$i")/24" dev "$tag-h$i"
  ip -n "$(ns "$i")" link set lo up
  ip -n "$(ns "$i")" link set "$tag-h$i" up
done
unshare --uts true 2>/dev/null || skip "cannot create UTS namespaces (unshare --uts)"

# on I COMMAND...: COMMAND on host I (its namespace and host name).
on() { local i="$1"; shift; ip netns exec "$(ns "$i")" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$tag-host-$i" "$@"; }
cat > "$WORK/agent" <<EOF
#!/usr/bin/env bash
while [[ "\$1" == -* ]]; do shift; done
host="\$1"; shift
i="\${host##*.}"
case "\$host" in ${NET%.0}.[1-4]) ;; *) echo "agent: unknown host \$host" >&2; exit 255 ;; esac
exec ip netns exec "$tag-\$i" unshare --uts sh -c "hostname $tag-host-\$i; \$*"
EOF
chmod +x "$WORK/agent"
kill_host() {  # every process of host I, then its link: a dead node
  ip netns pids "$(ns "$1")" | xargs -r kill -9 2>/dev/null || true
  ip -n "$(ns "$1")" link set "$tag-h$1" down
}
revive_host() { ip -n "$(ns "$1")" link set "$tag-h$1" up; }

"$L2FACE" synth --out "$WORK/corpus" --identities 14 --images-per-identity 9 --eval-identities 4 \
  --eval-images-per-identity 3 --folds 2 --pairs-per-fold 2 --size 32 --seed 5 --threads 2 >/dev/null
# 126 images, global batch 12: 10 steps per epoch, 6 images of each epoch unused; 24 steps cross
# two epoch boundaries.
common=(--set data.train="$WORK/corpus/train" --set data.image_size=32 --set data.workers=1
        --set model.width=8 --set model.embedding_dim=16 --set model.norm=none --set model.dropout=0
        --set classifier.parallel=sharded --set optim.lr=0.05 --set optim.warmup_steps=2
        --set run.threads=1 --set monitoring.serve=false --set monitoring.log_every=1
        --set checkpoint.every_steps=4)
STEPS=24
# shellcheck disable=SC2054  # the commas are inside MCA values
elastic=("$SRC/launch/l2face-elastic" --l2face "$L2FACE" --mca plm_rsh_agent "$WORK/agent"
         --mca oob_tcp_if_include "$NET/24" --mca btl_tcp_if_include "$NET/24" --mca btl self,tcp
         --health-timeout 20 --poll-interval 1 --min-resize-interval 1)

# The reference: the same global batch, uninterrupted, 3 ranks.
mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -np 3 "$L2FACE" train \
  "${common[@]}" --set data.batch_size=4 --set "optim.max_steps=$STEPS" --set run.dir="$WORK/ref" \
  > "$WORK/ref.out" 2>&1 || fail "the reference run failed"

# supervise NAME RC HOSTS [elastic options...] -- [train args...]: in the background on host 1;
# its exit code goes to NAME.rc.
supervise() {
  local name="$1" hosts="$2"; shift 2
  ( rc=0; on 1 "${elastic[@]}" --hosts "$hosts" --run-dir "$WORK/$name" "$@" > "$WORK/$name.out" 2>&1 || rc=$?
    echo "$rc" > "$WORK/$name.rc" ) &
}
wait_step() {  # wait_step NAME STEP: until rank 0 logged STEP (or the job ended)
  local i
  for i in $(seq 1 1200); do
    [ -f "$WORK/$1.rc" ] && return 1
    [ -s "$WORK/$1/train_log.jsonl" ] &&
      [ "$(tail -n 1 "$WORK/$1/train_log.jsonl" | sed 's/.*"step": *\([0-9]*\).*/\1/')" -ge "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
wait_rc() {  # wait_rc NAME EXPECTED
  local i
  for i in $(seq 1 1800); do [ -f "$WORK/$1.rc" ] && break; sleep 0.1; done
  [ -f "$WORK/$1.rc" ] || fail "$1: the supervisor did not end"
  [ "$(cat "$WORK/$1.rc")" = "$2" ] || fail "$1: supervisor exit $(cat "$WORK/$1.rc"), expected $2"
}
A1="$(addr 1)" A2="$(addr 2)" A3="$(addr 3)" A4="$(addr 4)"
paced=(--set data.batch_size=4 --set "optim.max_steps=$STEPS")
export L2FACE_FAULT="train.slow_step=120"   # every step waits 120 ms: a run takes a few seconds

# shrink
kill_at=$((3 + RANDOM % 8))
supervise shrink "$A1,$A2,$A3" --min-hosts 2 -- train "${common[@]}" "${paced[@]}"
wait_step shrink "$kill_at" || fail "shrink: did not reach step $kill_at"
kill_host 3; echo "$EPOCHREALTIME" > "$WORK/shrink.killed"
echo "shrink: host 3 killed at step $kill_at"
wait_rc shrink 0
revive_host 3

# spare
kill_at=$((3 + RANDOM % 8))
supervise spare "$A1,$A2,$A3" --spares "$A4" --min-hosts 2 -- train "${common[@]}" "${paced[@]}"
wait_step spare "$kill_at" || fail "spare: did not reach step $kill_at"
kill_host 3; echo "$EPOCHREALTIME" > "$WORK/spare.killed"
echo "spare: host 3 killed at step $kill_at"
wait_rc spare 0
revive_host 3

# grow: host 3 comes back once the shrunk run has made a step.
kill_at=$((3 + RANDOM % 5))
supervise grow "$A1,$A2,$A3" --min-hosts 2 -- train "${common[@]}" "${paced[@]}"
wait_step grow "$kill_at" || fail "grow: did not reach step $kill_at"
kill_host 3; echo "$EPOCHREALTIME" > "$WORK/grow.killed"
echo "grow: host 3 killed at step $kill_at"
for _ in $(seq 1 600); do grep -q '"event":"first_step","reason":"failure"' "$WORK/grow/elastic.jsonl" 2>/dev/null && break; sleep 0.1; done
revive_host 3; echo "$EPOCHREALTIME" > "$WORK/grow.revived"
wait_rc grow 0

# min-hosts
supervise minhosts "$A1,$A2,$A3" --min-hosts 3 -- train "${common[@]}" "${paced[@]}"
wait_step minhosts 6 || fail "min-hosts: did not reach step 6"
kill_host 3
wait_rc minhosts 69
revive_host 3
grep -q "fewer than --min-hosts 3" "$WORK/minhosts.out" || fail "min-hosts: no message"

# max-restarts: rank 1 crashes at step 6 on every run.
L2FACE_FAULT="train.slow_step=120,train.crash@rank1@step6" \
  supervise maxrestarts "$A1,$A2" --max-restarts 1 -- train "${common[@]}" "${paced[@]}"
wait_rc maxrestarts 70
grep -q -- "--max-restarts 1 restart(s) are used up" "$WORK/maxrestarts.out" || fail "max-restarts: no message"

# indivisible: global batch 8 on 4 hosts; 3 survivors cannot split it.
supervise indivisible "$A1,$A2,$A3,$A4" --min-hosts 2 -- train "${common[@]}" \
  --set data.batch_size=2 --set "optim.max_steps=$STEPS"
wait_step indivisible 6 || fail "indivisible: did not reach step 6"
kill_host 4
wait_rc indivisible 2
revive_host 4
grep -q "refused its configuration" "$WORK/indivisible.out" || fail "indivisible: no supervisor message"

for p in ref shrink spare grow; do
  "$L2FACE" embed --checkpoint "$WORK/$p" --images "$WORK/corpus/eval" --out "$WORK/$p.csv" \
    --features "$WORK/$p.npy" > /dev/null || fail "embed $p"
done
for p in minhosts indivisible; do  # the newest checkpoint a stopped supervisor leaves loads
  "$L2FACE" embed --checkpoint "$WORK/$p" --images "$WORK/corpus/eval" --out "$WORK/$p.csv" \
    > /dev/null || fail "$p: the newest checkpoint does not load"
  ! ls -d "$WORK/$p"/checkpoints/*.tmp 2>/dev/null || fail "$p: a .tmp checkpoint is left"
done

"$PY" - "$WORK" "$STEPS" <<'PY' || fail "the elastic runs are not as expected"
import json, sys, numpy as np
w, steps = sys.argv[1], int(sys.argv[2])
def events(name):
    return [json.loads(l) for l in open(f"{w}/{name}/elastic.jsonl")]
ref = np.load(f"{w}/ref.npy")
assert np.abs(ref).max() > 1e-3
every = 4
rows = []
for name, want in (("shrink", ["start", "failure"]), ("spare", ["start", "failure"]),
                   ("grow", ["start", "failure", "resize"])):
    ev = events(name)
    launches = [e for e in ev if e["event"] == "launch"]
    firsts = [e for e in ev if e["event"] == "first_step"]
    assert [e["reason"] for e in launches] == want, launches
    assert ev[-1]["event"] == "done", ev[-1]
    host = lambda i: f"{launches[0]['hosts'][0].rsplit('.', 1)[0]}.{i}"
    fail_launch = launches[1]
    assert fail_launch["lost_hosts"] == [host(3)], fail_launch
    lost = fail_launch["steps_lost"]
    assert 0 <= lost <= every + 2, fail_launch                   # interval + commit lag
    killed = float(open(f"{w}/{name}.killed").read())
    first = [e for e in firsts if e["reason"] == "failure"][0]
    kill_to_first = first["step_time"] - killed
    if name == "shrink":
        assert fail_launch["hosts"] == [host(1), host(2)] and fail_launch["world_size"] == 2
        assert (first["batch_per_rank"], first["accumulate_steps"]) == (3, 2), first
    if name == "spare":
        assert fail_launch["hosts"] == [host(1), host(2), host(4)], fail_launch
        assert fail_launch["added_hosts"] == [host(4)], fail_launch
        assert (first["batch_per_rank"], first["accumulate_steps"]) == (4, 1), first
    if name == "grow":
        grow = launches[2]
        assert grow["added_hosts"] == [host(3)] and grow["world_size"] == 3, grow
        assert grow["steps_lost"] == 0, grow                       # a checkpoint at the boundary
        gfirst = [e for e in firsts if e["reason"] == "resize"][0]
        assert (gfirst["batch_per_rank"], gfirst["accumulate_steps"]) == (4, 1), gfirst
        revived = float(open(f"{w}/grow.revived").read())
        resize_row = ("grow-back", grow["checkpoint_step"], grow["steps_lost"],
                      gfirst["seconds_from_failure"], gfirst["step_time"] - revived)
    assert all(f["global_batch"] == 12 for f in firsts), firsts
    s = json.load(open(f"{w}/{name}/summary.json"))
    assert s["steps"] == steps and s["restarts"] == 1, s
    f = np.load(f"{w}/{name}.npy")
    rel = float(np.abs(f - ref).max() / np.abs(ref).max())
    rows.append((name, fail_launch["checkpoint_step"], lost, first["seconds_from_failure"],
                 kill_to_first, rel, s["world_size"]))
    assert rel < 1e-6, (name, rel)
print("run     resumed-from  steps-lost  noticed->first-step(s)  kill->first-step(s)  final-ranks  embedding-gap")
for n, c, l, nf, kf, rel, ws in rows:
    print(f"{n:8s}{c:>12d}{l:>12d}{nf:>24.2f}{kf:>21.2f}{ws:>13d}{rel:>15.2e}")
n, c, l, nf, rf = resize_row
print(f"grow, the resize: host back -> first step of the 3-rank run {rf:.2f} s (resize noticed -> first"
      f" step {nf:.2f} s), resumed from the step-{c} checkpoint the resize saved, {l} steps lost")
ev = events("maxrestarts")
launches = [e for e in ev if e["event"] == "launch"]
assert [e["reason"] for e in launches] == ["start", "failure"] and launches[1]["lost_hosts"] == []
assert ev[-1]["event"] == "stop" and ev[-1]["exit"] == 70, ev[-1]
for name, code in (("minhosts", 69), ("indivisible", 2)):
    stop = events(name)[-1]
    assert stop["event"] == "stop" and stop["exit"] == code, stop
print("stops: min-hosts exit 69, max-restarts exit 70, indivisible exit 2")
PY
grep -q "cannot be split\|not divisible" "$WORK/indivisible.out" || fail "indivisible: l2face's message names no options"
echo "cluster elastic ok"
