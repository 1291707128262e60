# The e2e scripts' shared start (sourced): arguments (l2face binary, work directory, source tree),
# .venv's Python, the mpirun command line for tests run as root, a fresh work directory, fail(),
# and train NAME RANKS EXPECTED-RC ARGS...: `l2face train "${common[@]}"` into WORK/NAME (log
# WORK/NAME.log) on RANKS ranks, expecting an exit code or "killed" (any non-zero).
L2FACE="$1"; WORK="$2"; SRC="$3"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
MPI=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1)
rm -rf "$WORK"; mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

# small_run_setup: a 23-identity corpus of 32-px images in WORK/corpus, and `common` holding the
# small training set-up the resume tests share (each script appends its own steps and checkpoints).
small_run_setup() {
  "$L2FACE" synth --out "$WORK/corpus" --identities 23 --images-per-identity 4 --eval-identities 4 \
    --eval-images-per-identity 3 --folds 2 --pairs-per-fold 2 --size 32 --seed 3 --threads 2 >/dev/null
  common=(--set data.train="$WORK/corpus/train" --set data.image_size=32 --set data.workers=1
          --set model.width=8 --set model.embedding_dim=16 --set optim.warmup_steps=2
          --set optim.lr=0.05 --set run.threads=1 --set monitoring.serve=false)
}

train() {  # name ranks expected-rc args...
  local name="$1" np="$2" want="$3"; shift 3
  local rc=0
  if [ "$np" = 1 ]; then
    "$L2FACE" train "${common[@]}" --set run.dir="$WORK/$name" "$@" >> "$WORK/$name.log" 2>&1 || rc=$?
  else
    "${MPI[@]}" -np "$np" "$L2FACE" train "${common[@]}" --set run.dir="$WORK/$name" "$@" \
      >> "$WORK/$name.log" 2>&1 || rc=$?
  fi
  if [ "$want" = "killed" ]; then
    [ "$rc" != 0 ] || { echo "$name: expected the injected SIGKILL"; exit 1; }
  elif [ "$rc" != "$want" ]; then
    echo "$name: exit $rc, expected $want"; tail -20 "$WORK/$name.log"; exit 1
  fi
}
