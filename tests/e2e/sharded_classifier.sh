#!/usr/bin/env bash
# e2e (label mpi): the sharded classifier trains exactly like the replicated one — the same loss
# at every step (2 ranks, l2_softmax with learned α and gradient clipping; arcface), the same model
# from 3 sharded ranks as from 1 replicated rank with the whole batch; sampling runs and reports.
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
MPI=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1)
rm -rf "$WORK"; mkdir -p "$WORK"
"$L2FACE" synth --out "$WORK/corpus" --identities 37 --images-per-identity 4 --eval-identities 4 \
  --eval-images-per-identity 3 --folds 2 --pairs-per-fold 2 --size 32 --seed 5 --threads 2 >/dev/null
common=(--set data.train="$WORK/corpus/train" --set data.image_size=32 --set data.workers=1
        --set model.norm=none --set model.dropout=0 --set model.width=8 --set model.embedding_dim=16
        --set optim.max_steps=8 --set optim.warmup_steps=0 --set optim.lr=0.05 --set run.threads=1
        --set monitoring.serve=false --set monitoring.log_every=1 --set checkpoint.every_steps=0)
run() {  # name ranks args...
  local name="$1" np="$2"; shift 2
  if [ "$np" = 1 ]; then
    "$L2FACE" train "${common[@]}" --set run.dir="$WORK/$name" "$@" > "$WORK/$name.log" 2>&1
  else
    "${MPI[@]}" -np "$np" "$L2FACE" train "${common[@]}" --set run.dir="$WORK/$name" "$@" \
      > "$WORK/$name.log" 2>&1
  fi || { echo "run $name failed:"; tail -20 "$WORK/$name.log"; exit 1; }
}
l2=(--set head.type=l2_softmax --set head.alpha_learnable=true --set optim.clip_grad_norm=0.5
    --set data.batch_size=6)
arc=(--set head.type=arcface --set head.scale=16 --set data.batch_size=6)
run l2_rep 2 "${l2[@]}" --set classifier.parallel=replicated
run l2_shard 2 "${l2[@]}" --set classifier.parallel=sharded
run arc_rep 2 "${arc[@]}" --set classifier.parallel=replicated
run arc_shard 2 "${arc[@]}" --set classifier.parallel=sharded
run one_rep 1 --set data.batch_size=12 --set classifier.parallel=replicated
run three_shard 3 --set data.batch_size=4 --set classifier.parallel=sharded
run sampled 2 --set data.batch_size=6 --set classifier.sample_rate=0.5
grep -q "classifier: sharded over 2 rank(s); rank 0 owns classes \[0, 19) of 37" "$WORK/l2_shard.log"
grep -q "classifier memory per rank: weights" "$WORK/l2_shard.log"
grep -q "samples up to" "$WORK/sampled.log"
if grep -q "classifier: sharded" "$WORK/l2_rep.log"; then echo "replicated run sharded"; exit 1; fi
for p in one_rep three_shard; do
  "$L2FACE" embed --checkpoint "$WORK/$p" --images "$WORK/corpus/eval" --out "$WORK/$p.csv" \
    --features "$WORK/$p.npy" > /dev/null
done
"$PY" - "$WORK" <<'PY'
import json, math, sys, numpy as np
w = sys.argv[1]
def losses(name):
    return [json.loads(l)["loss"] for l in open(f"{w}/{name}/train_log.jsonl")]
for rep, shard in (("l2_rep", "l2_shard"), ("arc_rep", "arc_shard")):
    a, b = losses(rep), losses(shard)
    assert len(a) == len(b) == 8, (len(a), len(b))
    rel = max(abs(x - y) / max(1.0, abs(x)) for x, y in zip(a, b))
    print(f"{shard}: loss per step {['%.5f' % x for x in b]}; max relative difference {rel:.1e}")
    assert rel < 1e-6, (a, b)  # fp32 reduction order only: a few ulp
    assert a[0] != a[-1]  # it trained
ref, f = np.load(f"{w}/one_rep.npy"), np.load(f"{w}/three_shard.npy")
rel = np.abs(f - ref).max() / np.abs(ref).max()
print(f"3 sharded ranks vs 1 replicated rank: max relative embedding difference {rel:.2e}")
assert rel < 1e-6, rel  # fp32 reduction order only: a few ulp after 8 steps
s = losses("sampled")
assert all(math.isfinite(x) for x in s), s
PY
echo "e2e sharded classifier ok"
