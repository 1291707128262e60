#!/usr/bin/env bash
# bench/step: training images/s of l2face against the PyTorch reference (bench/reference/), per
# backbone (tiny, IResNet-18, IResNet-50 at 112 x 112 on the CPU), compute only and end to end,
# in one invocation; the runs alternate (l2face first in odd rounds, the reference first in even
# ones) so that both sides share the machine's state. Writes OUT/step.jsonl (one line per run),
# OUT/step.json, OUT/step.md (table) and OUT/step.svg (ratios per round).
#
#   bench/step/run.sh [--out DIR] [--quick | --smoke] [--rounds N] [--backbones "tiny iresnet18"]
#                     [--threads N] [--workers N] [--build-dir DIR] [--corpus DIR] [--dry-run]
#                     [--malloc-reference]
#
#   default  tiny batch 32, IResNet-18 and IResNet-50 batch 16; 2 rounds (about 10 min on
#            2 cores)
#   --quick  1 round, fewer steps (about 3 min)
#   --smoke  tiny and IResNet-18 with batches of 4 and 2, 1 step each: checks the plumbing
#            (about 1 min)
#
#   --malloc-reference  also runs the reference (compute only) with glibc's malloc set as l2face
#                       sets it for CPU training (GLIBC_TUNABLES: no mmap-served blocks, no trim;
#                       trainer/internal/l2face/trainer/internal/train_step.h), to show what that setting alone is worth
#
# l2face: build/bin/step_bench (TrainStep, the code trainer::train runs; with --corpus the real
# Loader feeds it). Reference: .venv/bin/python bench/reference/train_reference.py. Both use
# --threads intra-op threads and, end to end, --workers loader threads / DataLoader worker
# processes (defaults: half the CPUs each, so that compute and loading together fill the machine
# without oversubscribing it; 1 and 1 on 2 cores), flip p = 0.5. The corpus (200 identities x 5
# JPEGs at 112 px) is made with `l2face synth` unless --corpus names one.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=bench-results/step MODE=default ROUNDS="" BACKBONES="" DRY=0 CORPUS="" MALLOC_REF=0
CORES="$(nproc)"; THREADS=$(( CORES > 1 ? CORES / 2 : 1 )); WORKERS=$(( CORES - THREADS > 0 ? CORES - THREADS : 1 ))
BUILD="${BUILD_DIR:-build}"
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --quick) MODE=quick; shift ;;
    --smoke) MODE=smoke; shift ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --backbones) BACKBONES="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    --corpus) CORPUS="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --malloc-reference) MALLOC_REF=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/step/run.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
for n in "$THREADS" "$WORKERS" ${ROUNDS:+"$ROUNDS"}; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench/step/run.sh: '$n' is not a positive count" >&2; exit 2; }
done

# backbone -> "batch warmup steps" per mode
declare -A SPEC
case "$MODE" in
  default) SPEC=([tiny]="32 2 6" [iresnet18]="16 1 3" [iresnet50]="16 1 2"); : "${ROUNDS:=2}" ;;
  quick)   SPEC=([tiny]="32 1 3" [iresnet18]="16 1 2" [iresnet50]="16 1 1"); : "${ROUNDS:=1}" ;;
  smoke)   SPEC=([tiny]="4 1 1" [iresnet18]="2 1 1"); : "${ROUNDS:=1}" ;;
esac
[ -n "$BACKBONES" ] || { BACKBONES="tiny iresnet18 iresnet50"; [ "$MODE" = smoke ] && BACKBONES="tiny iresnet18"; }
for b in $BACKBONES; do
  [ -n "${SPEC[$b]:-}" ] || SPEC[$b]="${SPEC[iresnet18]:-8 1 2}"
  [[ "$b" =~ ^(tiny|iresnet(18|34|50|100))$ ]] || { echo "bench/step/run.sh: unknown backbone '$b'" >&2; exit 2; }
done

PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
BENCH="$BUILD/bin/step_bench"
L2FACE="$BUILD/bin/l2face"; [ -x "$L2FACE" ] || L2FACE=build/bin/l2face
run() { echo "+ $*" >&2; [ "$DRY" = 1 ] || "$@"; }
if [ "$DRY" = 0 ]; then
  [ -x "$BENCH" ] || BUILD_DIR="$BUILD" scripts/build.sh step_bench
  [ -n "$CORPUS" ] || [ -x "$L2FACE" ] || BUILD_DIR="$BUILD" scripts/build.sh l2face
fi
mkdir -p "$OUT"
if [ -z "$CORPUS" ]; then
  CORPUS="$OUT/corpus/train"
  ids=200; [ "$MODE" = smoke ] && ids=40
  if [ ! -d "$CORPUS" ]; then
    run "$L2FACE" synth --out "$OUT/corpus" --identities "$ids" --images-per-identity 5 \
      --eval-identities 2 --eval-images-per-identity 2 --pairs-per-fold 1 --folds 1 --size 112 \
      --seed 1 --threads "$THREADS" >&2
  fi
fi
CLASSES=$( (ls "$CORPUS" 2>/dev/null || true) | wc -l); [ "$CLASSES" -gt 2 ] || CLASSES=200

TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1099511627776
RES="$OUT/step.jsonl"; [ "$DRY" = 1 ] || : > "$RES"
one() {  # impl mode backbone round
  local impl=$1 mode=$2 b=$3 round=$4 batch warm steps
  read -r batch warm steps <<< "${SPEC[$b]}"
  local common=(--backbone "$b" --batch "$batch" --size 112 --threads "$THREADS" --warmup "$warm"
                --steps "$steps" --classes "$CLASSES")
  [ "$mode" = e2e ] && common+=(--corpus "$CORPUS" --workers "$WORKERS" --flip 0.5)
  local cmd=("$BENCH")
  [ "$impl" = pytorch ] && cmd=("$PY" bench/reference/train_reference.py)
  [ "$impl" = pytorch_malloc ] && cmd=(env "GLIBC_TUNABLES=$TUNABLES" "$PY" bench/reference/train_reference.py)
  echo "[step] round $round: $impl $mode $b (batch $batch, $warm warm-up + $steps steps)" >&2
  if [ "$DRY" = 1 ]; then run "${cmd[@]}" "${common[@]}"; return; fi
  local line
  line=$("${cmd[@]}" "${common[@]}" | grep '^{') || { echo "[step] $impl $mode $b failed" >&2; exit 1; }
  [ "$impl" = pytorch_malloc ] && line=${line/\"impl\": \"pytorch\"/\"impl\": \"pytorch_malloc\"}
  echo "${line%\}}, \"round\": $round}" >> "$RES"
}
for b in $BACKBONES; do
  for round in $(seq 1 "$ROUNDS"); do
    order=(l2face pytorch); [ $((round % 2)) = 0 ] && order=(pytorch l2face)
    for mode in compute e2e; do
      for impl in "${order[@]}"; do one "$impl" "$mode" "$b" "$round"; done
      [ "$mode" = compute ] && [ "$MALLOC_REF" = 1 ] && one pytorch_malloc "$mode" "$b" "$round"
    done
  done
done
[ "$DRY" = 1 ] && { echo "[step] dry run: nothing measured" >&2; exit 0; }
"$PY" bench/step/summarize.py "$RES" "$OUT"
