#!/usr/bin/env bash
# Builds the GPU-check bundle: a stripped Hopper-only Release build of the CLI, the benchmarks and
# the test binaries with CUDA paths, the shared libraries a GPU machine lacks, OpenMPI and a
# MANIFEST, packed as one tar.xz for bench/gpu/run.sh --bundle (docs/building.md). The test data
# the checks read (configs/, bench/reference/) travel with the working tree.
#
#   scripts/gpu_bundle.sh [--out DIR] [--build-dir DIR] [--limit-mib N] [--no-mpi]
#
#   --out        the bundle directory (default .gpu-bundle/, git-ignored); it receives
#                l2face-gpu.tar.xz and MANIFEST (the archive's files, sizes, sha256, commit, flags)
#   --build-dir  the CMake build directory (default build-gpu-bundle/, ccache on)
#   --limit-mib  fail when the archive is larger (default 60: the device tool carries 64 MiB with
#                the working tree)
#   --no-mpi     leave OpenMPI's launcher, plugins and help files out (check 7 is then NOT RUN)
# Libraries the GPU machine takes from its own python's site-packages, never bundled: torch/lib
# (libtorch*, libc10*, libgomp, libshm) and nvidia/*/lib (libcudart, cuBLAS, cuDNN, NCCL, ...);
# the driver (libcuda, libnvidia*) and glibc/libstdc++/libgcc come from the machine itself.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.gpu-bundle BUILD=build-gpu-bundle LIMIT_MIB=60 WITH_MPI=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    --limit-mib) LIMIT_MIB="$2"; shift 2 ;;
    --no-mpi) WITH_MPI=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_bundle.sh: unknown argument '$1' (--help)" >&2; exit 2 ;;
  esac
done
PY=.venv/bin/python
[ -x "$PY" ] || { echo "gpu_bundle.sh: no .venv/bin/python (scripts/bootstrap.sh)" >&2; exit 1; }
SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
TORCH_LIB="$SITE/torch/lib"
# The test binaries with CUDA paths (tests that use torch::kCUDA, cuda* or NCCL).
UNIT_TESTS=(trainer_test comm_test)
MPI_TESTS=(comm_nccl_test)
PROGRAMS=(l2face step_bench classifier_bench)
export CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}"
t_start=$(date +%s)

configure() {
  local flags=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DL2FACE_CUDA=ON -DL2FACE_BUILD_TESTS=ON
               -DCMAKE_CUDA_ARCHITECTURES=90 -DTORCH_CUDA_ARCH_LIST=9.0)
  BUILD_FLAGS="${flags[*]}"
  mkdir -p "$BUILD"
  TORCH_CUDA_ARCH_LIST=9.0 cmake -S . -B "$BUILD" "${flags[@]}" > "$BUILD/configure.log" 2>&1 \
    || { tail -30 "$BUILD/configure.log"; echo "gpu_bundle.sh: configure failed" >&2; exit 1; }
  grep -q 'CUDA ON, NCCL ON' "$BUILD/configure.log" \
    || { echo "gpu_bundle.sh: the build has no CUDA/NCCL paths ($BUILD/configure.log)" >&2; exit 1; }
}

build() {
  local t=() n
  for n in "${PROGRAMS[@]}" "${UNIT_TESTS[@]}" "${MPI_TESTS[@]}"; do t+=(--target "$n"); done
  TORCH_CUDA_ARCH_LIST=9.0 cmake --build "$BUILD" -j "${JOBS:-$(nproc)}" "${t[@]}"
}

