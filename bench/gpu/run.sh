#!/usr/bin/env bash
# The GPU device check in one call: seven checks, each under its own time limit, each ending in
# PASS, FAIL or NOT RUN with a one-line reason; the script goes on after a failure and ends with
# one table (also OUT/table.md). Exit 0 only when every check that ran passed.
#
#   bench/gpu/run.sh --bundle DIR [--out DIR] [--python PY] [--only N,...] [--dry-run]
#
#   --bundle   a bundle from scripts/gpu_bundle.sh (binaries built on the development machine:
#              nothing is compiled here); without it the tree is built on this machine first
#              (slow fallback: needs a compiler, CMake, the CUDA toolkit and .gpu-deps/ from
#              scripts/gpu_deps.sh)
#   --out      results (default /tmp/l2face-gpu; the device tool's $OUT when set)
#   --python   the python whose torch libraries the binaries load and that runs the PyTorch
#              reference (default python3: the GPU machine's own)
#   --only     run only these checks (e.g. --only 1,2,5); the others are NOT RUN
#   --dry-run  no GPU needed: checks the arguments, unpacks and inspects the bundle (every
#              binary's libraries resolve from the bundle and PY's torch), prints each check's
#              commands and the table with every check NOT RUN
#
# The device tool (docs/building.md, "The device check"): build the bundle here with
# scripts/gpu_bundle.sh, then
#   run(command="bench/gpu/run.sh --bundle .gpu-bundle", carry=[".gpu-bundle"], timeout_s=560)
#
# Checks and their time limits in seconds (H100; 470 in all, plus about 10 to unpack):
#   the corpus of checks 2, 4, 5 and 7 (l2face synth, 3,440 images at 112 px, once) 45
#   1 CUDA unit tests (gtest, CUDA cases; a skip is a failure)                     75
#   2 one-GPU smoke: bf16, channels-last, nccl at world 1, sharded classifier,
#     2 injected NaN steps, checkpoints, --resume auto with run.cuda_sync_debug=error 80
#   3 IResNet-50 bf16 batch 256, compute only: step_bench vs the PyTorch reference  80
#   4 the same end to end with the real loader: images/s, data-wait fraction        70
#   5 check 2's CUDA checkpoint evaluated with --device cpu                         25
#   6 sharded classifier, 1M identities at d = 512: peak CUDA memory vs the formula 45
#   7 two ranks on the one GPU over the mpi backend vs one rank at twice the batch  50
# Environment (same meaning): OUT, GPU_PYTHON, GPU_DRY_RUN=1.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
SRC="$PWD"
OUT="${OUT:-/tmp/l2face-gpu}"
PY="${GPU_PYTHON:-python3}"
DRY="${GPU_DRY_RUN:-0}"
BUNDLE="" ONLY="1,2,3,4,5,6,7" PY_GIVEN=0
LIMIT=(0 75 80 80 70 25 45 50) CORPUS_LIMIT=45
NAMES=("" "CUDA unit tests" "one-GPU smoke" "IResNet-50 step vs PyTorch" "end to end (loader)"
       "CPU eval of the CUDA checkpoint" "sharded classifier 1M x 512" "2 ranks, mpi backend")
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
die() { echo "bench/gpu/run.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) [ $# -ge 2 ] || die "--bundle needs a directory"; BUNDLE="$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || die "--out needs a directory"; OUT="$2"; shift 2 ;;
    --python) [ $# -ge 2 ] || die "--python needs a program"; PY="$2"; PY_GIVEN=1; shift 2 ;;
    --only) [ $# -ge 2 ] || die "--only needs a list"; ONLY="$2"; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (--help)" ;;
  esac
done
[[ "$ONLY" =~ ^[1-7](,[1-7])*$ ]] || die "--only takes check numbers 1-7, e.g. 1,3"
[ "$DRY" = 0 ] || [ "$DRY" = 1 ] || die "GPU_DRY_RUN must be 0 or 1"
[ -z "$BUNDLE" ] || [ -d "$BUNDLE" ] || die "no bundle directory '$BUNDLE' (scripts/gpu_bundle.sh)"
mkdir -p "$OUT" || die "cannot create $OUT"
OUT="$(cd "$OUT" && pwd)"
L="$OUT/logs" W=/tmp/l2face-gpu-work B=""
mkdir -p "$L"
: > "$OUT/summary.txt"
log() { echo "[gpu $(date +%T)] $*" | tee -a "$OUT/summary.txt"; }
declare -A STATUS REASON
record() {  # check status reason
  STATUS[$1]="$2" REASON[$1]="$3"
  log "check $1 (${NAMES[$1]}): $2 - $3"
}
selected() { [[ ",$ONLY," == *",$1,"* ]]; }

# x LOG END CMD...: runs CMD (output appended to LOG) under a time limit ending at END (epoch
# seconds); in a dry run prints CMD instead.
x() {
  local out="$1" end="$2"; shift 2
  if [ "$DRY" = 1 ]; then
    printf '    $'; printf ' %q' "$@"; printf '\n'
    return 0
  fi
  local left=$(( end - $(date +%s) ))
  [ "$left" -gt 0 ] || { echo "time limit reached before: $*" >> "$out"; return 124; }
  echo "\$ $*" >> "$out"
  timeout -k 5 "$left" "$@" >> "$out" 2>&1
}
judge() { python3 "$SRC/bench/gpu/judge.py" "$@"; }
verdict() {  # check judge-args...: PASS or FAIL from judge.py's line
  local n="$1" line; shift
  line=$(judge "$@" 2>&1 | tail -1)
  case "$line" in
    PASS:*) record "$n" PASS "${line#PASS: }" ;;
    *) record "$n" FAIL "${line#FAIL: }" ;;
  esac
}
# Why a command failed, in one line: timeout, or the log's last line.
why() {  # rc log
  [ "$1" = 124 ] || [ "$1" = 137 ] && { echo "time limit reached ($(basename "$2"))"; return; }
  echo "exit $1: $(grep -v '^\$ ' "$2" 2>/dev/null | tail -1 | cut -c1-160) ($(basename "$2"))"
}

source "$SRC/bench/gpu/setup.sh"
source "$SRC/bench/gpu/checks.sh"

log "l2face GPU check: out $OUT, checks $ONLY$( [ "$DRY" = 1 ] && echo ', dry run')"
find_python || exit 2
if [ -n "$BUNDLE" ]; then
  unpack_bundle || exit 2
else
  build_here || exit 2
fi
inspect_libraries || [ "$DRY" = 0 ] || exit 1
find_mpi
for n in 1 2 3 4 5 6 7; do
  if ! selected "$n"; then
    record "$n" "NOT RUN" "not selected (--only $ONLY)"
    continue
  fi
  [ "$DRY" = 1 ] && log "check $n (${NAMES[$n]}), limit ${LIMIT[$n]} s; commands:"
  "check_$n" "$(( $(date +%s) + LIMIT[n] ))"
  [ "$DRY" = 1 ] && record "$n" "NOT RUN" "dry run"
done
print_table
