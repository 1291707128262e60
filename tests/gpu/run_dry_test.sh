#!/usr/bin/env bash
# bench/gpu/run.sh --dry-run against a fake bundle (stand-in programs, a stand-in torch module):
# the arguments, unpacking and checksum verification, the library inspection, each check's
# commands and the table (every check NOT RUN), without a GPU, a build or torch. Then the
# refusals: a corrupted bundle, a library resolved outside the bundle, a bad --only.
set -euo pipefail
SRC="$1"; WORK="$2"
rm -rf "$WORK"; mkdir -p "$WORK"
RUN="$SRC/bench/gpu/run.sh"

# fake_bundle DIR [EXTRA_PROGRAM]: bin/ and tests/ hold copies of /bin/true (libc only).
fake_bundle() {
  local dir="$1" stage="$WORK/stage.$RANDOM" f
  mkdir -p "$stage/bin" "$stage/tests" "$stage/lib" "$dir"
  for f in l2face step_bench classifier_bench; do cp /bin/true "$stage/bin/$f"; done
  for f in trainer_test comm_test comm_nccl_test; do cp /bin/true "$stage/tests/$f"; done
  [ -z "${2:-}" ] || cp "$2" "$stage/bin/"
  {
    echo "# l2face GPU bundle"
    echo "commit: 0000000 (fake)"
    (cd "$stage" && find . -type f ! -name MANIFEST | sort | while read -r f; do
       echo "$(stat -c %s "$f") $(sha256sum "$f" | cut -c1-64) ${f#./}"
     done)
  } > "$stage/MANIFEST"
  tar -C "$stage" -cJf "$dir/l2face-gpu.tar.xz" .
}

# A python whose `import torch` is a stand-in: a version, no CUDA, a lib/ folder.
mkdir -p "$WORK/py/torch/lib"
cat > "$WORK/py/torch/__init__.py" <<'PY'
import types
__version__ = "0.0+fake"
version = types.SimpleNamespace(cuda=None)
cuda = types.SimpleNamespace(is_available=lambda: False)
PY
printf '#!/bin/sh\nPYTHONPATH=%s exec python3 "$@"\n' "$WORK/py" > "$WORK/python"
chmod +x "$WORK/python"

fake_bundle "$WORK/good"
rc=0
OUT='' "$RUN" --bundle "$WORK/good" --out "$WORK/out" --python "$WORK/python" --dry-run \
  > "$WORK/good.log" 2>&1 || rc=$?
[ "$rc" = 0 ] || { cat "$WORK/good.log"; echo "dry run exited $rc"; exit 1; }
grep -q "ldd: every binary resolves" "$WORK/good.log" || { cat "$WORK/good.log"; exit 1; }
for n in 1 2 3 4 5 6 7; do
  grep -q "^| $n | .* | NOT RUN | dry run |$" "$WORK/out/table.md" \
    || { cat "$WORK/out/table.md"; echo "check $n is not NOT RUN (dry run)"; exit 1; }
  grep -q "check $n (.*), limit [0-9]* s; commands:" "$WORK/good.log" \
    || { echo "check $n printed no commands"; exit 1; }
done
grep -q 'bin/step_bench --backbone iresnet50 --batch 256' "$WORK/good.log"
grep -q 'train_reference.py --backbone iresnet50 --batch 256' "$WORK/good.log"
grep -q 'run.cuda_sync_debug=error' "$WORK/good.log"
grep -q 'L2FACE_FAULT=train.nan_loss@step7' "$WORK/good.log"
grep -q 'l2face eval .* --device cpu' "$WORK/good.log"
grep -q 'classifier_bench --classes 1000000 --dim 512 .* --device cuda' "$WORK/good.log"
[ "$(grep -c '^| [1-7] |' "$WORK/out/table.md")" = 7 ]

# --only: the others are NOT RUN as not selected, and no commands are printed for them.
OUT='' "$RUN" --bundle "$WORK/good" --out "$WORK/only" --python "$WORK/python" --dry-run \
  --only 3,5 > "$WORK/only.log" 2>&1
grep -q "^| 1 | .* | NOT RUN | not selected (--only 3,5) |$" "$WORK/only/table.md"
grep -q "^| 3 | .* | NOT RUN | dry run |$" "$WORK/only/table.md"
if grep -q "check 1 (.*), limit" "$WORK/only.log"; then echo "--only 3,5 ran check 1"; exit 1; fi

# A corrupted file: the MANIFEST's checksum catches it.
fake_bundle "$WORK/bad"
mkdir -p "$WORK/bad.x" && tar -C "$WORK/bad.x" -xJf "$WORK/bad/l2face-gpu.tar.xz"
echo corrupt >> "$WORK/bad.x/bin/l2face"
tar -C "$WORK/bad.x" -cJf "$WORK/bad/l2face-gpu.tar.xz" .
rc=0
"$RUN" --bundle "$WORK/bad" --out "$WORK/out.bad" --python "$WORK/python" --dry-run \
  > "$WORK/bad.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && grep -q "checksum mismatch in the bundle: bin/l2face" "$WORK/bad.log" \
  || { cat "$WORK/bad.log"; echo "corrupted bundle accepted (rc $rc)"; exit 1; }

# A program whose libraries resolve outside the bundle and torch (a development-machine path).
outside=""
for p in /usr/bin/orted /usr/bin/xz /usr/bin/zstd; do
  if [ -x "$p" ] && ldd "$p" | grep -qv -E '(libc|libm|libpthread|libdl|librt|ld-linux|vdso)'; then
    outside="$p"; break
  fi
done
if [ -n "$outside" ]; then
  fake_bundle "$WORK/leaky" "$outside"
  rc=0
  "$RUN" --bundle "$WORK/leaky" --out "$WORK/out.leaky" --python "$WORK/python" --dry-run \
    > "$WORK/leaky.log" 2>&1 || rc=$?
  [ "$rc" = 1 ] && grep -q "resolved outside the bundle" "$WORK/leaky.log" \
    || { cat "$WORK/leaky.log"; echo "$outside's libraries were not flagged (rc $rc)"; exit 1; }
fi

# Argument errors exit 2.
for bad in "--only 9" "--only 1,,2" "--bogus" "--bundle $WORK/none"; do
  rc=0
  "$RUN" $bad --dry-run --out "$WORK/args" > /dev/null 2>&1 || rc=$?
  [ "$rc" = 2 ] || { echo "'$bad' exited $rc, expected 2"; exit 1; }
done
echo "gpu dry run ok"
