#!/usr/bin/env bash
# e2e: `l2face train --init` from an insightface-named IResNet-18 state dict written by Python
# (tests/python/iresnet.py): the same embeddings at the start, a frozen backbone bit-identical to the
# file during model.init_warmup_steps and trained after (1 rank, and 2 ranks with the sharded
# classifier), init from an l2face run directory and export file, --resume winning over --init,
# the errors (exit 2, nothing loaded); and `export --classifier` of the sharded run against the
# row files read by Python.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$L2FACE" synth --out "$WORK/corpus" --identities 5 --images-per-identity 4 --eval-identities 4 \
  --folds 2 --eval-images-per-identity 2 --pairs-per-fold 2 --size 32 --seed 7 --threads 2 >/dev/null

# The pretrained model: random weights, non-trivial BatchNorm statistics; and the bad inputs.
PYTHONPATH="$SRC/tests/python" "$PY" - "$WORK" <<'PY'
import sys, torch
from iresnet import iresnet
work = sys.argv[1]
torch.manual_seed(5)
m = iresnet(18, num_features=32, input_size=32)
with torch.no_grad():
    for mod in m.modules():
        if isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 2.0)
            mod.bias.uniform_(-0.1, 0.1)
            if mod is not m.features:
                mod.weight.uniform_(0.8, 1.2)
        if isinstance(mod, torch.nn.PReLU):
            mod.weight.uniform_(0.1, 0.3)
    m.fc.weight.mul_(0.1)
