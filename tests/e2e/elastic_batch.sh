#!/usr/bin/env bash
# e2e (label mpi): --keep-global-batch continues the same computation on another number of ranks.
# A reference run (2 ranks x 4 images, global batch S = 8, 12 steps over 92 images: epochs of 11
# optimizer steps, a tail of 4, one epoch boundary crossed) against the same run killed after its
# step-4 checkpoint, resumed on 1 rank (4 images x 2 accumulation steps), killed after step 8,
# refused on 3 ranks (S = 8 cannot be split: exit 2 naming the rank counts and global batches that
# can, the newest checkpoint untouched) and finished on 4 ranks (2 images each); and a second
# chain resumed from step 4 on 2 ranks of 2 images x 2 steps. The final embeddings equal the
# reference's within 1e-6 relative (fp32 reassociation only). Checks summary.json's batch fields,
# RUN_DIR/progress.json and L2FACE_RESTARTS.
set -euo pipefail
source "$(dirname "$0")/common.sh"
small_run_setup
common+=(--set optim.max_steps=12 --set monitoring.log_every=5 --set checkpoint.every_steps=4
        --set checkpoint.async=false --set model.norm=none --set model.dropout=0
        --set classifier.parallel=auto --set classifier.shard_min_classes=2)
progress() {  # name: the fields of RUN_DIR/progress.json, the times checked and left out
  "$PY" -c 'import json,sys; p=json.load(open(sys.argv[1])); t=p.pop("time"); f=p.pop("first_step_time"); assert 1.7e9 < f <= t, p; print(" ".join(f"{k}={p[k]}" for k in sorted(p)))' \
    "$WORK/$1/progress.json"
}
expect_progress() {  # name expected
  local got; got=$(progress "$1")
  [ "$got" = "$2" ] || { echo "$1: progress.json $got, expected $2"; exit 1; }
}

# The uninterrupted reference: 2 ranks x 4 images.
train ref 2 0 --set data.batch_size=4
expect_progress ref "accumulate_steps=1 batch_per_rank=4 global_batch=8 restarts=0 started_step=0 step=12 world_size=2"

# 2 ranks, killed after the step-4 checkpoint; progress.json holds its first step.
L2FACE_FAULT="train.kill_after_save@step4" train chain 2 killed --set data.batch_size=4
[ "$(cat "$WORK/chain/checkpoints/LATEST")" = step_4 ]
expect_progress chain "accumulate_steps=1 batch_per_rank=4 global_batch=8 restarts=0 started_step=0 step=1 world_size=2"
cp -r "$WORK/chain" "$WORK/chain2"

# 1 rank (at most 4 images): 4 x 2 accumulation steps; killed after step 8.
L2FACE_RESTARTS=1 L2FACE_FAULT="train.kill_after_save@step8" train chain 1 killed \
  --set data.batch_size=4 --resume auto --keep-global-batch
grep -q "resuming from .*step_4 (step 4, 2 rank(s))" "$WORK/chain.log"
grep -q "global batch 8 over 1 rank(s): 4 images per rank x 2 accumulation step(s) (kept from checkpoint step_4)" "$WORK/chain.log"
[ "$(cat "$WORK/chain/checkpoints/LATEST")" = step_8 ]
expect_progress chain "accumulate_steps=2 batch_per_rank=4 global_batch=8 restarts=1 started_step=4 step=5 world_size=1"

# 3 ranks cannot split 8 images: exit 2 naming the options; the newest checkpoint is untouched.
before=$(cd "$WORK/chain/checkpoints" && cat LATEST && ls -l --time-style=+%s.%N step_8 && md5sum step_8/*)
progress_before=$(cat "$WORK/chain/progress.json")
L2FACE_RESTARTS=2 train refused 3 2 --set data.batch_size=4 --resume "$WORK/chain" --keep-global-batch \
  --set run.dir="$WORK/chain"
grep -q "a global batch of 8 images per optimizer step (kept from checkpoint step_8) cannot be split over 3 rank(s)" "$WORK/refused.log"
grep -q "Rank counts up to 6 that can run it unchanged: 1, 2 or 4" "$WORK/refused.log"
grep -q "set data.global_batch to 6 or 9" "$WORK/refused.log"
after=$(cd "$WORK/chain/checkpoints" && cat LATEST && ls -l --time-style=+%s.%N step_8 && md5sum step_8/*)
[ "$before" = "$after" ] || { echo "the refused run changed the newest checkpoint"; exit 1; }
[ "$(cat "$WORK/chain/progress.json")" = "$progress_before" ] || { echo "the refused run wrote progress.json"; exit 1; }

# 4 ranks (still at most 4 images each): 2 images x 1 step, to the end.
L2FACE_RESTARTS=2 train chain 4 0 --set data.batch_size=4 --resume auto --keep-global-batch
grep -q "global batch 8 over 4 rank(s): 2 images per rank x 1 accumulation step(s) (kept from checkpoint step_8)" "$WORK/chain.log"
expect_progress chain "accumulate_steps=1 batch_per_rank=2 global_batch=8 restarts=2 started_step=8 step=12 world_size=4"

# The second chain: from step 4 on 2 ranks of at most 2 images: 2 x 2 accumulation steps.
train chain2 2 0 --set data.batch_size=2 --resume auto --keep-global-batch
grep -q "global batch 8 over 2 rank(s): 2 images per rank x 2 accumulation step(s) (kept from checkpoint step_4)" "$WORK/chain2.log"

# Not a number of restarts: exit 2 naming the variable.
rc=0; L2FACE_RESTARTS=two "$L2FACE" train "${common[@]}" --set run.dir="$WORK/bad" > "$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" = 2 ] && grep -q "L2FACE_RESTARTS='two'" "$WORK/bad.log" || {
  echo "L2FACE_RESTARTS=two: exit $rc"; cat "$WORK/bad.log"; exit 1; }

if grep -q "are skipped" "$WORK/chain.log" "$WORK/chain2.log"; then
  echo "samples were skipped although the global batch was kept"; exit 1
fi
for p in ref chain chain2; do
  "$L2FACE" embed --checkpoint "$WORK/$p" --images "$WORK/corpus/eval" --out "$WORK/$p.csv" \
    --features "$WORK/$p.npy" > /dev/null
done
"$PY" - "$WORK" <<'PY'
import json, sys, numpy as np
w = sys.argv[1]
ref = np.load(f"{w}/ref.npy")
assert np.abs(ref).max() > 1e-3
want = {"chain": dict(world_size=4, global_batch=8, batch_per_rank=2, accumulate_steps=1,
                      restarts=2, resumed_from_step=8, steps=12),
        "chain2": dict(world_size=2, global_batch=8, batch_per_rank=2, accumulate_steps=2,
                       restarts=0, resumed_from_step=4, steps=12)}
for p, fields in want.items():
    s = json.load(open(f"{w}/{p}/summary.json"))
    assert {k: s[k] for k in fields} == fields, (p, s)
    f = np.load(f"{w}/{p}.npy")
    rel = np.abs(f - ref).max() / np.abs(ref).max()
    print(f"{p}: max relative embedding difference vs uninterrupted 2 ranks {rel:.2e}")
    assert rel < 1e-6, rel
PY
echo "e2e elastic_batch ok"
