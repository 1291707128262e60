#!/usr/bin/env bash
# e2e (label mpi): launch/l2face-run builds the mpirun command from hosts, ranks per node, binding
# and the environment (dry runs, as root and as an unprivileged user), refuses bad arguments, and
# really launches a 2-rank `l2face doctor` whose ranks agree (also with local ranks found by MPI's
# shared-memory split), and then a failing one (exit 4).
# Usage: launch_run.sh L2FACE WORK SRC
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"
RUN="$SRC/launch/l2face-run"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
rm -rf "$WORK"; mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
has() { [[ " $1 " == *" $2 "* ]] || fail "expected '$2' in: $1"; }
hasnt() { [[ " $1 " != *" $2 "* ]] || fail "did not expect '$2' in: $1"; }

# 1. Dry runs: the command line, word by word.
export NCCL_DEBUG=WARN NCCL_SOCKET_IFNAME=eth0 L2FACE_JOB_TOKEN=secret L2FACE_RANK=5 L2FACE_GPU=1
unset OMP_NUM_THREADS
out=$("$RUN" --hosts node1:4,node2:4 --ranks-per-node 4 --l2face "$L2FACE" --dry-run -- \
  train --config "my config.yaml" --resume auto)
echo "$out"
cores=$(nproc); per=$((cores / 4)); [ "$per" -ge 1 ] || per=1
[[ "$out" == "mpirun -np 8 --host node1:4,node2:4 --map-by ppr:4:node --bind-to none "* ]] \
  || fail "unexpected start: $out"
has "$out" "--allow-run-as-root"               # this test runs as root (CI does)
has "$out" "-x NCCL_DEBUG"
has "$out" "-x NCCL_SOCKET_IFNAME"
has "$out" "-x L2FACE_JOB_TOKEN"
hasnt "$out" "secret"                           # values travel in the environment, not argv
hasnt "$out" "-x L2FACE_RANK"                   # per-rank variables are never broadcast
hasnt "$out" "-x L2FACE_GPU"
has "$out" "-x OMP_NUM_THREADS=$per"
[[ "$out" == *" $L2FACE train --config 'my config.yaml' --resume auto" ]] || fail "args: $out"

printf 'n1 slots=2\n# a comment\n\nn2 slots=2 max_slots=4\nn3 slots=2\n' > "$WORK/hosts.txt"
out=$(OMP_NUM_THREADS=3 LD_LIBRARY_PATH=/opt/x "$RUN" --hostfile "$WORK/hosts.txt" --bind numa \
  --mca btl_tcp_if_include eth0 --mpirun-arg --oversubscribe --l2face "$L2FACE" --dry-run doctor)
echo "$out"
has "$out" "-np 6 --hostfile $WORK/hosts.txt --bind-to numa"
has "$out" "-x OMP_NUM_THREADS"
hasnt "$out" "-x OMP_NUM_THREADS=1"
has "$out" "-x LD_LIBRARY_PATH"
has "$out" "--mca btl_tcp_if_include eth0 --oversubscribe $L2FACE doctor"
hasnt "$out" "--map-by"

out=$("$RUN" --hosts a:8 --ranks-per-node 2 --bind core --l2face "$L2FACE" --dry-run doctor)
has "$out" "--map-by ppr:2:node:PE=$(( cores / 2 >= 1 ? cores / 2 : 1 )) --bind-to core"
out=$("$RUN" --np 3 --l2face "$L2FACE" --dry-run doctor)
has "$out" "mpirun -np 3 --bind-to none"

# Not root: no --allow-run-as-root (setpriv drops to nobody for the dry run only).
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
  out=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$RUN" --np 2 --l2face "$L2FACE" --dry-run doctor)
  hasnt "$out" "--allow-run-as-root"
fi

# Usage errors: exit 2 with a message.
for bad in "--bind socket -- doctor" "--hosts a:x -- doctor" "--ranks-per-node 0 -- doctor" \
           "--hosts a --hostfile $WORK/hosts.txt -- doctor" "--frobnicate -- doctor" "--np 2"; do
  set +e; msg=$("$RUN" --l2face "$L2FACE" $bad 2>&1 >/dev/null); rc=$?; set -e
  [ "$rc" -eq 2 ] || fail "'$bad' exited $rc, expected 2"
  [[ "$msg" == l2face-run:* ]] || fail "'$bad' printed no message: $msg"
