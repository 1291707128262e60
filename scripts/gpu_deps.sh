#!/usr/bin/env bash
# Downloads the Debian packages bench/gpu/run.sh needs into .gpu-deps/ (for a GPU machine that has
# torch, CUDA, CMake and a compiler but no network). Run here, then carry .gpu-deps to that machine.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download libyaml-cpp-dev libyaml-cpp0.7 libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo \
  libcli11-dev nlohmann-json3-dev libxxhash-dev libxxhash0 libgtest-dev googletest \
  libboost1.74-dev libboost-system1.74.0 libboost-system1.74-dev
