#!/usr/bin/env bash
# cluster (label netns): two "hosts" on this machine, each a network namespace (and UTS namespace:
# its own host name) joined by a veth pair on a private 10.x subnet. Loopback is up in each (a
# process reaches its own address through it) but has no 127.0.0.1 or ::1, so nothing can use
# loopback addresses. Across them:
#   1. `l2face doctor` started once per host with L2FACE_* variables meets through rank 0's TCP
#      store at the 10.x address: both reports arrive, each host sees only its own 10.x address;
#   2. `l2face doctor` and a 2-step `l2face train` through launch/l2face-run, mpirun reaching the
#      second host with an rsh agent that enters its namespace: one rank per host, both ranks in
#      the run.
# Needs root and `ip netns`; exits 77 (skipped) with the reason where namespaces cannot be made.
# Usage: netns_test.sh L2FACE WORK SRC
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
SKIP=77
skip() { echo "SKIP: $*"; exit "$SKIP"; }
fail() { echo "FAIL: $*" >&2; for f in "$WORK"/*.out; do [ -f "$f" ] && { echo "---- $f"; tail -n 40 "$f"; }; done >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"
command -v unshare >/dev/null || skip "unshare (util-linux) is not installed"
command -v mpirun >/dev/null || skip "mpirun is not installed"

rm -rf "$WORK"; mkdir -p "$WORK"
tag="l2f$$"                                   # unique per run: parallel runs do not collide
NS_A="$tag-a" NS_B="$tag-b"
NET="10.$((200 + $$ % 50)).$(($$ / 50 % 250)).0"  # a private /24 nothing else here uses
ADDR_A="${NET%.0}.1" ADDR_B="${NET%.0}.2"
cleanup() {
  ip netns del "$NS_A" 2>/dev/null || true   # deleting a namespace deletes its veth end, and the pair
  ip netns del "$NS_B" 2>/dev/null || true
}
trap cleanup EXIT
ip netns add "$NS_A" 2>/dev/null || skip "cannot create network namespaces here (ip netns add failed)"
ip netns add "$NS_B" || skip "cannot create a second network namespace"
ip link add "$tag-va" type veth peer name "$tag-vb" 2>/dev/null || skip "cannot create a veth pair"
ip link set "$tag-va" netns "$NS_A"
ip link set "$tag-vb" netns "$NS_B"
ip -n "$NS_A" addr add "$ADDR_A/24" dev "$tag-va"
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$tag-vb"
for ns in "$NS_A" "$NS_B"; do
  ip -n "$ns" link set lo up
  ip -n "$ns" addr flush dev lo               # no 127.0.0.1, no ::1
done
ip -n "$NS_A" link set "$tag-va" up
ip -n "$NS_B" link set "$tag-vb" up
unshare --uts true 2>/dev/null || skip "cannot create UTS namespaces (unshare --uts)"
echo "hosts: $NS_A ($ADDR_A, host name $tag-host-a), $NS_B ($ADDR_B, host name $tag-host-b)"

# on NS NAME COMMAND...: COMMAND in network namespace NS with host name NAME.
on() { local ns="$1" name="$2"; shift 2; ip netns exec "$ns" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$name" "$@"; }
# The rsh agent mpirun uses for the other host: "agent [options] HOST COMMAND...".
cat > "$WORK/agent" <<EOF
#!/usr/bin/env bash
while [[ "\$1" == -* ]]; do shift; done
host="\$1"; shift
case "\$host" in
  $ADDR_A) ns=$NS_A name=$tag-host-a ;;
  $ADDR_B) ns=$NS_B name=$tag-host-b ;;
  *) echo "agent: unknown host \$host" >&2; exit 255 ;;
esac
echo "\$host" >> "$WORK/agent.log"
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$name; \$*"
EOF
chmod +x "$WORK/agent"

# Nothing answers on loopback addresses in either namespace.
for ns in "$NS_A" "$NS_B"; do
  ip netns exec "$ns" "$PY" -c '
import socket, sys
for fam, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam)
    try:
        s.bind((addr, 0))
    except OSError:
        continue
    sys.exit(f"{addr} is usable")' || fail "loopback addresses exist in $ns"
done

check_reports() {  # check_reports JSON CHANNEL_PREFIX EXPECTED_SOURCE
  "$PY" - "$1" "$2" "$3" "$ADDR_A" "$ADDR_B" "$tag" <<'PY'
import json, sys
path, channel, source, addr_a, addr_b, tag = sys.argv[1:]
d = json.load(open(path))
ranks = d["ranks"]
assert [r["rank"] for r in ranks] == [0, 1], [r["rank"] for r in ranks]
assert [r["host"] for r in ranks] == [f"{tag}-host-a", f"{tag}-host-b"], [r["host"] for r in ranks]
for r, own, other in ((ranks[0], addr_a, addr_b), (ranks[1], addr_b, addr_a)):
    assert r["world_size"] == 2 and r["source"] == source, r
    assert (r["local_rank"], r["local_size"]) == (0, 1), r      # one rank per host
    assert r["channel"].startswith(channel), r["channel"]
    addrs = [a for i in r["interfaces"] for a in i["addresses"]]
    assert own in addrs and other not in addrs, addrs            # really on its own host
    assert "127.0.0.1" not in addrs and "::1" not in addrs, addrs
    assert r["run_dir"]["writable"] and r["run_dir"]["shared"] is True, r["run_dir"]
print(f"{path}: ranks 0 and 1 on {ranks[0]['host']} and {ranks[1]['host']} via {ranks[0]['channel']}")
PY
}

# 1. Without MPI: the TCP store on rank 0's 10.x address.
store=(L2FACE_WORLD_SIZE=2 L2FACE_LOCAL_RANK=0 L2FACE_LOCAL_SIZE=1 L2FACE_MASTER_ADDR="$ADDR_A"
       L2FACE_MASTER_PORT=29411 L2FACE_JOB_TOKEN="token-$$")
doctor=(doctor --run-dir "$WORK/run" --timeout 60)
on "$NS_A" "$tag-host-a" env "${store[@]}" L2FACE_RANK=0 "$L2FACE" "${doctor[@]}" --bind "$ADDR_A" \
  --json "$WORK/store.json" > "$WORK/store0.out" 2>&1 &
r0=$!
set +e
on "$NS_B" "$tag-host-b" env "${store[@]}" L2FACE_RANK=1 "$L2FACE" "${doctor[@]}" --bind "$ADDR_B" \
  > "$WORK/store1.out" 2>&1
rc1=$?
wait "$r0"; rc0=$?
set -e
# On a machine without GPUs the store cannot carry training (only NCCL bootstraps through it):
# both ranks agree on exactly that problem. With GPUs the job is fine.
if "$PY" -c "import json,sys; d=json.load(open('$WORK/store.json')); sys.exit(0 if d['ranks'][0]['gpu']['devices'] else 1)" 2>/dev/null; then
  [ "$rc0" -eq 0 ] && [ "$rc1" -eq 0 ] || fail "store doctor: exit $rc0/$rc1 with GPUs"
else
  [ "$rc0" -eq 4 ] && [ "$rc1" -eq 4 ] || fail "store doctor: exit $rc0/$rc1, expected 4/4 (no backend without GPUs)"
  "$PY" -c "
import json; d = json.load(open('$WORK/store.json'))
assert len(d['problems']) == 2 and all('no communication backend' in p for p in d['problems']), d['problems']" \
    || fail "store doctor found other problems"
fi
check_reports "$WORK/store.json" "tcp store at $ADDR_A:" "L2FACE_*" || fail "store doctor reports"

# 2. mpirun from host a, reaching host b through the agent; MPI's traffic on the 10.x subnet.
# shellcheck disable=SC2054  # the comma separates hosts inside one argument
run=("$SRC/launch/l2face-run" --hosts "$ADDR_A:1,$ADDR_B:1" --l2face "$L2FACE"
     --mca plm_rsh_agent "$WORK/agent" --mca oob_tcp_if_include "$NET/24"
     --mca btl_tcp_if_include "$NET/24" --mca btl self,tcp)
on "$NS_A" "$tag-host-a" "${run[@]}" -- doctor --run-dir "$WORK/run" --bind 0.0.0.0 \
  --json "$WORK/mpi.json" > "$WORK/mpi_doctor.out" 2>&1 || fail "doctor through mpirun failed"
check_reports "$WORK/mpi.json" "mpi" "mpi" || fail "mpirun doctor reports"
grep -qx "$ADDR_B" "$WORK/agent.log" || fail "mpirun did not reach host b through the agent"

"$L2FACE" synth --out "$WORK/corpus" --identities 8 --images-per-identity 6 --eval-identities 4 \
  --eval-images-per-identity 3 --folds 2 --pairs-per-fold 2 --size 32 --seed 3 --threads 2 >/dev/null
on "$NS_A" "$tag-host-a" "${run[@]}" -- train --set data.train="$WORK/corpus/train" \
  --set data.image_size=32 --set data.batch_size=4 --set data.workers=1 --set model.width=8 \
  --set model.embedding_dim=16 --set optim.max_steps=2 --set optim.warmup_steps=0 \
  --set run.dir="$WORK/train" --set monitoring.bind=0.0.0.0 --set monitoring.port=0 \
  --set monitoring.log_every=1 > "$WORK/train.out" 2>&1 || fail "training across the hosts failed"
"$PY" - "$WORK/train" <<'PY' || fail "the training run is not as expected"
import json, os, sys
run = sys.argv[1]
s = json.load(open(os.path.join(run, "summary.json")))
assert s["world_size"] == 2 and s["steps"] == 2, s
# Each rank served its metrics from its own host (0.0.0.0: the veth address; loopback has none).
addrs = sorted(os.listdir(os.path.join(run, "metrics")))
assert addrs == ["rank0.addr", "rank1.addr"], addrs
assert open(os.path.join(run, "checkpoints", "LATEST")).read().strip() == "step_2"
print("trained 2 steps with 2 ranks on 2 hosts")
PY
echo "cluster netns ok"
