# The e2e scripts' shared start (sourced): arguments (l2face binary, work directory, source tree),
# .venv's Python, the mpirun command line for tests run as root, a fresh work directory, fail().
L2FACE="$1"; WORK="$2"; SRC="$3"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
MPI=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1)
rm -rf "$WORK"; mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }
