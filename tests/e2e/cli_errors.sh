#!/usr/bin/env bash
# e2e: documented exit codes and messages for bad input (2 usage/config, 1 runtime failure).
set -uo pipefail
L2FACE="$1"; WORK="$2"
rm -rf "$WORK"; mkdir -p "$WORK"
failures=0
expect() {  # expect CODE PATTERN -- command...
  local code="$1" pattern="$2"; shift 3
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" -ne "$code" ]; then echo "FAIL ($rc != $code): $*"; echo "$out"; failures=$((failures+1)); return; fi
  if ! grep -qE -- "$pattern" <<<"$out"; then echo "FAIL (no /$pattern/): $*"; echo "$out"; failures=$((failures+1)); fi
}
printf 'data:\n  batch_size: 8\n  bacth_size: 4\n' > "$WORK/typo.yaml"
expect 2 "typo.yaml:3.*bacth_size" -- "$L2FACE" train --config "$WORK/typo.yaml"
printf 'optim:\n  lr: fast\n' > "$WORK/type.yaml"
expect 2 "type.yaml:2.*optim.lr" -- "$L2FACE" train --config "$WORK/type.yaml"
expect 2 "data.batch_size" -- "$L2FACE" train --set data.batch_size=0
expect 2 "" -- "$L2FACE" no-such-command
expect 2 "" -- "$L2FACE" synth
expect 0 "l2face" -- "$L2FACE" version
expect 1 "no_such_dir" -- "$L2FACE" data stats "$WORK/no_such_dir"
expect 1 "no_such_run" -- "$L2FACE" eval --checkpoint "$WORK/no_such_run" --pairs "$WORK/p.txt"
printf 'label,score\n1,abc\n' > "$WORK/bad.csv"
expect 1 "bad.csv:2" -- "$L2FACE" eval --scores "$WORK/bad.csv"
mkdir -p "$WORK/empty"
expect 1 "empty" -- "$L2FACE" train --set data.train="$WORK/empty" --set run.dir="$WORK/r"
[ "$failures" -eq 0 ] && echo "e2e errors ok"
exit "$failures"
