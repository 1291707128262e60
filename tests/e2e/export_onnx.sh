#!/usr/bin/env bash
# e2e: `l2face export --format onnx` -> onnxruntime on the pixels `l2face embed` decoded gives the
# features `l2face embed` gives. SET "main": tiny, face_resnet (both norms, widths), iresnet18,
# mobilefacenet, and the CLI's format choice and errors; SET "deep": iresnet34/50/100 (the same
# blocks as iresnet18, more of them; label long: minutes of CPU for their checkpoints).
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"; SET="${4:-main}"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
if ! "$PY" -c "import onnx, onnxruntime" 2>/dev/null; then
  echo "SKIP: onnx and onnxruntime are not installed in $PY (scripts/bootstrap.sh installs them)"
  exit 77
fi
rm -rf "$WORK"; mkdir -p "$WORK"
fail() { echo "FAIL: $*" >&2; exit 1; }

# 48×48: the smallest side every backbone takes (face_resnet needs 48, tiny a multiple of 16).
"$L2FACE" synth --out "$WORK/corpus" --identities 4 --images-per-identity 2 --eval-identities 4 \
  --folds 2 --eval-images-per-identity 2 --pairs-per-fold 2 --size 48 --seed 5 --threads 2 >/dev/null
mkdir -p "$WORK/images"
for d in $(ls "$WORK/corpus/train" | head -3); do cp -r "$WORK/corpus/train/$d" "$WORK/images/"; done

train() {  # name, model section: two SGD steps, so that BatchNorm statistics have moved
  cat > "$WORK/$1.yaml" <<YAML
run: {dir: $WORK/$1, seed: 3, device: cpu}
data: {train: $WORK/corpus/train, batch_size: 4, workers: 1, image_size: 48}
model: $2
head: {type: softmax}
optim: {lr: 0.01, max_steps: 2, warmup_steps: 0}
YAML
  "$L2FACE" train --config "$WORK/$1.yaml" > "$WORK/$1.out" 2>&1 || { cat "$WORK/$1.out"; fail "train $1"; }
}

export_and_embed() {  # name [export options]
  local name="$1"; shift
  "$L2FACE" export --checkpoint "$WORK/$name" "$@" > "$WORK/$name.export" \
    || fail "export $name"
  grep -q "as ONNX" "$WORK/$name.export" || fail "export $name did not write ONNX: $(cat "$WORK/$name.export")"
  "$L2FACE" embed --checkpoint "$WORK/$name" --images "$WORK/images" --out "$WORK/$name.csv" \
    --features "$WORK/$name.npy" --save-pixels "$WORK/pixels.npy" --device cpu >/dev/null
}

if [ "$SET" = main ]; then
  MODELS=(
    "tiny|{backbone: tiny, embedding_dim: 16, width: 8, dropout: 0.3}"
    "tiny_nonorm|{backbone: tiny, embedding_dim: 12, width: 4, norm: none}"
    "face_resnet|{backbone: face_resnet, embedding_dim: 16}"
    "face_resnet_nonorm|{backbone: face_resnet, embedding_dim: 16, norm: none}"
    "iresnet18|{backbone: iresnet18, embedding_dim: 32, dropout: 0.2}"
    "mobilefacenet|{backbone: mobilefacenet, embedding_dim: 32}"
  )
else
  MODELS=(
    "iresnet34|{backbone: iresnet34, embedding_dim: 32}"
    "iresnet50|{backbone: iresnet50, embedding_dim: 32}"
    "iresnet100|{backbone: iresnet100, embedding_dim: 32}"
  )
fi
names=()
for m in "${MODELS[@]}"; do
  name="${m%%|*}"; names+=("$name")
  train "$name" "${m#*|}"
  case "$name" in
    tiny) export_and_embed "$name" --out "$WORK/$name.model" --format onnx ;;  # explicit format
    *) export_and_embed "$name" --out "$WORK/$name.onnx" ;;                  # from the suffix
  esac
done
[ "$SET" != main ] || mv "$WORK/tiny.model" "$WORK/tiny.onnx"

"$PY" "$SRC/tests/python/check_onnx_export.py" "$WORK" "${names[@]}"
[ "$SET" = main ] || { echo "e2e export onnx ($SET) ok"; exit 0; }

# Errors: an unknown --format -> 2 and nothing written; a missing checkpoint -> 1.
set +e
"$L2FACE" export --checkpoint "$WORK/tiny" --out "$WORK/x.onnx" --format tflite 2>"$WORK/err.txt"; rc=$?
[ "$rc" = 2 ] || fail "export --format tflite exited $rc, expected 2"
[ ! -e "$WORK/x.onnx" ] || fail "a refused export wrote its file"
"$L2FACE" export --checkpoint "$WORK/nothing" --out "$WORK/x.onnx" 2>"$WORK/err.txt"; rc=$?
[ "$rc" = 1 ] || fail "export of a missing checkpoint exited $rc, expected 1"
[ ! -e "$WORK/x.onnx" ] && [ ! -e "$WORK/x.onnx.tmp" ] || fail "a failed export left a file"
set -e
echo "e2e export onnx ok"
