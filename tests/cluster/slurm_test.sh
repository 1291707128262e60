#!/usr/bin/env bash
# cluster (label slurm): a real one-node SLURM cluster on this machine (munged, slurmctld, slurmd
# in the foreground, state in a temporary folder). `l2face doctor` under srun --mpi=pmix finds 2
# ranks with local ranks from SLURM, and the batch shell itself is one process. Then
# cluster/slurm/train.sbatch runs with 2 ranks (srun --mpi=pmix) on a tiny synthetic corpus:
#   1. to completion: exit 0, checkpoint and summary in the run directory, the Prometheus file_sd
#      file names host:(monitoring.port + local rank) and each target serves that rank's metrics;
#   2. preempted: `scancel --signal=USR1` while it trains; the log shows exit 75 and the requeue,
#      the preemption checkpoint is in the run directory while the job waits, and the requeued job
#      resumes from it (its first progress line is past that step) and completes;
#   3. cancelled with a plain scancel: the job ends CANCELLED and is not requeued;
#   4. elastic (L2FACE_ELASTIC=1, sbatch --no-kill): launch/l2face-elastic runs the ranks with srun;
#      one rank is killed (SIGKILL) after the checkpoint of step 10; srun ends the step, the
#      supervisor finds the node healthy (`l2face doctor` in an srun step), restarts on it from the
#      checkpoint and the job completes; RUN_DIR/elastic.jsonl records both runs.
# Needs root and the slurm-wlm, munge packages (scripts/bootstrap.sh); exits 77 (skipped) with the
# reason when they or the daemons cannot run here.
# Usage: slurm_test.sh L2FACE WORK SRC
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
SKIP=77
skip() { echo "SKIP: $*"; exit "$SKIP"; }

[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd and munged run as root here)"
for c in munged slurmctld slurmd sbatch srun scontrol scancel sinfo; do
  command -v "$c" >/dev/null || skip "$c is not installed (scripts/bootstrap.sh installs slurm-wlm and munge)"
