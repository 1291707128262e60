#!/usr/bin/env bash
# The whole test suite: bootstrap and build if needed, then every ctest test except the long labels.
# Extra arguments go to ctest (e.g. -L unit, -R Config).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
BUILD_DIR="${BUILD_DIR:-build}"
cd "$BUILD_DIR"
ctest --output-on-failure -j "${JOBS:-$(nproc)}" -LE 'long' --timeout 900 "$@"
