# bench/gpu/run.sh's set-up, sourced: the python and its torch libraries, the bundle (or the
# fallback build on this machine), the libraries every binary resolves, MPI, and the final table.

# PY's torch: TORCH_LIB and the nvidia/*/lib folders beside it (libcudart, cuBLAS, cuDNN, NCCL).
find_python() {
  if [ "$DRY" = 1 ] && [ "$PY_GIVEN" = 0 ] && ! "$PY" -c 'import torch' 2>/dev/null \
     && [ -x "$SRC/.venv/bin/python" ]; then
    PY="$SRC/.venv/bin/python"
    log "dry run: $PY for torch ('python3' has none here)"
  fi
  command -v "$PY" >/dev/null || { echo "bench/gpu/run.sh: no python '$PY' (--python)" >&2; return 1; }
  local about
  about=$("$PY" -c 'import os, torch
print(os.path.join(os.path.dirname(torch.__file__), "lib"))
print(torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())') \
    || { echo "bench/gpu/run.sh: '$PY' cannot import torch (--python)" >&2; return 1; }
  TORCH_LIB=$(head -1 <<<"$about")
  NV_LIBS=$(ls -d "$(dirname "$(dirname "$TORCH_LIB")")"/nvidia/*/lib 2>/dev/null | paste -sd: -)
  log "torch $(tail -1 <<<"$about") ($TORCH_LIB)"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
    | tee -a "$OUT/summary.txt"
  return 0
}

# The bundle unpacked under a fresh folder of /tmp, removed at exit (tar.xz read by python's tarfile: no zstd or xz binary needed),
# its MANIFEST's checksums verified; BIN and TESTS point into it.
unpack_bundle() {
  local archive="$BUNDLE/l2face-gpu.tar.xz"
  [ -f "$archive" ] || { echo "bench/gpu/run.sh: no $archive (scripts/gpu_bundle.sh)" >&2; return 1; }
  B=$(mktemp -d "${TMPDIR:-/tmp}/l2face-bundle.XXXXXX") || return 1
  trap 'rm -rf "$B"' EXIT
  python3 - "$archive" "$B" <<'PY' || return 1
import hashlib, os, sys, tarfile
archive, dest = sys.argv[1], sys.argv[2]
with tarfile.open(archive, "r:xz") as t:
    t.extractall(dest)
bad = []
for line in open(os.path.join(dest, "MANIFEST")):
    if line.startswith("#") or ":" in line.split(" ")[0]:
        continue
    size, digest, path = line.rstrip("\n").split(" ", 2)
    data = open(os.path.join(dest, path), "rb").read()
    if len(data) != int(size) or hashlib.sha256(data).hexdigest() != digest:
        bad.append(path)
if bad:
    sys.exit(f"bench/gpu/run.sh: checksum mismatch in the bundle: {', '.join(bad[:5])}")
PY
  local commit
  commit=$(sed -n 's/^commit: \([0-9a-f]*\).*/\1/p' "$B/MANIFEST")
  log "bundle $(du -sh "$archive" | cut -f1) packed, $(du -sh "$B" | cut -f1) unpacked, commit $commit"
  [ "$commit" = "$(git rev-parse HEAD 2>/dev/null)" ] \
    || log "note: the bundle was built from $commit, the tree is at $(git rev-parse --short HEAD 2>/dev/null)"
  BIN="$B/bin" TESTS="$B/tests"
  # The reference's python gets only TurboJPEG (its loader's ctypes decoder), not the rest of lib/.
  mkdir -p "$B/pylib" && ln -s ../lib/libturbojpeg.so.0 "$B/pylib/"
  PY_LD_LIBRARY_PATH="$B/pylib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$B/lib:$TORCH_LIB:$NV_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

# Fallback without a bundle: the Debian packages of .gpu-deps/ unpacked under a scratch prefix,
# then CMake against PY's torch (a dry run configures only, with /usr hidden from CMake's
# searches when .gpu-deps/ is present, to prove the scratch prefix is enough).
build_here() {
  local deps=/tmp/l2face-deps build="build-gpu" torch_prefix f
  local targets=(l2face step_bench classifier_bench trainer_test comm_test comm_nccl_test)
  mkdir -p "$deps"
  shopt -s nullglob; local debs=(.gpu-deps/*.deb); shopt -u nullglob
  for f in "${debs[@]}"; do dpkg -x "$f" "$deps"; done
  [ ${#debs[@]} -eq 0 ] || log "unpacked ${#debs[@]} packages from .gpu-deps into $deps"
  torch_prefix=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)') || return 1
  local nccl_home
  nccl_home=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null)
  [ "$DRY" = 1 ] && build="$OUT/build-gpu-dry"
  local args=(-S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DL2FACE_USE_CCACHE=OFF
              -DTorch_DIR="$torch_prefix/Torch" -DCMAKE_PREFIX_PATH="$torch_prefix;$deps/usr"
              -DL2FACE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90)
  [ -n "$nccl_home" ] && args+=(-DNCCL_INCLUDE_DIR="$nccl_home/include"
                                -DNCCL_LIBRARY="$(ls "$nccl_home"/lib/libnccl.so* | head -1)")
  [ "$DRY" = 1 ] && [ ${#debs[@]} -gt 0 ] && args+=(-DCMAKE_IGNORE_PREFIX_PATH=/usr)
  echo "cmake ${args[*]}" > "$L/configure.log"
  TORCH_CUDA_ARCH_LIST=9.0 cmake "${args[@]}" >> "$L/configure.log" 2>&1 \
    || { tail -20 "$L/configure.log"; log "configure failed ($L/configure.log)"; return 1; }
  grep "l2face:" "$L/configure.log" | tee -a "$OUT/summary.txt"
  grep -E "^TURBOJPEG_(INCLUDE_DIR|LIBRARY):" "$build/CMakeCache.txt" | tee -a "$OUT/summary.txt"
  BIN="$build/bin" TESTS="$build/bin"
  PY_LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export LD_LIBRARY_PATH="$deps/usr/lib/x86_64-linux-gnu:$TORCH_LIB:$NV_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  if [ "$DRY" = 1 ]; then
    log "dry run: configured; a real run builds: cmake --build $build --target ${targets[*]}"
    return 0
  fi
  local t0=$SECONDS
  TORCH_CUDA_ARCH_LIST=9.0 cmake --build "$build" -j "$(nproc)" \
    $(printf -- '--target %s ' "${targets[@]}") > "$L/build.log" 2>&1 \
    || { tail -30 "$L/build.log"; log "build failed ($L/build.log)"; return 1; }
  log "built in $((SECONDS - t0)) s"
}

# Every binary's libraries: each must resolve, and only to the bundle, PY's torch and nvidia
# folders, or the machine's C/C++ runtime and GPU driver (never a development-machine path).
inspect_libraries() {
  [ -n "$BUNDLE" ] || return 0
  local report="$L/ldd.txt" f bad=0
  : > "$report"
  # Programs with -r: their undefined symbols too (e.g. an NCCL older than the headers built with).
  for f in "$B"/bin/* "$B"/tests/* "$B"/mpi/bin/* "$B"/mpi/lib/*/*.so; do
    [ -f "$f" ] || continue
    case "$f" in "$B"/bin/*|"$B"/tests/*) ldd -r "$f" ;; *) ldd "$f" ;; esac 2>&1 \
      | sed "s|^|${f#$B/}: |" >> "$report"
  done
  python3 - "$report" "$B" "$TORCH_LIB" "$NV_LIBS" <<'PY' || bad=1
import os, re, sys
report, bundle, torch_lib, nv = sys.argv[1:5]
ok_dirs = [bundle, torch_lib] + [d for d in nv.split(":") if d]
system = re.compile(r"^(libc|libm|libdl|librt|libpthread|libutil|libresolv|libstdc\+\+|libgcc_s|"
                    r"ld-linux-x86-64|libcuda|libnvidia[-\w]*)\.so")
bad = []
for line in open(report):
    who, _, rest = line.partition(": ")
    if rest.startswith("undefined symbol") or ("version `" in rest and "not found" in rest):
        bad.append(f"{who}: {rest.strip()[:120]}")
        continue
    m = re.match(r"\s*(\S+) => (\S+)", rest)
    if not m:
        continue
    name, path = m.groups()
    if path == "not":
        bad.append(f"{who}: {name} not found")
    elif not system.match(name) and not any(os.path.realpath(path).startswith(
            os.path.realpath(d) + "/") or path.startswith(d + "/") for d in ok_dirs):
        bad.append(f"{who}: {name} from {path}")
for b in bad[:12]:
    print(f"  {b}")
print(f"libraries: {'all resolve from the bundle, torch and the system runtime' if not bad else str(len(bad)) + ' unresolved or resolved outside the bundle'}")
sys.exit(1 if bad else 0)
PY
  if [ "$bad" = 1 ]; then log "ldd: FAILED (see above, $report)"; return 1; fi
  log "ldd: every binary resolves ($report)"
}

# MPIRUN: the bundle's OpenMPI (relocated with OPAL_* variables), else the machine's, else none.
find_mpi() {
  MPIRUN=()
  if [ -n "$BUNDLE" ] && [ -x "$B/mpi/bin/mpirun" ]; then
    export OPAL_PREFIX="$B/mpi" OPAL_EXEC_PREFIX="$B/mpi" OPAL_BINDIR="$B/mpi/bin"
    export OPAL_LIBDIR="$B/lib" OPAL_PKGLIBDIR="$B/mpi/lib/openmpi3" OPAL_DATADIR="$B/mpi/share"
    export OPAL_PKGDATADIR="$B/mpi/share/openmpi" OPAL_SYSCONFDIR="$B/mpi/etc"
    export OMPI_MCA_mca_base_component_path="$B/mpi/lib/openmpi3"
    [ -d "$B/mpi/lib/pmix" ] && export PMIX_MCA_mca_base_component_path="$B/mpi/lib/pmix"
    export PATH="$B/mpi/bin:$PATH"
    MPIRUN=("$B/mpi/bin/mpirun")
  elif command -v mpirun >/dev/null; then
    MPIRUN=("$(command -v mpirun)")
  fi
  MPI_NOTE="no OpenMPI in the bundle or on the machine"
  if [ ${#MPIRUN[@]} -eq 0 ]; then
    log "MPI: none in the bundle or on the machine (check 7 is NOT RUN)"
    return 0
  fi
  MPIRUN+=(--allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1
           -x LD_LIBRARY_PATH -x PATH)
  export OMPI_MCA_orte_tmpdir_base=/tmp/l2face-gpu-ompi
  mkdir -p /tmp/l2face-gpu-ompi
  # A two-process launch of a trivial program proves the launcher, its plugins and libraries
  # (in a dry run: the bundle's launcher only).
  [ "$DRY" = 1 ] && [ "${MPIRUN[0]}" != "$B/mpi/bin/mpirun" ] && { log "MPI: ${MPIRUN[0]}"; return 0; }
  if ! timeout 30 "${MPIRUN[@]}" -np 2 true > "$L/mpi_probe.log" 2>&1; then
    MPI_NOTE="${MPIRUN[0]} cannot launch 2 processes: $(tail -1 "$L/mpi_probe.log" | cut -c1-120)"
    log "MPI: $MPI_NOTE"
    MPIRUN=()
    return 0
  fi
  log "MPI: ${MPIRUN[0]} (launches 2 processes)"
}

print_table() {
  local n failed=0
  {
    echo "| # | check | result | reason |"
    echo "|---|---|---|---|"
    for n in 1 2 3 4 5 6 7; do
      echo "| $n | ${NAMES[$n]} | ${STATUS[$n]:-NOT RUN} | ${REASON[$n]:-} |"
      [ "${STATUS[$n]:-}" = FAIL ] && failed=1
    done
  } > "$OUT/table.md"
  echo
  tee -a "$OUT/summary.txt" < "$OUT/table.md"
  return "$failed"
}
