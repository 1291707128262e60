#!/usr/bin/env bash
# bench/hostile: training step time with the metrics endpoint under attack, against the same run
# with nobody connecting. Each round trains a tiny network on a synthetic corpus twice with
# monitoring.serve=true: once quiet, once while bench/hostile/hammer.py (1000 slowloris
# connections, a flood of garbage and oversized requests, back-to-back scrapes) hammers the
# endpoint; the order alternates between rounds. Reports the mean step time (summary.json's
# seconds / steps) of each run and the median ratio hostile / quiet.
#
#   bench/hostile/run.sh [--rounds N] [--steps N] [--out DIR] [--build-dir DIR] [--corpus DIR]
#
# Defaults: 3 rounds of 300 steps (batch 32 at 32 px, tiny backbone), about 6 minutes on 2 cores.
# With 2 cores or more the trainer runs on CPU 0 (one intra-op thread, one loader thread) and the
# hammer on CPU 1 (taskset), so the ratio measures what the exposer's own thread takes from
# training, not the client's CPU. Writes OUT/hostile.json and OUT/runs/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=3 STEPS=300 OUT=bench-results/hostile BUILD="${BUILD_DIR:-build}" CORPUS=""
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --steps) STEPS="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    --corpus) CORPUS="$2"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/hostile/run.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
for n in "$ROUNDS" "$STEPS"; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/hostile/run.sh: '$n' is not a positive count" >&2; exit 2; }
done
L2FACE="$BUILD/bin/l2face"
[ -x "$L2FACE" ] || { echo "bench/hostile/run.sh: $L2FACE missing (scripts/build.sh l2face)" >&2; exit 1; }
mkdir -p "$OUT/runs"
if [ -z "$CORPUS" ]; then
  CORPUS="$OUT/corpus"
  if [ ! -f "$CORPUS/meta.json" ] || ! grep -q '"complete": true' "$CORPUS/meta.json"; then
    "$L2FACE" synth --out "$CORPUS" --identities 100 --images-per-identity 20 --eval-identities 2 \
      --eval-images-per-identity 2 --folds 1 --pairs-per-fold 1 --size 32 --seed 3 >/dev/null
  fi
fi
TRAIN_CPU=() HAMMER_CPU=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  TRAIN_CPU=(taskset -c 0) HAMMER_CPU=(taskset -c 1)
fi

run() {  # run MODE ROUND -> prints "seconds steps"
  local mode="$1" round="$2" dir="$OUT/runs/$1-$2"
  rm -rf "$dir"
  "${TRAIN_CPU[@]}" "$L2FACE" train --config configs/demo.yaml \
    --set run.dir="$dir" --set run.threads=1 --set run.device=cpu --set data.workers=1 \
    --set data.train="$CORPUS/train" --set data.image_size=32 --set data.batch_size=32 \
    --set model.backbone=tiny --set model.width=8 --set model.embedding_dim=64 \
    --set optim.max_steps="$STEPS" --set optim.warmup_steps=0 --set checkpoint.every_steps=0 \
    --set eval.pairs= --set monitoring.serve=true --set monitoring.port=0 \
    --set monitoring.log_every=100 >"$dir.log" 2>&1 &
  local train=$! hammer=""
  if [ "$mode" = hostile ]; then
    for _ in $(seq 600); do [ -s "$dir/metrics/rank0.addr" ] && break; sleep 0.1; done
    local addr; addr="$(cat "$dir/metrics/rank0.addr")"
    "${HAMMER_CPU[@]}" python3 bench/hostile/hammer.py "${addr%:*}" "${addr##*:}" 100000 \
      >"$dir.hammer.json" 2>"$dir.hammer.log" &
    hammer=$!
  fi
  local rc=0
  wait "$train" || rc=$?
  if [ -n "$hammer" ]; then kill "$hammer" 2>/dev/null || true; wait "$hammer" 2>/dev/null || true; fi
  [ "$rc" -eq 0 ] || { echo "bench/hostile/run.sh: training ($mode, round $round) failed: $dir.log" >&2; tail -5 "$dir.log" >&2; exit 1; }
  python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print(s['seconds'], s['steps'])" "$dir/summary.json"
}

results=()
for round in $(seq "$ROUNDS"); do
  order="quiet hostile"; [ $((round % 2)) -eq 0 ] && order="hostile quiet"
  for mode in $order; do
    read -r seconds steps < <(run "$mode" "$round")
    echo "round $round $mode: $steps steps in $seconds s ($(python3 -c "print(f'{1000*$seconds/$steps:.2f}')") ms/step)"
    results+=("$round $mode $seconds $steps")
  done
done

printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
rows = [l.split() for l in sys.stdin if l.strip()]
per = {}
for r, mode, seconds, steps in rows:
    per.setdefault(int(r), {})[mode] = float(seconds) / int(steps)
ratios = [p["hostile"] / p["quiet"] for _, p in sorted(per.items())]
out = {"rounds": [{"round": r, "quiet_ms_per_step": 1000 * p["quiet"],
                   "hostile_ms_per_step": 1000 * p["hostile"], "ratio": p["hostile"] / p["quiet"]}
                  for r, p in sorted(per.items())],
       "median_ratio": statistics.median(ratios)}
json.dump(out, open(sys.argv[1], "w"), indent=2)
for x in out["rounds"]:
    print(f"round {x[\"round\"]}: quiet {x[\"quiet_ms_per_step\"]:.2f} ms/step, hostile "
          f"{x[\"hostile_ms_per_step\"]:.2f} ms/step, ratio {x[\"ratio\"]:.3f}")
print(f"median step-time ratio hostile / quiet: {out[\"median_ratio\"]:.3f}")
' "$OUT/hostile.json"
for f in "$OUT"/runs/hostile-*.hammer.json; do echo "hammer $(basename "$f" .hammer.json): $(cat "$f")"; done
