#!/usr/bin/env bash
# e2e (label mpi): `mpirun -np 2 l2face eval` shards the embedding over the ranks and gathers the
# features; rank 0's report equals one process's field by field, exactly (wall times aside), for
# the official IJB layout (1:1 and 1:N), a pairs file, a templates set and all-vs-all over the
# evaluation folder; rank 1 prints nothing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$L2FACE" synth --out "$WORK/corpus" --identities 10 --images-per-identity 6 --eval-identities 12 \
  --eval-images-per-identity 5 --templates-per-subject 2 --folds 2 --pairs-per-fold 6 --size 32 \
  --seed 5 --threads 2 --ijb IJBB >/dev/null
"$L2FACE" train --set run.dir="$WORK/run" --set data.train="$WORK/corpus/train" \
  --set data.batch_size=8 --set data.workers=1 --set data.image_size=32 \
  --set model.embedding_dim=16 --set model.width=8 --set optim.max_steps=4 \
  --set optim.warmup_steps=1 --set monitoring.log_every=2 --set monitoring.serve=false >/dev/null
EV="$WORK/corpus/eval"
# 60 faces in batches of 24: two on rank 0, the short last one on rank 1. On the CPU a batch of 24
# gives other features than a batch of 6, so shards that cut through a batch (30 + 30) would show.
sets=(--ijb "$WORK/corpus/ijb" --target IJBB --pairs "$EV/pairs.txt" --templates "$EV"
      --all-vs-all "$EV" --media-pool --batch-size 24 --far 0.1 --fpir 0.2)
"$L2FACE" eval --checkpoint "$WORK/run" "${sets[@]}" --out "$WORK/p1.json" > "$WORK/p1.out"
"${MPI[@]}" -np 2 "$L2FACE" eval --checkpoint "$WORK/run" "${sets[@]}" --out "$WORK/p2.json" \
  > "$WORK/p2.out" 2> "$WORK/p2.err" || fail "2 ranks: $(cat "$WORK/p2.out" "$WORK/p2.err")"
grep -q "2 ranks" "$WORK/p2.out" || fail "no rank count in: $(cat "$WORK/p2.out")"
[ "$(grep -c '^checkpoint ' "$WORK/p2.out")" -eq 1 ] || fail "more than one rank printed"
"$PY" - "$WORK/p1.json" "$WORK/p2.json" <<'PY'
import json, sys
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
one, two = (json.load(open(p))["reports"] for p in sys.argv[1:3])
assert [r["name"] for r in one] == ["pairs.txt", "templates:eval", "all-vs-all:eval", "IJBB"], \
    [r["name"] for r in one]
assert one[2]["positives"] == 12 * 10 and one[2]["negatives"] == 60 * 59 // 2 - 120, one[2]["negatives"]
assert one[3]["identification"][0]["gallery"] == "S1"
for a, b in zip(one, two):
    a, b = strip(a), strip(b)
    for key in a:
        assert a[key] == b[key], (a["name"], key, a[key], b[key])
    assert a.keys() == b.keys()
print("1 rank == 2 ranks:", [(r["name"], r["auc"]) for r in one])
PY
echo "eval_distributed: OK"