done
[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs for 2 tasks, this machine has $(nproc)"

rm -rf "$WORK"; mkdir -p "$WORK"
T=$(mktemp -d /tmp/l2face-slurm.XXXXXX)   # short: it holds the munge socket path
daemons=()
export SLURM_CONF="$T/slurm.conf"
dump() {
  echo "---- slurmctld log"; tail -n 30 "$T/slurmctld.log" 2>/dev/null || true
  echo "---- slurmd log"; tail -n 30 "$T/slurmd.log" 2>/dev/null || true
  for f in "$WORK"/*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 60 "$f"; }; done
}
fail() { echo "FAIL: $*" >&2; dump >&2; exit 1; }
cleanup() {
  # Jobs first (their ranks are our children's children), then the daemons we started.
  if [ -f "$SLURM_CONF" ] && [ "${#daemons[@]}" -gt 0 ]; then
    scancel --full --quiet --user=root 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  for p in "${daemons[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${daemons[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# 1. munge, with its own key and socket.
dd if=/dev/urandom of="$T/munge.key" bs=1024 count=1 status=none
chmod 600 "$T/munge.key"
munged -F --force --key-file="$T/munge.key" --socket="$T/munge.sock" --pid-file="$T/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munged.seed" > "$T/munged.out" 2>&1 &
daemons+=($!)
for _ in $(seq 50); do [ -S "$T/munge.sock" ] && break; sleep 0.1; done
[ -S "$T/munge.sock" ] || skip "munged did not start: $(tail -n 3 "$T/munged.out")"

# 2. slurmctld and slurmd for one node with this machine's CPUs.
# Ports below the kernel's ephemeral range, so that no outgoing connection of another process
# takes one while the jobs run (the metrics port and port + 1 must stay free between jobs).
read -r CTLD_PORT SLURMD_PORT PORT < <("$PY" -c '
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("0.0.0.0", p)); return True
    except OSError:
        return False
    finally:
        s.close()
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
while True:
    base = random.randrange(20000, lo - 8, 4)
    if all(free(base + i) for i in range(4)):
        print(base, base + 1, base + 2)
        break')
HOST=$(hostname)
mkdir -p "$T/state" "$T/spool"
cat > "$SLURM_CONF" <<EOF
ClusterName=l2facetest
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket=$T/munge.sock,cred_expire=10
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmix
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
KillWait=10
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -f "$SLURM_CONF" > "$T/slurmctld.out" 2>&1 &
daemons+=($!)
slurmd -D -f "$SLURM_CONF" > "$T/slurmd.out" 2>&1 &
daemons+=($!)
state=""
for _ in $(seq 150); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "$state" = idle ] || skip "the SLURM node did not become idle (state '$state'): $(tail -n 5 "$T/slurmctld.log" "$T/slurmd.log" 2>/dev/null | tr '\n' ' ')"
srun --mpi=list 2>&1 | grep -q pmix || skip "this SLURM has no PMIx plugin (srun --mpi=list)"
echo "slurm is up: node $HOST idle, slurmctld :$CTLD_PORT, slurmd :$SLURMD_PORT"

# 3. What the ranks of an srun step see, and what the batch shell itself is (one process).
cat > "$WORK/doctor.sh" <<EOF
#!/usr/bin/env bash
"$L2FACE" doctor --port 0 --json "$WORK/doctor_batch.json" > /dev/null
srun --mpi=pmix "$L2FACE" doctor --run-dir "$WORK/doctor_run" --port 0 --json "$WORK/doctor.json"
EOF
D=$(sbatch --parsable --output="$WORK/doctor.out" --ntasks=2 --cpus-per-task=1 "$WORK/doctor.sh")
for _ in $(seq 300); do
  s=$({ scontrol show job "$D" -o 2>/dev/null || true; } | grep -o "JobState=[A-Z]*" || true)
  case "$s" in JobState=COMPLETED|JobState=FAILED|JobState=CANCELLED) break ;; esac
  sleep 0.2
done
[ "$s" = JobState=COMPLETED ] || fail "the doctor job ended as '$s'"
"$PY" - "$WORK/doctor.json" "$WORK/doctor_batch.json" <<'PY' || fail "srun doctor reports"
import json, os, sys
d, batch = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert d["ok"], d["problems"]
cores = os.cpu_count()
for r in d["ranks"]:
    assert (r["world_size"], r["source"], r["backend"]) == (2, "mpi", "mpi"), r
    assert (r["local_size"], r["local_source"]) == (2, "SLURM_LOCALID"), r
    assert r["threads"]["per_rank"] == max(1, cores // 2), r["threads"]   # cores / local ranks
    assert r["variables"]["SLURM_STEP_ID"] == "0", r["variables"]
assert sorted(r["local_rank"] for r in d["ranks"]) == [0, 1]
# The batch script carries SLURM_PROCID=0 and SLURM_NTASKS=2 but is no rank of the job.
b = batch["ranks"][0]
assert (b["world_size"], b["source"]) == (1, "default (one process)"), b
assert b["variables"]["SLURM_NTASKS"] == "2", b["variables"]
print("srun --mpi=pmix doctor: 2 ranks, local ranks from SLURM_LOCALID; the batch shell is 1 process")
PY

"$L2FACE" train --help | grep -q -- "--resume" \
  || skip "this l2face train has no --resume option yet (train.sbatch runs 'l2face train --resume auto'): the training cases need it"

# 4. A tiny corpus and configuration; the job runs the real script.
"$L2FACE" synth --out "$WORK/corpus" --identities 8 --images-per-identity 6 --eval-identities 4 \
  --eval-images-per-identity 3 --folds 2 --pairs-per-fold 2 --size 32 --seed 3 --threads 2 >/dev/null
cat > "$WORK/train.yaml" <<EOF
run: {dir: $WORK/unused, seed: 3, device: cpu}
data: {train: $WORK/corpus/train, batch_size: 4, workers: 1, image_size: 32}
model: {backbone: tiny, embedding_dim: 16, width: 8}
optim: {lr: 0.05, max_steps: 40, warmup_steps: 0}
checkpoint: {every_steps: 20, keep_last: 3}
monitoring: {log_every: 10}
EOF
export L2FACE_BIN="$L2FACE" L2FACE_CONFIG="$WORK/train.yaml" L2FACE_METRICS_PORT="$PORT"
export L2FACE_TARGETS_DIR="$WORK/targets" OMPI_MCA_mpi_yield_when_idle=1
SUBMIT_OPTS=()   # more sbatch options for submit
submit() {  # submit NAME [l2face train args]: prints the job id
  local name="$1"; shift
  L2FACE_RUN_DIR="$WORK/$name" sbatch --parsable --job-name="$name" --chdir="$WORK" \
    --output="$WORK/$name.out" --nodes=1 --ntasks-per-node=2 --gpus-per-node=0 \
    --cpus-per-task=1 --time=10 "${SUBMIT_OPTS[@]}" "$SRC/cluster/slurm/train.sbatch" "$@"
}
field() { { scontrol show job "$1" -o 2>/dev/null || true; } | tr ' ' '\n' | sed -n "s/^$2=//p"; }
wait_state() {  # wait_state JOB STATE SECONDS
  local s=""
  for _ in $(seq $(($3 * 5))); do
    s=$(field "$1" JobState)
    [ "$s" = "$2" ] && return 0
    case "$s" in FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE)
      [ "$2" != "$s" ] && fail "job $1 is $s, waiting for $2 (exit $(field "$1" ExitCode))" ;;
    esac
    sleep 0.2
  done
  fail "job $1 still $s after $3 s, waiting for $2"
}
# The targets file lists host:(port + local rank); each target serves that rank's metrics.
check_targets() {  # check_targets JOB
  "$PY" - "$WORK/targets/l2face_slurm_$1.json" "$HOST" "$PORT" "$1" <<'PY'
import json, re, sys, time, urllib.request
path, host, port, job = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
sd = json.load(open(path))
assert sd == [{"targets": [f"{host}:{port}", f"{host}:{port + 1}"],
               "labels": {"slurm_job_id": job, "slurm_job_name": sd[0]["labels"]["slurm_job_name"]}}], sd
def scrape(target):  # the machine may be busy: a few tries
    for attempt in range(5):
        try:
            return urllib.request.urlopen(f"http://{target}/metrics", timeout=10).read().decode()
        except OSError:
            if attempt == 4:
                raise
            time.sleep(1)
for local_rank, target in enumerate(sd[0]["targets"]):
    text = scrape(target)
    ranks = set(re.findall(r'^l2face_steps_total\{[^}]*rank="(\d+)"', text, re.M))
    assert ranks == {str(local_rank)}, (target, ranks)   # one node: rank = local rank
print("targets ok:", sd[0]["targets"])
PY
}

# 5. Completion.
t0=$(date +%s)
A=$(submit complete)
wait_state "$A" COMPLETED 180
[ "$(field "$A" ExitCode)" = "0:0" ] || fail "job $A exit code $(field "$A" ExitCode)"
grep -q "l2face exited with code 0" "$WORK/complete.out" || fail "no clean exit in the log"
grep -q "srun --mpi=pmix" "$WORK/complete.out" || fail "the ranks were not started by srun --mpi=pmix"
[ ! -e "$WORK/targets/l2face_slurm_$A.json" ] || fail "the targets file was not removed"
"$PY" - "$WORK/complete" <<'PY' || fail "the completed run's directory is not as expected"
import json, os, sys
run = sys.argv[1]
s = json.load(open(os.path.join(run, "summary.json")))
assert s["steps"] == 40 and s["world_size"] == 2, s
latest = open(os.path.join(run, "checkpoints", "LATEST")).read().strip()
assert latest == "step_40", latest
assert os.path.isfile(os.path.join(run, "checkpoints", latest, "manifest.json"))
print("completed job: steps", s["steps"], "world", s["world_size"], "checkpoint", latest)
PY
echo "completion case: $(($(date +%s) - t0)) s"

# 6. Preemption: USR1 while training, checkpoint + exit 75 + requeue, resume, completion. The first
# run is configured never to finish (max_steps 10^6, in its own config file): however fast this
# machine trains, it is still training when the signal comes. While the requeued job is held,
# max_steps becomes the checkpoint's step + 50 (optim keys may change on resume), so the resumed
# run ends soon.
t0=$(date +%s)
sed 's/max_steps: 40/max_steps: 1000000/' "$WORK/train.yaml" > "$WORK/preempt.yaml"
B=$(L2FACE_CONFIG="$WORK/preempt.yaml" submit preempt --set checkpoint.every_steps=0)
wait_state "$B" RUNNING 60
# The live step of job NAME: the last line rank 0 flushed to RUN_DIR/train_log.jsonl (the job log
# lags: the ranks' standard output is buffered).
live_step() {  # live_step NAME
  { tail -n 1 "$WORK/$1/train_log.jsonl" 2>/dev/null || true; } | sed -n 's/.*"step":\([0-9]*\).*/\1/p'
}
for _ in $(seq 300); do s=$(live_step preempt); [ -n "$s" ] && [ "$s" -ge 20 ] && break; sleep 0.2; done
[ -n "$s" ] && [ "$s" -ge 20 ] || fail "training did not reach step 20 ($WORK/preempt/train_log.jsonl)"
check_targets "$B" || fail "the Prometheus targets file or a target's metrics are wrong (ranks bound: $(cat "$WORK"/preempt/metrics/rank*.addr 2>/dev/null | tr '\n' ' '))"
echo "preempting job $B at step $(live_step preempt)"
scancel --signal=USR1 "$B"
for _ in $(seq 300); do grep -q "l2face exited with code" "$WORK/preempt.out" && break; sleep 0.2; done
sleep 1   # the requeue line follows the exit line
grep -q "l2face exited with code 75" "$WORK/preempt.out" \
  || fail "after USR1 the ranks did not exit with 75 (checkpointed, requeue me): $(grep 'l2face exited' "$WORK/preempt.out")"
grep -q "requeueing job $B" "$WORK/preempt.out" || fail "the script did not requeue the job"
# While the requeued job waits: the preemption checkpoint (the only one: every_steps is 0).
for _ in $(seq 100); do [ "$(field "$B" Restarts)" = 1 ] && break; sleep 0.2; done
[ "$(field "$B" Restarts)" = 1 ] || fail "job $B was not requeued (Restarts=$(field "$B" Restarts))"
scontrol hold "$B" || fail "cannot hold the requeued job $B (state $(field "$B" JobState))"
K=$(sed -n 's/^step_\([0-9]*\)$/\1/p' "$WORK/preempt/checkpoints/LATEST" 2>/dev/null || true)
[ -n "$K" ] || fail "no checkpoint in $WORK/preempt after the preemption"
[ "$K" -ge 20 ] || fail "preemption checkpoint step_$K, expected step 20 or later"
[ -f "$WORK/preempt/checkpoints/step_$K/manifest.json" ] || fail "step_$K has no manifest"
STEPS=$((K + 50))
sed -i "s/max_steps: 1000000/max_steps: $STEPS/" "$WORK/preempt.yaml"
scontrol release "$B"
echo "preempted at step $K; requeued to finish at step $STEPS"
wait_state "$B" COMPLETED 300
[ "$(field "$B" ExitCode)" = "0:0" ] || fail "requeued job exit code $(field "$B" ExitCode)"
"$PY" - "$WORK/preempt" "$WORK/preempt.out" "$K" "$STEPS" <<'PY' || fail "the requeued job did not resume from step_$K and complete"
import json, os, re, sys
run, log, k, steps = sys.argv[1], open(sys.argv[2]).read(), int(sys.argv[3]), int(sys.argv[4])
s = json.load(open(os.path.join(run, "summary.json")))
assert s["steps"] == steps and s["world_size"] == 2, s
assert open(os.path.join(run, "checkpoints", "LATEST")).read().strip() == f"step_{steps}"
# Two runs appended to one log (--open-mode=append); the second resumed past the checkpoint.
first, sep, second = log.partition("(restart 1)")
assert sep, "no second run in the log"
assert "exited with code 75" in first and "exited with code 0" in second, log[-2000:]
resumed = [int(m) for m in re.findall(rf"step (\d+)/{steps}", second)]
assert resumed and resumed[0] > k, (k, resumed[:3])    # a fresh start would print step 10 first
print(f"resumed from step {k}: first progress line at step {resumed[0]}, finished at {steps}")
PY
echo "preemption case: $(($(date +%s) - t0)) s"

# 7. A plain scancel (SIGTERM to the ranks and the batch shell) cancels: no requeue.
t0=$(date +%s)
C=$(submit cancel --set optim.max_steps=1000000 --set checkpoint.every_steps=0)   # never finishes
wait_state "$C" RUNNING 60
for _ in $(seq 300); do s=$(live_step cancel); [ -n "$s" ] && [ "$s" -ge 20 ] && break; sleep 0.2; done
[ -n "$s" ] || fail "job $C is not training"
scancel "$C"
for _ in $(seq 150); do [ "$(field "$C" JobState)" = CANCELLED ] && break; sleep 0.2; done
sleep 3   # a requeue would show by now
[ "$(field "$C" JobState)" = CANCELLED ] || fail "after scancel job $C is $(field "$C" JobState), expected CANCELLED"
[ "$(field "$C" Restarts)" = 0 ] || fail "a cancelled job was requeued"
if grep -q "requeueing" "$WORK/cancel.out"; then fail "the script tried to requeue a cancelled job"; fi
echo "cancel case: $(($(date +%s) - t0)) s"

# 8. Elastic: a rank dies; the supervisor checks the node, restarts on it and the job completes.
# Every step waits 150 ms (train.slow_step), so the first run is still training when its rank is
# killed after the checkpoint of step 10.
"$L2FACE" train --help | grep -q -- "--keep-global-batch" \
  || skip "this l2face train has no --keep-global-batch yet (l2face-elastic passes it): the elastic case needs it; the other cases passed"
t0=$(date +%s)
SUBMIT_OPTS=(--no-kill)   # a node failure must not end the allocation (docs/operations.md)
E=$(L2FACE_ELASTIC=1 L2FACE_ELASTIC_BIN="$SRC/launch/l2face-elastic" L2FACE_FAULT=train.slow_step=150 \
    L2FACE_MAX_RESTARTS=1 L2FACE_HEALTH_TIMEOUT=60 \
    submit elastic --set checkpoint.every_steps=10 --set monitoring.log_every=5)
SUBMIT_OPTS=()
wait_state "$E" RUNNING 60
ckpt=""
for _ in $(seq 300); do
  ckpt=$(cat "$WORK/elastic/checkpoints/LATEST" 2>/dev/null || true)
  [ -n "$ckpt" ] && break
  sleep 0.2
done
[ -n "$ckpt" ] || fail "the elastic run saved no checkpoint ($WORK/elastic/checkpoints/LATEST)"
check_targets "$E" || fail "elastic mode: the Prometheus targets file or a target's metrics are wrong"
# The ranks: the processes of this run's l2face (the supervisor and srun name the run too).
ranks=()
for p in $(pgrep -f -- "run.dir=$WORK/elastic" || true); do
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = l2face ] && ranks+=("$p")
done
[ "${#ranks[@]}" -eq 2 ] || fail "expected 2 ranks of the elastic run, found ${#ranks[@]}: ${ranks[*]}"
echo "killing rank process ${ranks[1]} of job $E at step $(live_step elastic)"
kill -9 "${ranks[1]}"
wait_state "$E" COMPLETED 120
[ "$(field "$E" ExitCode)" = "0:0" ] || fail "elastic job exit code $(field "$E" ExitCode)"
grep -q "l2face-elastic exited with code 0" "$WORK/elastic.out" || fail "the supervisor did not exit 0"
[ ! -e "$WORK/targets/l2face_slurm_$E.json" ] || fail "the elastic job's targets file was not removed"
"$PY" - "$WORK/elastic" "$HOST" <<'PY' || fail "the elastic run's events or results are not as expected"
import json, os, sys
run, host = sys.argv[1], sys.argv[2]
events = [json.loads(l) for l in open(os.path.join(run, "elastic.jsonl"))]
launches = [e for e in events if e["event"] == "launch"]
assert [e["reason"] for e in launches] == ["start", "failure"], events
first, second = launches
assert first["hosts"] == [host] and first["world_size"] == 2 and first["restarts"] == 0, first
# The node passed its health check: the job restarts on it, from the checkpoint of step 10 or later.
assert second["hosts"] == [host] and second["lost_hosts"] == [] and second["world_size"] == 2, second
assert second["restarts"] == 1 and second["checkpoint_step"] >= 10, second
assert events[-1]["event"] == "done" and events[-1]["exit"] == 0 and events[-1]["restarts"] == 1, events[-1]
s = json.load(open(os.path.join(run, "summary.json")))
assert s["steps"] == 40 and s["world_size"] == 2, s
assert s["resumed_from_step"] == second["checkpoint_step"], (s["resumed_from_step"], second)
assert s["restarts"] == 1, s     # L2FACE_RESTARTS reached the ranks of the second run
print(f"elastic: restarted once on {host} from step {second['checkpoint_step']}, finished at step {s['steps']}")
PY
echo "elastic case: $(($(date +%s) - t0)) s"
echo "cluster slurm ok"
