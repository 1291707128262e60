#!/usr/bin/env bash
# bench/ab: the same measurements on two builds of l2face, alternating, so that a change is judged
# by a ratio taken in one run on one machine state: B / A per measurement (> 1: B is faster).
#
#   bench/ab/run.sh --base REF [--build-dir DIR] [--out DIR] [--rounds N] [--smoke]
#   bench/ab/run.sh --a-build DIR [--build-dir DIR] ...
#
#   A  the baseline: --base REF (a git commit/branch, exported with `git archive` and built under
#      OUT/base/build with the same CMake settings), or an existing build directory (--a-build)
#   B  this tree's build (--build-dir, default build)
#
# Measurements, each `--rounds` times (default 5), A and B alternating (A first in odd rounds):
#   step1   step_bench compute only, tiny backbone, batch 32 at 112 px, 1 rank (images/s)
#   step2   `l2face train` on 2 ranks (mpirun, data parallel, replicated classifier), tiny
#           backbone, batch 32 per rank at 112 px, 40 steps (images/s from summary.json)
#   raw_*, comm_*, gradsync_*   allreduce_bench on 2 ranks (best of 3 inside each run), sizes 1 to
#           16 MiB: MB/s of MPI_Allreduce itself (the same code in A and B: its B/A is the noise),
#           through the communicator's all-reduce, and through GradSync (its bucket set)
# --smoke: 1 round, 4 steps, sizes up to 1 MiB (checks the plumbing; nothing worth quoting).
# Writes OUT/ab.jsonl (one line per run) and OUT/ab.md (medians and the B/A ratio of medians).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=bench-results/ab BUILD_B="${BUILD_DIR:-build}" BUILD_A="" BASE="" ROUNDS=5 SMOKE=0
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --base) BASE="$2"; shift 2 ;;
    --a-build) BUILD_A="$2"; shift 2 ;;
    --build-dir) BUILD_B="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --smoke) SMOKE=1; ROUNDS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/ab/run.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
[ -n "$BASE" ] || [ -n "$BUILD_A" ] || { echo "bench/ab/run.sh: name --base REF or --a-build DIR" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "bench/ab/run.sh: --rounds must be a positive count" >&2; exit 2; }
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
TARGETS=(l2face step_bench allreduce_bench)
if [ -n "$BASE" ]; then
  src="$OUT/base"
  if [ ! -f "$src/.ref" ] || [ "$(cat "$src/.ref")" != "$(git rev-parse "$BASE")" ]; then
    rm -rf "$src"; mkdir -p "$src"
    git archive "$BASE" | tar -x -C "$src"
    git rev-parse "$BASE" > "$src/.ref"
  fi
  [ -e "$src/.venv" ] || ln -s "$PWD/.venv" "$src/.venv"
  (cd "$src" && CCACHE_DIR="${CCACHE_DIR:-$OLDPWD/.ccache}" scripts/build.sh "${TARGETS[@]}") >&2
  BUILD_A="$src/build"
fi
CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}" BUILD_DIR="$BUILD_B" scripts/build.sh "${TARGETS[@]}" >&2
for b in "$BUILD_A" "$BUILD_B"; do
  for t in "${TARGETS[@]}"; do [ -x "$b/bin/$t" ] || { echo "bench/ab/run.sh: $b/bin/$t missing" >&2; exit 1; }; done
done

PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
MPI=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca mpi_yield_when_idle 1 -np 2)
STEPS=40 MAXMIB=16; [ "$SMOKE" = 1 ] && { STEPS=4; MAXMIB=1; }
CORPUS="$OUT/corpus"
[ -d "$CORPUS/train" ] || "$BUILD_B/bin/l2face" synth --out "$CORPUS" --identities 100 \
  --images-per-identity 5 --eval-identities 2 --eval-images-per-identity 2 --pairs-per-fold 1 \
  --folds 1 --size 112 --seed 1 >&2
RES="$OUT/ab.jsonl"; : > "$RES"
record() { echo "{\"side\": \"$1\", \"what\": \"$2\", \"round\": $3, \"value\": $4}" >> "$RES"; }

measure() {  # side build round
  local side=$1 build=$2 round=$3 v
  v=$("$build/bin/step_bench" --backbone tiny --batch 32 --size 112 --threads 1 --warmup 2 \
      --steps $((STEPS / 4 + 1)) --classes 100 | "$PY" -c 'import json,sys; print(json.loads(sys.stdin.readline())["images_per_second"])')
  record "$side" step1 "$round" "$v"
  local run="$OUT/run-$side"; rm -rf "$run"
  "${MPI[@]}" "$build/bin/l2face" train --config configs/demo.yaml --set data.train="$CORPUS/train" \
    --set run.dir="$run" --set data.image_size=112 --set data.batch_size=32 --set data.workers=1 \
    --set run.threads=1 --set model.backbone=tiny --set classifier.parallel=replicated \
    --set optim.max_steps="$STEPS" --set optim.warmup_steps=0 --set checkpoint.every_steps=0 \
    --set eval.every_steps=0 --set monitoring.serve=false > "$OUT/train-$side.log" 2>&1
  v=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["images_per_second"])' "$run/summary.json")
  record "$side" step2 "$round" "$v"
  "${MPI[@]}" "$build/bin/allreduce_bench" --max-mib "$MAXMIB" --reps 3 > "$OUT/ar-$side.log" 2>&1
  "$PY" - "$OUT/ar-$side.log" "$side" "$round" >> "$RES" <<'PYEOF'
import json, sys
path, side, rnd = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(path).read()
report, _ = json.JSONDecoder().raw_decode(text[text.index("{"):])
for s in report["sizes"]:
    if s["bytes"] < (1 << 20):
        continue
    for key in ("raw_us", "comm_us", "gradsync_view_us", "gradsync_copy_us"):
        if key in s:  # MB/s through the communicator / GradSync, higher is better
            what = "%s_%dMiB_MBps" % (key[:-3], s["bytes"] >> 20)
            print(json.dumps({"side": side, "what": what, "round": rnd,
                              "value": s["bytes"] / s[key]}))
PYEOF
}

for round in $(seq 1 "$ROUNDS"); do
  echo "[ab] round $round of $ROUNDS" >&2
  if [ $((round % 2)) = 1 ]; then measure A "$BUILD_A" "$round"; measure B "$BUILD_B" "$round"
  else measure B "$BUILD_B" "$round"; measure A "$BUILD_A" "$round"; fi
done

"$PY" - "$RES" "$OUT/ab.md" "${BASE:-$BUILD_A}" <<'PYEOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
whats = sorted({r["what"] for r in rows}, key=lambda w: (not w.startswith("step"), w))
lines = ["A = %s, B = this tree; %d round(s); median of each side, B/A of the medians" %
         (sys.argv[3], max(r["round"] for r in rows)), "",
         "| measurement | A | B | B/A | B/A per round |", "|---|---:|---:|---:|---|"]
for w in whats:
    a = [r["value"] for r in rows if r["what"] == w and r["side"] == "A"]
    b = [r["value"] for r in rows if r["what"] == w and r["side"] == "B"]
    if not a or not b:
        continue
    per = ", ".join("%.2f" % (y / x) for x, y in zip(a, b) if x > 0)
    ma, mb = statistics.median(a), statistics.median(b)
    lines.append("| %s | %.4g | %.4g | %.3f | %s |" % (w, ma, mb, mb / ma if ma else float("nan"), per))
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PYEOF