# Whether a resolved library comes with the GPU machine's torch wheel, its driver or its libc.
provided_elsewhere() {
  local path="$1" name
  name=$(basename "$path")
  case "$path" in "$TORCH_LIB"/*|"$SITE"/nvidia/*) return 0 ;; esac
  case "$name" in
    libtorch*|libc10*|libcuda.so*|libnvidia*|libnccl*|libcudart*|libcublas*|libcudnn*) return 0 ;;
    libc.so*|libm.so*|libdl.so*|librt.so*|libpthread.so*|libutil.so*|ld-linux*|libresolv.so*) return 0 ;;
    libstdc++.so*|libgcc_s.so*) return 0 ;;
  esac
  return 1
}

# Copies every library that the given ELF files resolve outside the provided set into DIR.
copy_libs() {
  local dir="$1"; shift
  local f line path
  for f in "$@"; do
    while read -r line; do
      path=$(awk '$2 == "=>" && $3 ~ /^\// {print $3}' <<<"$line")
      [ -n "$path" ] || continue
      provided_elsewhere "$path" && continue
      [ -f "$dir/$(basename "$path")" ] || cp -L "$path" "$dir/"
    done < <(ldd "$f")
  done
}

stage_binaries() {
  local stage="$1" n
  mkdir -p "$stage/bin" "$stage/lib" "$stage/tests"
  for n in "${PROGRAMS[@]}"; do cp "$BUILD/bin/$n" "$stage/bin/"; done
  for n in "${UNIT_TESTS[@]}" "${MPI_TESTS[@]}"; do cp "$BUILD/bin/$n" "$stage/tests/"; done
  strip --strip-all "$stage"/bin/* "$stage"/tests/*
  copy_libs "$stage/lib" "$stage"/bin/* "$stage"/tests/*
}

# OpenMPI: launcher, daemon, MCA plugins (and what they link), help files and its configuration.
stage_mpi() {
  local stage="$1" lib=/usr/lib/x86_64-linux-gnu
  [ "$WITH_MPI" = 1 ] || return 0
  command -v mpirun >/dev/null || { echo "gpu_bundle.sh: no mpirun here; use --no-mpi" >&2; exit 1; }
  mkdir -p "$stage/mpi/bin" "$stage/mpi/lib/openmpi3" "$stage/mpi/lib/pmix" "$stage/mpi/share" \
           "$stage/mpi/etc"
  cp -L "$(command -v mpirun)" "$(command -v orted)" "$stage/mpi/bin/"
  cp -L "$lib"/openmpi/lib/openmpi3/mca_*.so "$stage/mpi/lib/openmpi3/"
  cp -L "$lib"/pmix2/lib/pmix/*.so "$stage/mpi/lib/pmix/" 2>/dev/null || true
  cp -rL /usr/share/openmpi "$stage/mpi/share/"
  [ -d /usr/share/pmix ] && cp -rL /usr/share/pmix "$stage/mpi/share/"
  cp -rL /etc/openmpi/. "$stage/mpi/etc/"
  strip --strip-unneeded "$stage"/mpi/lib/*/*.so "$stage"/mpi/bin/* 2>/dev/null || true
  copy_libs "$stage/lib" "$stage"/mpi/bin/* "$stage"/mpi/lib/*/*.so
}

# The newest GLIBC_ and GLIBCXX_ symbol versions any bundled file needs: the GPU machine's C and
# C++ runtimes must be at least these (run.sh's ldd -r names what is missing).
glibc_needed() {
  find "$1" -type f -name '*' -exec objdump -T {} + 2>/dev/null \
    | grep -o 'GLIBC_[0-9.]*\|GLIBCXX_[0-9.]*' | sort -u -V \
    | awk -F_ '{v[$1] = $2} END {printf "GLIBC %s, GLIBCXX %s", v["GLIBC"], v["GLIBCXX"]}'
}

# The commit the bundle was built from (run.sh notes when the tree moved on), the build flags,
# and every file's size and sha256 (run.sh verifies them after unpacking).
write_manifest() {
  local stage="$1"
  {
    echo "# l2face GPU bundle"
    echo "commit: $(git rev-parse HEAD)$(git diff --quiet HEAD -- . ':!docs' || echo ' (dirty)')"
    echo "built: $(date -u +%FT%TZ)"
    echo "flags: $BUILD_FLAGS (strip --strip-all)"
    echo "torch: $("$PY" -c 'import torch; print(torch.__version__)')"
    echo "needs: $(glibc_needed "$stage") (the newest symbol versions the files use)"
    echo "# size sha256 path"
    (cd "$stage" && find . -type f ! -name MANIFEST | sort | while read -r f; do
       echo "$(stat -c %s "$f") $(sha256sum "$f" | cut -c1-64) ${f#./}"
     done)
  } > "$stage/MANIFEST"
}

pack() {
  local stage="$1" archive="$OUT/l2face-gpu.tar.xz" size limit
  mkdir -p "$OUT"
  rm -f "$OUT"/l2face-gpu.tar.*
  # xz: the GPU machine unpacks with python's tarfile, which reads xz without any extra program.
  tar -C "$stage" -cf - . | xz -9 -T0 > "$archive"
  cp "$stage/MANIFEST" "$OUT/MANIFEST"
  size=$(stat -c %s "$archive")
  limit=$((LIMIT_MIB * 1024 * 1024))
  echo "gpu_bundle.sh: $archive: $size bytes ($((size / 1024)) KiB; unpacked" \
       "$(du -sk "$stage" | cut -f1) KiB), built and packed in $(( $(date +%s) - t_start )) s"
  if [ "$size" -gt "$limit" ]; then
    echo "gpu_bundle.sh: FAILED: the bundle is over the limit of $LIMIT_MIB MiB" >&2
    exit 1
  fi
}

configure
build
STAGE=$(mktemp -d /tmp/l2face-bundle.XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
stage_binaries "$STAGE"
stage_mpi "$STAGE"
write_manifest "$STAGE"
pack "$STAGE"
