#!/usr/bin/env bash
# e2e: every shipped configs/*.yaml (1) passes l2face's validation as written — `l2face train`
# gets past the configuration to opening the data, with only run.dir redirected — and (2) runs its
# recipe for 2 steps at a small scale: only paths, sizes and cadences are overridden (synthetic
# corpus in the recipe's format, .bin/pairs sets under the recipe's names, image and batch size,
# steps, CPU), and the effective config.yaml must equal the shipped file on every other key, so
# backbone, head, classifier, optimizer and schedule are the recipe's own.
#   shipped_configs.sh L2FACE WORK SRC
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
HERE="$(cd "$(dirname "$0")" && pwd)"
rm -rf "$WORK"; mkdir -p "$WORK"
synth=(--identities 8 --images-per-identity 4 --eval-identities 4 --eval-images-per-identity 3
       --folds 2 --pairs-per-fold 4 --size 32 --seed 3 --threads 2)
"$L2FACE" synth --out "$WORK/folder" "${synth[@]}" > /dev/null
"$L2FACE" synth --out "$WORK/rec" --format rec "${synth[@]}" > /dev/null

for cfg in "$SRC"/configs/*.yaml; do
  name=$(basename "$cfg" .yaml)
  echo "== $name"
  # (1) As written: the configuration is valid; what stops the run is the absent data or device.
  rc=0; "$L2FACE" train --config "$cfg" --set run.dir="$WORK/$name.as_written" \
    > "$WORK/$name.as_written.log" 2>&1 || rc=$?
  if [ "$rc" = 2 ] ||
     grep -q "configuration error\|invalid argument" "$WORK/$name.as_written.log"; then
    echo "$name: the shipped file does not validate:"; cat "$WORK/$name.as_written.log"; exit 1
  fi
  # (2) The recipe at a small scale.
  mapfile -t sets < <("$PY" "$HERE/recipe_overrides.py" "$cfg" "$WORK" "$name")
  run="$WORK/runs/$name"
  "$L2FACE" train --config "$cfg" "${sets[@]}" > "$WORK/$name.log" 2>&1 || {
    echo "$name: the recipe did not run"; tail -30 "$WORK/$name.log"; exit 1; }
  "$PY" "$HERE/recipe_overrides.py" --check "$cfg" "$WORK" "$name" "$run"
done
echo "shipped configs ok"
