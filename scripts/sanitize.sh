#!/usr/bin/env bash
# Builds the named test targets with a sanitizer and runs them:
#   scripts/sanitize.sh thread  data_test [more targets]   -> build-tsan/ (ThreadSanitizer)
#   scripts/sanitize.sh address data_test [more targets]   -> build-asan/ (AddressSanitizer + UBSan)
# Only the named targets (and what they link) are built. Extra gtest arguments: GTEST_FILTER etc.
# in the environment. Environment: JOBS (default nproc), BUILD_DIR (overrides the directory).
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: scripts/sanitize.sh thread|address TARGET..." >&2; exit 2; }
[ $# -ge 2 ] || usage
kind="$1"; shift
case "$kind" in
  thread) dir="${BUILD_DIR:-build-tsan}" ;;
  address) dir="${BUILD_DIR:-build-asan}" ;;
  *) usage ;;
esac
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}"
if [ ! -f "$dir/build.ninja" ]; then
  # No precompiled torch header: it would be built with the sanitizer flags for nothing.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DL2FACE_SANITIZE="$kind" \
        -DL2FACE_USE_PCH=OFF >/dev/null
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$dir" -j "${JOBS:-$(nproc)}" "${targets[@]}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
for t in "$@"; do
  echo "== $kind: $t"
  if ! "$dir/bin/$t"; then
    echo "== $kind: $t FAILED" >&2
    status=1
  fi
done
exit "$status"
