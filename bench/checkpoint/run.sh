#!/usr/bin/env bash
# Checkpoint save throughput against dd, and the asynchronous save's training-thread stall.
#
#   bench/checkpoint/run.sh [BUILD_DIR] [BYTES] [REPS]     (defaults: build, 1 GiB, 3)
#
# Per repetition, interleaved so that each ratio compares runs of the same moment:
#   dd   P parallel `dd if=/dev/zero bs=4M conv=fsync` writing BYTES/P each (P = 1, then 2)
#   save checkpoint_bench on P ranks (P = 1: one process; P = 2: mpirun): one synchronous sharded
#        save of BYTES of class rows through the commit protocol, then one asynchronous save
# ratio = dd seconds / save seconds (save throughput as a fraction of dd's; goal >= 0.8). Medians
# over REPS, after one unrecorded warm-up round. Writes BUILD_DIR/bench_checkpoint.json and
# prints a markdown table.
# The files go to BUILD_DIR/bench_checkpoint/ (the disk the build is on); dd runs before MPI starts
# (no fork after MPI_Init).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${1:-build}"; BYTES="${2:-1073741824}"; REPS="${3:-3}"
BIN="$BUILD/bin/checkpoint_bench"
[ -x "$BIN" ] || { echo "build checkpoint_bench first (scripts/build.sh checkpoint_bench)" >&2; exit 2; }
DIR="$BUILD/bench_checkpoint"; rm -rf "$DIR"; mkdir -p "$DIR"
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
RES="$DIR/results.jsonl"; : > "$RES"

dd_seconds() {  # parallel writers
  local p="$1" per=$(( BYTES / $1 / 4194304 )) t0 t1
  t0=$(date +%s%N)
  for i in $(seq 1 "$p"); do
    dd if=/dev/zero of="$DIR/dd.$i" bs=4M count="$per" conv=fsync status=none &
  done
  wait
  t1=$(date +%s%N)
  rm -f "$DIR"/dd.*
  awk "BEGIN { print ($t1 - $t0) / 1e9 }"
}

# Warm-up, not recorded: the first writes to fresh blocks of a virtual disk are much slower.
dd_seconds 1 >/dev/null; "$BIN" --dir "$DIR" --bytes "$BYTES" >/dev/null

for rep in $(seq 1 "$REPS"); do
  for p in 1 2; do
    sync; d=$(dd_seconds "$p")
    sync
    if [ "$p" = 1 ]; then
      out=$("$BIN" --dir "$DIR" --bytes "$BYTES")
    else
      out=$(OMPI_MCA_mpi_yield_when_idle=1 mpirun -np "$p" --allow-run-as-root --oversubscribe \
              --bind-to none "$BIN" --dir "$DIR" --bytes "$BYTES")
    fi
    echo "{\"rep\": $rep, \"dd_seconds\": $d, \"save\": $out}" >> "$RES"
    echo "rep $rep, $p rank(s): dd $d s, save $(echo "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["sync_seconds"])') s" >&2
  done
done

"$PY" - "$RES" "$BUILD/bench_checkpoint.json" "$BYTES" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
gib = int(sys.argv[3]) / 2**30
out = {"bytes": int(sys.argv[3]), "runs": rows, "summary": []}
print(f"| ranks | dd conv=fsync s | sync save s | save / dd throughput | async stall s (begin + polls) | max poll ms | steps during the save | async begin-to-commit s |")
print("|---|---|---|---|---|---|---|---|")
for p in sorted({r["save"]["ranks"] for r in rows}):
    rs = [r for r in rows if r["save"]["ranks"] == p]
    med = lambda f: statistics.median(f(r) for r in rs)
    s = {"ranks": p,
         "dd_seconds": med(lambda r: r["dd_seconds"]),
         "sync_seconds": med(lambda r: r["save"]["sync_seconds"]),
         "ratio": med(lambda r: r["dd_seconds"] / r["save"]["sync_seconds"]),
         "ratios": [r["dd_seconds"] / r["save"]["sync_seconds"] for r in rs],
         "stall_seconds": med(lambda r: r["save"]["async_stall_seconds"]),
         "max_poll_seconds": med(lambda r: r["save"]["async_max_poll_seconds"]),
         "steps": med(lambda r: r["save"]["async_steps"]),
         "async_total_seconds": med(lambda r: r["save"]["async_total_seconds"])}
    out["summary"].append(s)
    print(f"| {p} | {s['dd_seconds']:.2f} | {s['sync_seconds']:.2f} | {s['ratio']:.2f} "
          f"({', '.join(f'{x:.2f}' for x in s['ratios'])}) | {s['stall_seconds']:.3f} | "
          f"{1000 * s['max_poll_seconds']:.1f} | {s['steps']:.0f} | {s['async_total_seconds']:.2f} |")
json.dump(out, open(sys.argv[2], "w"), indent=2)
print(f"\n{gib:g} GiB of float32 class rows; medians of {len(rows) // 2} repetitions; "
      f"JSON: {sys.argv[2]}")
PY
rm -rf "$DIR"
