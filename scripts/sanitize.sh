#!/usr/bin/env bash
# Builds test targets with a sanitizer and runs them:
#   scripts/sanitize.sh address unit mpi        -> build-asan/ (AddressSanitizer + UBSan, leaks too)
#   scripts/sanitize.sh thread loader comm      -> build-tsan/ (ThreadSanitizer)
#   scripts/sanitize.sh thread data_test        -> any test target by name
# Suites (torch-free binaries; see docs/reliability.md for why the torch-linked ones are not run):
#   unit    comm_test data_test eval_test monitoring_test config_test checkpoint_test hostile_test
#   mpi     comm_mpi_test checkpoint_mpi_test, each under mpirun on 1, 2 and 3 ranks
#   loader  data_test (the prefetching loader's worker threads, the decoder per thread)
#   comm    comm_test (TCP store server thread, watchdog, GradSync) and comm_mpi_test (the MPI
#           backend's comm thread), plus hostile_test (the servers under concurrent clients)
# Only the named targets (and what they link) are built. A target whose name ends in _mpi_test runs
# under mpirun. Extra gtest arguments: GTEST_FILTER etc. in the environment. Environment: JOBS
# (default nproc), BUILD_DIR (overrides the directory), MPI_RANKS (default "1 2 3").
# Suppressions for the uninstrumented MPI libraries: scripts/sanitizers/.
set -euo pipefail
cd "$(dirname "$0")/.."
usage() { echo "usage: scripts/sanitize.sh thread|address SUITE|TARGET..." >&2; exit 2; }
[ $# -ge 2 ] || usage
kind="$1"; shift
case "$kind" in
  thread) dir="${BUILD_DIR:-build-tsan}" ;;
  address) dir="${BUILD_DIR:-build-asan}" ;;
  *) usage ;;
esac
targets=()
for t in "$@"; do
  case "$t" in
    unit) targets+=(comm_test data_test eval_test monitoring_test config_test checkpoint_test hostile_test) ;;
    mpi) targets+=(comm_mpi_test checkpoint_mpi_test) ;;
    loader) targets+=(data_test) ;;
    comm) targets+=(comm_test comm_mpi_test hostile_test) ;;
    *) targets+=("$t") ;;
  esac
done
# Each target once, in order.
mapfile -t targets < <(printf '%s\n' "${targets[@]}" | awk '!seen[$0]++')

export CCACHE_DIR="${CCACHE_DIR:-$PWD/.ccache}"
if [ ! -f "$dir/build.ninja" ]; then
  # No precompiled torch header: it would be built with the sanitizer flags for nothing.
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DL2FACE_SANITIZE="$kind" \
        -DL2FACE_USE_PCH=OFF >/dev/null
fi
build_args=()
for t in "${targets[@]}"; do build_args+=(--target "$t"); done
cmake --build "$dir" -j "${JOBS:-$(nproc)}" "${build_args[@]}"

supp="$PWD/scripts/sanitizers"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 suppressions=$supp/tsan.supp}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$supp/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# OpenMPI: yield while waiting (ranks may outnumber cores). Under ASan, MPI binaries get
# keep_dlopened.c preloaded, so that OpenMPI's plugins stay loaded at exit and LeakSanitizer can
# attribute (and lsan.supp suppress) what they allocate.
export OMPI_MCA_mpi_yield_when_idle=1
mpi_preload=""
if [ "$kind" = address ]; then
  cc -shared -fPIC -O2 -o "$dir/libkeep_dlopened.so" "$supp/keep_dlopened.c"
  mpi_preload="$dir/libkeep_dlopened.so"
  export ASAN_OPTIONS="$ASAN_OPTIONS:verify_asan_link_order=0"
fi
# OpenMPI's libraries are built without frame pointers: the fast unwinder loses the allocating
# frames there, so leaks from them could not be matched; MPI runs unwind the slow, exact way.
mpi_asan_options="$ASAN_OPTIONS:fast_unwind_on_malloc=0"
status=0
for t in "${targets[@]}"; do
  if [[ "$t" == *_mpi_test ]]; then
    for np in ${MPI_RANKS:-1 2 3}; do
      echo "== $kind: $t on $np ranks"
      if ! OMPI_MCA_orte_tmpdir_base="/tmp/l2face-ompi/sanitize-$t.np$np" \
           ASAN_OPTIONS="$mpi_asan_options" mpirun -np "$np" --oversubscribe --allow-run-as-root \
             -x TSAN_OPTIONS -x ASAN_OPTIONS -x LSAN_OPTIONS -x UBSAN_OPTIONS \
             -x OMPI_MCA_mpi_yield_when_idle ${mpi_preload:+-x LD_PRELOAD="$mpi_preload"} \
             "$dir/bin/$t"; then
        echo "== $kind: $t on $np ranks FAILED" >&2
        status=1
      fi
    done
    continue
  fi
  echo "== $kind: $t"
  if ! "$dir/bin/$t"; then
    echo "== $kind: $t FAILED" >&2
    status=1
  fi
done
exit "$status"