done

# 2. A real 2-rank doctor through l2face-run: both ranks report, rank 0 prints the summary.
unset L2FACE_RANK L2FACE_GPU L2FACE_JOB_TOKEN
export OMPI_MCA_mpi_yield_when_idle=1
"$RUN" --hosts localhost:2 --l2face "$L2FACE" -- doctor --run-dir "$WORK/run" --port 0 \
  --json "$WORK/doctor.json" > "$WORK/doctor.out" 2> "$WORK/doctor.err" \
  || { cat "$WORK/doctor.out" "$WORK/doctor.err"; fail "2-rank doctor failed"; }
cat "$WORK/doctor.out"
grep -q "^l2face-run: mpirun -np 2 --host localhost:2 " "$WORK/doctor.err" || fail "command not printed"
grep -q "doctor: OK (2 rank(s)" "$WORK/doctor.out" || fail "no OK summary"
"$PY" - "$WORK/doctor.json" "$WORK/run" "$(( cores / 2 >= 1 ? cores / 2 : 1 ))" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
assert d["ok"] and d["problems"] == [], d["problems"]
ranks = d["ranks"]
assert [r["rank"] for r in ranks] == [0, 1], ranks
for r in ranks:
    assert r["world_size"] == 2 and r["source"] == "mpi", r
    assert r["local_size"] == 2 and r["local_source"] == "OMPI_COMM_WORLD_LOCAL_*", r
    assert r["backend"] == "mpi" and r["channel"] == "mpi", r
    assert r["run_dir"]["writable"] and r["run_dir"]["shared"] is True, r["run_dir"]
    assert r["variables"]["OMP_NUM_THREADS"] == sys.argv[3], r["variables"]  # cores / 2 ranks
assert sorted(r["local_rank"] for r in ranks) == [0, 1]
assert len({r["pid"] for r in ranks}) == 2
# The probe and marker files are gone again, and so is the run directory doctor had to create.
assert not os.path.exists(sys.argv[2]), os.listdir(sys.argv[2])
PY

# Without mpirun's local-rank variables, the ranks sharing a node come from MPI itself.
mpirun -np 2 --allow-run-as-root --oversubscribe env -u OMPI_COMM_WORLD_LOCAL_RANK \
  -u OMPI_COMM_WORLD_LOCAL_SIZE "$L2FACE" doctor --port 0 --json "$WORK/split.json" > "$WORK/split.out"
"$PY" -c "
import json; d = json.load(open('$WORK/split.json'))
assert d['ok'], d['problems']
assert [(r['local_rank'], r['local_size'], r['local_source']) for r in d['ranks']] == \
    [(0, 2, 'mpi (shared-memory split)'), (1, 2, 'mpi (shared-memory split)')], d['ranks']"

# 3. The same launch with rank 1's metrics port taken: both ranks agree, exit 4.
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PY" -c "
import socket, sys, time
s = socket.socket(); s.bind(('127.0.0.1', $PORT + 1)); s.listen(1)
open('$WORK/holder.ready', 'w').close(); time.sleep(60)" &
holder=$!
trap 'kill $holder 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -f "$WORK/holder.ready" ] && break; sleep 0.1; done
set +e
"$RUN" --hosts localhost:2 --l2face "$L2FACE" -- doctor --run-dir "$WORK/run" --port "$PORT" \
  --json "$WORK/busy.json" > "$WORK/busy.out" 2>&1
rc=$?
set -e
[ "$rc" -eq 4 ] || { cat "$WORK/busy.out"; fail "busy port: exit $rc, expected 4"; }
grep -q "problem: rank 1 (.*): metrics port $((PORT + 1)) on 127.0.0.1 is in use" "$WORK/busy.out" \
  || { cat "$WORK/busy.out"; fail "the busy port is not named"; }
"$PY" -c "
import json; d = json.load(open('$WORK/busy.json'))
assert not d['ok'] and len(d['problems']) == 1, d['problems']
assert [r['port']['free'] for r in d['ranks']] == [True, False], d['ranks']"
echo "e2e launch_run ok"
