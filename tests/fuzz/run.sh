#!/usr/bin/env bash
# Runs the libFuzzer targets, each for SECONDS, from seed corpora generated now; fails on any crash
# (a sanitizer report, an uncaught exception, a timeout of one input, a leak, an abort).
#
#   tests/fuzz/run.sh SECONDS [TARGET...]     TARGET: jpeg recordio bin config http store
#                                             pack_list ijb (default all)
#
# Builds build-fuzz/ first (clang, -DL2FACE_FUZZ=ON, target l2face_fuzz) unless FUZZ_NO_BUILD=1.
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_WORK_DIR (default FUZZ_BUILD_DIR/fuzz-work:
# seeds/, corpus/ (inputs found, kept between runs), artifacts/ (crashing inputs), logs/), JOBS.
# A crash leaves its input in artifacts/; reproduce with: FUZZ_BUILD_DIR/bin/fuzz_TARGET FILE
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$PWD"
usage() {
  echo "usage: tests/fuzz/run.sh SECONDS [jpeg|recordio|bin|config|http|store|pack_list|ijb...]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
seconds="$1"; shift
[[ "$seconds" =~ ^[0-9]+$ ]] || usage
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(jpeg recordio bin config http store pack_list ijb)
for t in "${targets[@]}"; do
  case "$t" in jpeg|recordio|bin|config|http|store|pack_list|ijb) ;; *) usage ;; esac
done

build="${FUZZ_BUILD_DIR:-build-fuzz}"
case "$build" in /*) ;; *) build="$root/$build" ;; esac
work="${FUZZ_WORK_DIR:-$build/fuzz-work}"

if [ "${FUZZ_NO_BUILD:-0}" != 1 ]; then
  command -v clang++ >/dev/null || { echo "run.sh: clang++ not found (scripts/bootstrap.sh installs it)" >&2; exit 1; }
  export CCACHE_DIR="${CCACHE_DIR:-$root/.ccache}"
  if [ ! -f "$build/build.ninja" ]; then
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
          -DCMAKE_CXX_COMPILER=clang++ -DL2FACE_FUZZ=ON -DL2FACE_USE_PCH=OFF -DL2FACE_CUDA=OFF >/dev/null
  fi
  cmake --build "$build" -j "${JOBS:-$(nproc)}" --target l2face_fuzz
fi

# Symbolized reports when llvm-symbolizer is around (clang's own, or the versioned one).
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ]; then
  for s in llvm-symbolizer "$(ls /usr/bin/llvm-symbolizer-* 2>/dev/null | sort -V | tail -1)" \
           "$(ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | sort -V | tail -1)"; do
    if [ -n "$s" ] && command -v "$s" >/dev/null; then export ASAN_SYMBOLIZER_PATH="$(command -v "$s")"; break; fi
  done
fi
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

status=0
for t in "${targets[@]}"; do
  bin="$build/bin/fuzz_$t"
  [ -x "$bin" ] || { echo "run.sh: $bin missing (build the target l2face_fuzz)" >&2; exit 1; }
  seeds="$work/seeds/$t"; corpus="$work/corpus/$t"; artifacts="$work/artifacts/$t"
  rm -rf "$seeds"
  mkdir -p "$seeds" "$corpus" "$artifacts" "$work/logs"
  "$build/bin/fuzz_seeds" "$work/seeds" "$root" "$t" >"$work/logs/seeds-$t.log" 2>&1 \
    || { cat "$work/logs/seeds-$t.log" >&2; exit 1; }
  if [ "$t" = bin ]; then
    # .bin files as Python's own pickle writes them (the fixtures of the eval tests), when the
    # project's Python has numpy.
    py="$root/.venv/bin/python"
    if [ -x "$py" ] && "$py" -c "import numpy" 2>/dev/null; then
      for p in 2 3 4 5; do
        for kind in bytes bytearray numpy npbool; do
          "$py" "$root/tests/unit/eval/bin_fixture.py" "$seeds/py_${kind}_p$p.bin" "$p" "$kind" 3
        done
      done
    fi
  fi
  log="$work/logs/$t.log"
  echo "== fuzz_$t: ${seconds} s, $(ls "$seeds" | wc -l) seeds, $(ls "$corpus" | wc -l) inputs kept from earlier runs"
  rc=0
  # -timeout: one input taking longer is a failure (a hang); -rss_limit_mb: so is a blow-up.
  "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
         -artifact_prefix="$artifacts/" "$corpus" "$seeds" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    status=1
    echo "== fuzz_$t FAILED (exit $rc); log $log; crashing inputs in $artifacts:" >&2
    ls -l "$artifacts" >&2 || true
    grep -aE "ERROR|runtime error|SUMMARY|==[0-9]+==|#[0-9]+ 0x" "$log" | head -40 >&2 || tail -40 "$log" >&2
  else
    grep -aE "^stat::number_of_executed_units|^stat::new_units_added" "$log" | tr '\n' ' '
    echo
  fi
done
exit "$status"
