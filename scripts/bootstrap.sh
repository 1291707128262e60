#!/usr/bin/env bash
# Installs everything l2face needs on a fresh Debian 12 machine: system packages and the pinned
# LibTorch (from the torch wheel) into .venv/. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="${L2FACE_TORCH_VERSION:-2.11.0}"
APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  openmpi-bin libopenmpi-dev
  libboost-dev libboost-system-dev
  libyaml-cpp-dev libturbojpeg0-dev libjpeg62-turbo-dev
  libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libxxhash-dev
  libgtest-dev libgmock-dev
  # ONNX export (l2face export --format onnx): the ONNX protobuf types and checker, and the
  # protobuf headers they include
  libonnx-dev libprotobuf-dev
  prometheus
  # cluster tests (tests/cluster): a one-node SLURM with PMIx, and network namespaces
  slurm-wlm munge iproute2
  # fuzzing (tests/fuzz): clang with libFuzzer and the sanitizer runtimes (only recommended by
  # clang-14, so named here), llvm-symbolizer for readable reports
  clang libclang-rt-14-dev llvm
)

need_apt=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt+=("$p")
done
if ((${#need_apt[@]})); then
  echo "[bootstrap] installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv"
  "$PY" -m venv .venv
fi
if ! .venv/bin/python -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$TORCH_VERSION' else 1)" 2>/dev/null; then
  echo "[bootstrap] installing torch==$TORCH_VERSION into .venv (LibTorch comes with the wheel)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q "torch==$TORCH_VERSION" numpy
fi
# the ONNX export's tests run the exported file with onnxruntime
ORT_VERSION="1.32.0"; ONNX_VERSION="1.23.2"
if ! .venv/bin/python -c "import onnxruntime, onnx, sys; sys.exit(0 if onnxruntime.__version__ == '$ORT_VERSION' else 1)" 2>/dev/null; then
  echo "[bootstrap] installing onnxruntime==$ORT_VERSION onnx==$ONNX_VERSION into .venv"
  .venv/bin/python -m pip install -q "onnxruntime==$ORT_VERSION" "onnx==$ONNX_VERSION"
fi
echo "[bootstrap] ok: torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')," \
     "cmake prefix $(.venv/bin/python -c 'import torch; print(torch.utils.cmake_prefix_path)')"
