#!/usr/bin/env bash
# The whole test suite: bootstrap and build if needed, then every ctest test except the long labels,
# then the fuzz smoke: each libFuzzer target for 20 s (tests/fuzz/run.sh, its own clang build in
# build-fuzz/), when clang with libFuzzer is installed (scripts/bootstrap.sh installs it).
# Extra arguments go to ctest (e.g. -L unit, -R Config) and leave the fuzz smoke out.
# Environment: L2FACE_FUZZ_SECONDS (seconds per fuzz target, default 20; 0 leaves the smoke out).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
BUILD_DIR="${BUILD_DIR:-build}"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${JOBS:-$(nproc)}" -LE 'long' --timeout 900 "$@")

fuzz_available() {
  command -v clang++ >/dev/null || return 1
  local probe rc=0
  probe="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' \
    >"$probe/probe.cpp"
  clang++ -fsanitize=fuzzer,address,undefined "$probe/probe.cpp" -o "$probe/probe" 2>/dev/null || rc=1
  rm -rf "$probe"
  return "$rc"
}
fuzz_seconds="${L2FACE_FUZZ_SECONDS:-20}"
if [ $# -eq 0 ] && [ "$fuzz_seconds" != 0 ]; then
  if fuzz_available; then
    tests/fuzz/run.sh "$fuzz_seconds"
  else
    echo "[test] fuzz smoke left out: clang++ with libFuzzer not found (run scripts/bootstrap.sh)"
  fi
fi
