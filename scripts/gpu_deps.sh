#!/usr/bin/env bash
# Downloads the Debian packages bench/gpu/run.sh's fallback build needs into .gpu-deps/ (for a GPU
# machine that has torch, CUDA, CMake and a compiler but no network and no -dev packages). Run
# here, then carry .gpu-deps to that machine; run.sh unpacks them under a scratch prefix and
# CMake finds everything there through CMAKE_PREFIX_PATH (TurboJPEG by header and library, not
# through Debian's libjpeg-turbo CMake files, which hard-code /usr). Prove it here with
#   bench/gpu/run.sh --dry-run   (configures with /usr hidden from CMake's searches)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download \
  libturbojpeg0-dev libturbojpeg0 \
  libyaml-cpp-dev libyaml-cpp0.7 \
  libxxhash-dev libxxhash0 \
  libcli11-dev nlohmann-json3-dev \
  libgtest-dev googletest \
  libboost1.74-dev \
  libonnx-dev libonnx1 libonnxifi libprotobuf-dev libprotobuf32
ls -1 *.deb | sed 's/^/  /'
