#!/usr/bin/env bash
# e2e: the real CLI end to end — synth a tiny corpus, data stats, train a few steps, eval.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$L2FACE" synth --out "$WORK/corpus" --identities 12 --images-per-identity 6 --eval-identities 20 \
  --eval-images-per-identity 4 --pairs-per-fold 4 --size 32 --seed 3 --threads 2

"$L2FACE" data stats "$WORK/corpus/train" > "$WORK/stats.json"
"$PY" - "$WORK/stats.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["images"] == 72 and s["classes"] == 12, s
assert s["images_per_class"] == {"min": 6, "mean": 6.0, "max": 6}, s
PY

cat > "$WORK/train.yaml" <<YAML
run: {dir: $WORK/run, seed: 5}
data: {train: $WORK/corpus/train, batch_size: 8, workers: 2, image_size: 32}
model: {backbone: tiny, embedding_dim: 32, width: 8}
head: {type: l2_softmax, alpha: auto}
optim: {lr: 0.05, max_steps: 12, warmup_steps: 2}
checkpoint: {every_steps: 5, keep_last: 2}
monitoring: {log_every: 4}
eval: {pairs: $WORK/corpus/eval/pairs.txt, every_steps: 6, far: [0.1]}
YAML
"$L2FACE" train --config "$WORK/train.yaml" --set optim.momentum=0.8 > "$WORK/train.out"
"$PY" - "$WORK/run" <<'PY'
import json, math, os, sys
run = sys.argv[1]
s = json.load(open(os.path.join(run, "summary.json")))
for k in ["steps", "final_loss", "train_accuracy", "images_per_second", "world_size", "alpha", "num_classes"]:
    assert k in s, k
assert s["steps"] == 12 and s["world_size"] == 1 and s["num_classes"] == 12, s
assert abs(s["alpha"] - math.log(0.9 * 10 / 0.1)) < 1e-5, s["alpha"]   # auto alpha for C = 12
assert math.isfinite(s["final_loss"]) and s["images_per_second"] > 0, s
cfg = open(os.path.join(run, "config.yaml")).read()
assert "momentum: 0.8" in cfg, cfg                                  # the --set landed in the effective config
ck = sorted(os.listdir(os.path.join(run, "checkpoints")))
assert ck == ["LATEST", "step_10", "step_12"], ck                   # every 5 steps, keep_last 2, final save
assert open(os.path.join(run, "checkpoints", "LATEST")).read().strip() == "step_12"
assert s["eval"]["step"] == 12, s                                    # in-training eval at 6 and 12
for step in (6, 12):
    e = json.load(open(os.path.join(run, "eval", f"step_{step}.json")))
    assert e["pairs"] == 80 and 0.0 <= e["accuracy_mean"] <= 1.0, e
assert abs(e["accuracy_mean"] - s["eval"]["accuracy"]) < 1e-12
PY

"$L2FACE" eval --checkpoint "$WORK/run" --pairs "$WORK/corpus/eval/pairs.txt" --far 0.1,0.01 \
  --out "$WORK/eval.json" > "$WORK/eval.out"
grep -q "step 12" "$WORK/eval.out" || fail "eval did not load the newest checkpoint"
"$PY" - "$WORK/eval.json" "$WORK/run/eval/step_12.json" <<'PY'
import json, sys
e = json.load(open(sys.argv[1]))
during = json.load(open(sys.argv[2]))
# The same weights (step 12) through `l2face eval` and through the in-training evaluation.
assert abs(e["accuracy_mean"] - during["accuracy_mean"]) < 1e-9, (e["accuracy_mean"], during["accuracy_mean"])
assert abs(e["auc"] - during["auc"]) < 1e-6, (e["auc"], during["auc"])
assert e["pairs"] == 80 and e["positives"] == 40 and e["negatives"] == 40, e
assert 0.0 <= e["accuracy_mean"] <= 1.0
fars = {t["far"]: t for t in e["tar_at_far"]}
assert fars[0.01]["tar"] is None, fars       # 1e-2 x 40 negatives < 1: not measurable
assert fars[0.1]["tar"] is not None, fars
PY

# Scores mode: perfect separation gives accuracy 1.
printf 'label,score\n1,0.9\n1,0.8\n0,0.1\n0,0.2\n1,0.7\n0,0.3\n1,0.95\n0,0.05\n1,0.6\n0,0.4\n' > "$WORK/scores.csv"
"$L2FACE" eval --scores "$WORK/scores.csv" --far 0.2 --out "$WORK/scores.json" >/dev/null
"$PY" -c "import json,sys; e=json.load(open('$WORK/scores.json')); assert e['accuracy_mean']==1.0, e"
echo "e2e pipeline ok"
