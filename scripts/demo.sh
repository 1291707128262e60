#!/usr/bin/env bash
# The demo: bootstrap, build, synthesize a small face corpus, train the L2-constrained softmax on it,
# evaluate verification on held-out identities, and print a results table. About 1 min on 2 cores
# once built (bootstrap and the first build take a few minutes more).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
scripts/build.sh l2face
L2FACE=build/bin/l2face
DEMO="${DEMO_DIR:-demo}"
STEPS="${DEMO_STEPS:-}"
rm -rf "$DEMO/run"
if [ ! -f "$DEMO/corpus/meta.json" ]; then
  rm -rf "$DEMO/corpus"
  # 500 training identities, 200 disjoint evaluation identities (6000 LFW-style pairs), 64 px,
  # variation 1.5x the generator's default so the verification task is not saturated.
  $L2FACE synth --out "$DEMO/corpus" --identities 500 --images-per-identity 24 \
    --eval-identities 200 --eval-images-per-identity 10 --pairs-per-fold 300 --size 64 \
    --difficulty 1.5 --seed 7
fi
$L2FACE data stats "$DEMO/corpus/train"
extra=()
[ -n "$STEPS" ] && extra+=(--set "optim.max_steps=$STEPS")
# Two data-parallel ranks (MPI), 32 images each per step: the global batch of 64 of configs/demo.yaml.
RANKS="${DEMO_RANKS:-2}"
mpi=(mpirun -np "$RANKS" --bind-to none --oversubscribe --mca mpi_yield_when_idle 1)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
"${mpi[@]}" $L2FACE train --config configs/demo.yaml --set "data.train=$DEMO/corpus/train" \
  --set "run.dir=$DEMO/run" --set "data.batch_size=$((64 / RANKS))" --set run.threads=1 \
  --set data.workers=1 "${extra[@]}"
$L2FACE eval --checkpoint "$DEMO/run" --pairs "$DEMO/corpus/eval/pairs.txt" --out "$DEMO/run/eval.json"
.venv/bin/python - "$DEMO/run/summary.json" "$DEMO/run/eval.json" "$t0" <<'PY'
import json, sys, time
s = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))
tar = {f"{t['far']:g}": t['tar'] for t in e['tar_at_far']}
rows = [
    ("training steps / ranks", f'{s["steps"]} / {s["world_size"]}'),
    ("identities / images", f'{s["num_classes"]} / {s["num_images"]}'),
    ("alpha (alpha_low)", f'{s["alpha"]:.2f} ({s["alpha_low"]:.2f})'),
    ("final loss / train acc", f'{s["final_loss"]:.3f} / {100*s["train_accuracy"]:.1f} %'),
    ("training images/s", f'{s["images_per_second"]:.0f}'),
    ("verification accuracy (10-fold)", f'{100*e["accuracy_mean"]:.2f} % ± {100*e["accuracy_std"]:.2f}'),
    ("TAR @ FAR 1e-2", "n/a" if tar.get("0.01") is None else f'{100*tar["0.01"]:.1f} %'),
    ("TAR @ FAR 1e-3", "n/a" if tar.get("0.001") is None else f'{100*tar["0.001"]:.1f} %'),
    ("held-out pairs", e["pairs"]),
    ("wall time", f'{time.time() - float(sys.argv[3]):.0f} s'),
]
w = max(len(k) for k, _ in rows)
print("\nl2face demo results (chance accuracy = 50 %)")
for k, v in rows: print(f"  {k:<{w}}  {v}")
PY
