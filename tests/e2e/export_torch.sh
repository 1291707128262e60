#!/usr/bin/env bash
# e2e: `l2face export` -> Python torch.load -> tests/python/iresnet.py load_state_dict(strict=True)
# gives the embeddings `l2face embed` gives (iresnet18); other backbones export with their names.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$L2FACE" synth --out "$WORK/corpus" --identities 6 --images-per-identity 4 --eval-identities 4 --folds 2 \
  --eval-images-per-identity 2 --pairs-per-fold 2 --size 32 --seed 11 --threads 2 >/dev/null

train() {  # name, model section
  cat > "$WORK/$1.yaml" <<YAML
run: {dir: $WORK/$1, seed: 3, device: cpu}
data: {train: $WORK/corpus/train, batch_size: 8, workers: 1, image_size: 32}
model: $2
head: {type: l2_softmax, alpha: auto}
optim: {lr: 0.05, max_steps: 2, warmup_steps: 0}
YAML
  "$L2FACE" train --config "$WORK/$1.yaml" > "$WORK/$1.out" 2>&1 || { cat "$WORK/$1.out"; fail "train $1"; }
}

# IResNet-18 against the Python definition, two steps trained so BatchNorm statistics have moved.
train ires '{backbone: iresnet18, embedding_dim: 64}'
"$L2FACE" export --checkpoint "$WORK/ires" --out "$WORK/ires.pth" > "$WORK/export.out"
grep -q "exported iresnet18" "$WORK/export.out" || fail "export did not report the backbone"
grep -q "(step 2)" "$WORK/export.out" || fail "export did not take the newest checkpoint"
mkdir -p "$WORK/images"
for d in $(ls "$WORK/corpus/train" | head -3); do cp -r "$WORK/corpus/train/$d" "$WORK/images/"; done
"$L2FACE" embed --checkpoint "$WORK/ires" --images "$WORK/images" --out "$WORK/norms.csv" \
  --features "$WORK/features.npy" --save-pixels "$WORK/pixels.npy" --device cpu >/dev/null
PYTHONPATH="$SRC/tests/python" "$PY" - "$WORK" <<'PY'
import sys, numpy as np, torch
from iresnet import iresnet, preprocess
work = sys.argv[1]
sd = torch.load(f"{work}/ires.pth", weights_only=True)
assert isinstance(sd, dict) and all(isinstance(v, torch.Tensor) for v in sd.values()), type(sd)
model = iresnet(18, num_features=64, input_size=32)
ref_keys = list(model.state_dict().keys())
assert list(sd.keys()) == ref_keys, [k for k in sd if k not in ref_keys] + [k for k in ref_keys if k not in sd]
for k in ("layer1.0.bn1.num_batches_tracked", "layer2.0.downsample.0.weight", "features.running_var",
          "prelu.weight", "fc.bias"):
    assert k in sd, k
assert int(sd["bn1.num_batches_tracked"]) == 2, sd["bn1.num_batches_tracked"]   # two training steps
assert sd["features.running_mean"].abs().sum() > 0                                 # statistics moved
model.load_state_dict(sd, strict=True)
model.eval()
pixels = np.load(f"{work}/pixels.npy")
ref = np.load(f"{work}/features.npy")
assert pixels.shape == (12, 32, 32, 3) and pixels.dtype == np.uint8, (pixels.shape, pixels.dtype)
with torch.no_grad():
    emb = model(preprocess(pixels)).numpy()
# float32 both sides, different kernels' summation order: compare relative to the features' scale
# (freshly initialised IResNets have large raw features), and the unit-norm embeddings absolutely.
scale = float(np.abs(ref).max())
rel = float(np.abs(emb - ref).max()) / scale
unit = lambda e: e / np.linalg.norm(e, axis=1, keepdims=True)
cos = float(np.abs(unit(emb) - unit(ref)).max())
print(f"iresnet18: {len(sd)} tensors; max |python - l2face| / max |l2face| = {rel:.3g} "
      f"(scale {scale:.3g}); normalised embeddings: max diff {cos:.3g}")
# Measured 2.9e-6 and 1.0e-6 (fp32, a few ulp of the 6e3 feature scale): bounds at about 2x and 4x.
assert rel <= 6e-6, rel
assert cos <= 4e-6, cos
PY

# Another backbone keeps l2face's own names; the state dict still round-trips through torch.load.
train tiny '{backbone: tiny, embedding_dim: 16, width: 4}'
"$L2FACE" export --checkpoint "$WORK/tiny/checkpoints/step_2" --out "$WORK/tiny.pth" > "$WORK/tiny_export.out"
"$PY" - "$WORK/tiny.pth" "$WORK/tiny_export.out" <<'PY'
import re, sys, torch
sd = torch.load(sys.argv[1], weights_only=True)
out = open(sys.argv[2]).read()
tensors, params = map(int, re.search(r"\((\d+) tensors, (\d+) parameters", out).groups())
assert len(sd) == tensors, (len(sd), tensors)
buffers = ("running_mean", "running_var", "num_batches_tracked")
assert sum(v.numel() for k, v in sd.items() if not k.endswith(buffers)) == params
assert "fc.weight" in sd and sd["fc.weight"].shape[0] == 16, list(sd)
PY

# Errors: no checkpoint -> 1, missing option -> 2.
set +e
"$L2FACE" export --checkpoint "$WORK/nothing" --out "$WORK/x.pth" 2> "$WORK/err.txt"; rc=$?
[ "$rc" = 1 ] || fail "export of a missing checkpoint exited $rc, expected 1"
grep -q "no such checkpoint" "$WORK/err.txt" || fail "the error does not name the problem"
"$L2FACE" export --checkpoint "$WORK/ires" >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] || fail "export without --out exited $rc, expected 2"
set -e
echo "e2e export ok"
