#!/usr/bin/env bash
# bench/hostile: training step time with the metrics endpoint under attack, against the same run
# scraped normally. Each round trains a tiny network on a synthetic corpus twice with
# monitoring.serve=true: once quiet (only a Prometheus-like scrape a second), once while
# bench/hostile/hammer.py adds 1000 slowloris connections, a flood of garbage and oversized
# requests and back-to-back scrapes; the order alternates between rounds. Reports the mean step
# time (summary.json's seconds / steps) of each run, the median ratio hostile / quiet, and the
# well-behaved scraper's answer times in both.
#
#   bench/hostile/run.sh [--rounds N] [--steps N] [--out DIR] [--build-dir DIR] [--corpus DIR]
#
# Defaults: 3 rounds of 2000 steps (batch 32 at 32 px, tiny backbone), about 2 minutes on 2 cores.
# With 2 cores or more the trainer runs on CPU 0 (one intra-op thread, one loader thread) and the
# hammer on CPU 1 (taskset), so the ratio measures what the exposer's own thread takes from
# training, not the client's CPU. Writes OUT/hostile.json and OUT/runs/.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=3 STEPS=2000 OUT=bench-results/hostile BUILD="${BUILD_DIR:-build}" CORPUS=""
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
  local train=$! hammer="" legit=()
  [ "$mode" = quiet ] && legit=(--legit-only)
  for _ in $(seq 600); do [ -s "$dir/metrics/rank0.addr" ] && break; sleep 0.1; done
  local addr; addr="$(cat "$dir/metrics/rank0.addr")"
  "${HAMMER_CPU[@]}" python3 bench/hostile/hammer.py "${addr%:*}" "${addr##*:}" 100000 "${legit[@]}" \
    >"$dir.hammer.json" 2>"$dir.hammer.log" &
  hammer=$!
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

printf '%s\n' "${results[@]}" | python3 bench/hostile/summarize.py "$OUT/hostile.json"
for f in "$OUT"/runs/*.hammer.json; do echo "client $(basename "$f" .hammer.json): $(cat "$f")"; done