torch.save(m.state_dict(), f"{work}/ires.pth")
sd = m.state_dict()
torch.save([sd["conv1.weight"]], f"{work}/list.pth")
torch.save(m, f"{work}/module.pth")
bad = dict(sd)
del bad["layer2.0.conv1.weight"]
bad["fc.weight"] = torch.zeros(32, 100)
bad["extra.weight"] = torch.zeros(3)
torch.save(bad, f"{work}/bad.pth")
data = open(f"{work}/ires.pth", "rb").read()
open(f"{work}/truncated.pth", "wb").write(data[: len(data) // 2])
PY
printf 'not a zip' > "$WORK/text.pth"

common=(--set data.train="$WORK/corpus/train" --set data.image_size=32 --set data.workers=1
        --set data.batch_size=4 --set model.backbone=iresnet18 --set model.embedding_dim=32
        --set optim.warmup_steps=0 --set optim.lr=0.1 --set run.threads=1 --set run.device=cpu
        --set monitoring.serve=false --set checkpoint.keep_last=0)
run() {  # name ranks args...
  local name="$1" np="$2"; shift 2
  local cmd=("$L2FACE" train "${common[@]}" --set run.dir="$WORK/$name" "$@")
  if [ "$np" != 1 ]; then cmd=("${MPI[@]}" -np "$np" "${cmd[@]}"); fi
  "${cmd[@]}" > "$WORK/$name.log" 2>&1 || { tail -20 "$WORK/$name.log"; fail "run $name"; }
}
warm=(--set optim.max_steps=3 --set model.init_warmup_steps=2 --set checkpoint.every_steps=1)
run one 1 --init "$WORK/ires.pth" "${warm[@]}"
grep -q "init: iresnet18 backbone from $WORK/ires.pth (state dict" "$WORK/one.log" ||
  fail "no init line"; grep -q "classifier starts fresh" "$WORK/one.log" || fail "no classifier note"
grep -q "step 2: the backbone is unfrozen" "$WORK/one.log" || fail "no unfreeze line"
"$PY" -c 'import json, sys; i = json.load(open(sys.argv[1]))["meta"]["init"]
assert i["kind"] == "state dict" and i["path"] == sys.argv[2] and len(i["xxh64"]) == 16, i' \
  "$WORK/one/checkpoints/step_3/manifest.json" "$WORK/ires.pth" || fail "no init record in meta"
run shard 2 --init "$WORK/ires.pth" "${warm[@]}" --set classifier.parallel=sharded
grep -q "classifier: sharded over 2" "$WORK/shard.log" || fail "not sharded"

# Frozen steps: the backbone (BatchNorm statistics included) equals the file; step 3 trains it.
for r in one shard; do
  for s in 2 3; do
    "$L2FACE" export --checkpoint "$WORK/$r/checkpoints/step_$s" --out "$WORK/$r.$s.pth" >/dev/null
  done
done
"$PY" - "$WORK" <<'PY'
import sys, torch
work = sys.argv[1]
ref = torch.load(f"{work}/ires.pth", weights_only=True)
for run in ("one", "shard"):
    frozen = torch.load(f"{work}/{run}.2.pth", weights_only=True)
    trained = torch.load(f"{work}/{run}.3.pth", weights_only=True)
    assert list(frozen) == list(ref), run
    same = [k for k in ref if torch.equal(frozen[k], ref[k])]
    assert len(same) == len(ref), (run, [k for k in ref if k not in same][:5])
    moved = [k for k in ref if not torch.equal(trained[k], ref[k])]
    assert "conv1.weight" in moved and "bn1.running_mean" in moved, (run, moved[:5])
print("frozen backbone bit-identical to the file for 2 steps (1 and 2 ranks), trained at step 3")
PY

# Step-0 embeddings: l2face (checkpoint of a frozen step) against Python on the same pixels.
mkdir -p "$WORK/images"
for d in $(ls "$WORK/corpus/train" | head -2); do cp -r "$WORK/corpus/train/$d" "$WORK/images/"; done
"$L2FACE" embed --checkpoint "$WORK/one/checkpoints/step_1" --images "$WORK/images" \
  --out "$WORK/norms.csv" --features "$WORK/features.npy" --save-pixels "$WORK/pixels.npy" \
  --device cpu >/dev/null
PYTHONPATH="$SRC/tests/python" "$PY" - "$WORK" <<'PY'
import sys, numpy as np, torch
from iresnet import iresnet, preprocess
work = sys.argv[1]
model = iresnet(18, num_features=32, input_size=32)
model.load_state_dict(torch.load(f"{work}/ires.pth", weights_only=True), strict=True)
model.eval()
pixels, ref = np.load(f"{work}/pixels.npy"), np.load(f"{work}/features.npy")
assert pixels.shape == (8, 32, 32, 3), pixels.shape
with torch.no_grad():
    emb = model(preprocess(pixels)).numpy()
rel = float(np.abs(emb - ref).max()) / float(np.abs(ref).max())
print(f"step-0 embeddings: max |python - l2face| / max |l2face| = {rel:.3g} "
      f"(scale {float(np.abs(ref).max()):.3g})")
assert rel <= 1e-5, rel
PY

# Other sources: an l2face run directory (its newest checkpoint) and an export file.
run from_run 1 --init "$WORK/one" --set optim.max_steps=1
grep -q "backbone from $WORK/one (checkpoint .*step_3/backbone.pt.*step 3)" "$WORK/from_run.log" ||
  fail "init from a run directory"
run from_export 1 --init "$WORK/one.3.pth" --set optim.max_steps=1
# --resume wins over --init.
run one 1 --init "$WORK/ires.pth" "${warm[@]}" --set optim.max_steps=4 --resume auto
grep -q "model.init $WORK/ires.pth is not loaded: the run resumes from" "$WORK/one.log" ||
  fail "resume did not win over init"

# Errors: exit 2, the file named, every problem listed.
expect2() {  # file text
  set +e
  "$L2FACE" train "${common[@]}" --set run.dir="$WORK/err" --set optim.max_steps=1 --init "$1" \
    > "$WORK/err.log" 2>&1
  local rc=$?
  set -e
  [ "$rc" = 2 ] || { cat "$WORK/err.log"; fail "--init $1 exited $rc, expected 2"; }
  grep -q "$1" "$WORK/err.log" || fail "the error does not name $1"
  grep -q "$2" "$WORK/err.log" || { cat "$WORK/err.log"; fail "no '$2' for $1"; }
}
expect2 "$WORK/bad.pth" "missing layer2.0.conv1.weight: expected \[128, 64, 3, 3\]"
grep -q "shape mismatch fc.weight: expected \[32, 2048\], file \[32, 100\]" "$WORK/err.log" ||
  fail "no shape mismatch"
grep -q "unexpected extra.weight: file \[3\]" "$WORK/err.log" || fail "no unexpected entry"
expect2 "$WORK/list.pth" "not a state dict: it holds a list"
expect2 "$WORK/module.pth" "not a state dict: it holds a pickled iresnet.IResNet"
expect2 "$WORK/text.pth" "not a torch.save zip archive"
expect2 "$WORK/truncated.pth" "truncated or corrupt"
expect2 "$WORK/nothing.pth" "no such file or directory"
"$L2FACE" train "${common[@]}" --set run.dir="$WORK/tiny_err" --set model.backbone=tiny \
  --set optim.max_steps=1 --init "$WORK/one" > "$WORK/err.log" 2>&1 && fail "tiny from iresnet"
grep -q "the checkpoint holds a iresnet18" "$WORK/err.log" || fail "no checkpoint geometry"

# export --classifier: the sharded run's class rows in label order, as the row files hold them.
"$L2FACE" export --checkpoint "$WORK/shard" --classifier "$WORK/classes.pth" > "$WORK/cls.out"
grep -q "exported the sharded classifier (5 x 32, with bias, 2 shard file(s))" "$WORK/cls.out" ||
  fail "classifier export summary: $(cat "$WORK/cls.out")"
"$PY" - "$WORK/shard/checkpoints/step_3" "$WORK/classes.pth" <<'PY'
import json, sys, numpy as np, torch
ckpt, out = sys.argv[1], sys.argv[2]
meta = json.load(open(f"{ckpt}/manifest.json"))["meta"]["classifier"]
rows = []
for shard in meta["table"]:
    raw = open(f"{ckpt}/{shard['file']}", "rb").read()
    r = np.frombuffer(raw[64:], dtype=np.float32).reshape(shard["rows"], meta["cols"])
    rows.append(r)
rows = np.concatenate(rows)
d = torch.load(out, weights_only=True)
assert sorted(d) == ["bias", "weight"], list(d)
assert d["weight"].dtype == torch.float32 and tuple(d["weight"].shape) == (5, 32)
assert np.array_equal(d["weight"].numpy(), rows[:, :32]), "weight"
assert np.array_equal(d["bias"].numpy(), rows[:, 32]), "bias"
print("classifier export equals the row files, bit for bit")
PY
set +e
"$L2FACE" export --checkpoint "$WORK/nothing" --classifier "$WORK/none.pth" 2> "$WORK/err.txt"
rc=$?
set -e
[ "$rc" = 2 ] || fail "export --classifier of a missing checkpoint exited $rc, expected 2"
[ ! -e "$WORK/none.pth" ] && [ ! -e "$WORK/none.pth.tmp" ] || fail "a file was left behind"
echo "e2e init_pretrained ok"
