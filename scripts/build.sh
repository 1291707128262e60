#!/usr/bin/env bash
# Configures and builds l2face into build/ (binary: build/bin/l2face); bootstraps first if needed.
# Arguments, if any, are the targets to build (default: everything, tests included).
# Environment: BUILD_DIR (default build), BUILD_TYPE (default RelWithDebInfo), JOBS (default nproc),
# L2FACE_CMAKE_ARGS (extra CMake arguments, e.g. -DL2FACE_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build}"
if [ ! -x .venv/bin/python ] || ! command -v ninja >/dev/null || ! command -v mpirun >/dev/null \
   || [ ! -f /usr/include/turbojpeg.h ] || [ ! -d /usr/include/CLI ] || ! command -v slurmd >/dev/null \
   || [ ! -f /usr/include/onnx/onnx_pb.h ] || [ ! -f /usr/include/google/protobuf/message.h ] \
   || ! command -v clang++ >/dev/null; then
  scripts/bootstrap.sh
fi
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}"
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" ${L2FACE_CMAKE_ARGS:-}
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "${JOBS:-$(nproc)}" "${targets[@]}"
