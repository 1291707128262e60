#!/usr/bin/env bash
# e2e: `l2face synth` writes the training split as ImageFolder or RecordIO with identical content;
# `l2face data stats` reads any dataset spec (ImageFolder root, directory with train.rec, .rec
# file, comma list, glob of shards) with the same counts; broken record files fail with exit 1
# and a message naming the file and the offset or line.
set -uo pipefail
L2FACE="$1"; WORK="$2"
rm -rf "$WORK"; mkdir -p "$WORK"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures+1)); }
expect_error() {  # expect_error PATTERN SPEC: data stats must exit 1 with PATTERN in the output
  local out rc
  out=$("$L2FACE" data stats "$2" 2>&1); rc=$?
  [ "$rc" -eq 1 ] || fail "data stats $2: exit $rc, expected 1: $out"
  grep -qE -- "$1" <<<"$out" || fail "data stats $2: no /$1/ in: $out"
}
common=(--identities 6 --images-per-identity 4 --eval-identities 4 --eval-images-per-identity 4
        --folds 2 --pairs-per-fold 3 --size 32 --seed 5 --threads 2)
"$L2FACE" synth --out "$WORK/folder" "${common[@]}" >/dev/null || fail "synth --format folder"
"$L2FACE" synth --out "$WORK/rec" --format rec "${common[@]}" >/dev/null || fail "synth --format rec"
for f in train.rec train.idx property eval/pairs.txt eval/templates.csv eval/template_pairs.csv; do
  [ -s "$WORK/rec/$f" ] || fail "synth --format rec did not write $f"
done
[ -e "$WORK/rec/train" ] && fail "synth --format rec also wrote an ImageFolder"
head -1 "$WORK/rec/eval/templates.csv" | grep -qx 'template_id,subject_id,image,media_id' \
  || fail "templates.csv header"
head -1 "$WORK/rec/eval/template_pairs.csv" | grep -qx 'template_a,template_b,label' \
  || fail "template_pairs.csv header"
cmp -s "$WORK/rec/eval/templates.csv" "$WORK/folder/eval/templates.csv" \
  || fail "templates.csv differs between formats"

expected=$("$L2FACE" data stats "$WORK/folder/train") || fail "data stats on the ImageFolder"
grep -q '"images": 24' <<<"$expected" || fail "unexpected ImageFolder stats: $expected"
for spec in "$WORK/rec" "$WORK/rec/train.rec" "$WORK/rec/train*.rec"; do
  got=$("$L2FACE" data stats "$spec" 2>&1) || fail "data stats $spec: $got"
  [ "$got" = "$expected" ] || fail "data stats $spec: $got, expected $expected"
done

# Two shards (copies of the corpus) read as one dataset, by list and by glob.
mkdir -p "$WORK/shards"
for k in 0 1; do
  cp "$WORK/rec/train.rec" "$WORK/shards/part_$k.rec"
  cp "$WORK/rec/train.idx" "$WORK/shards/part_$k.idx"
done
cp "$WORK/rec/property" "$WORK/shards/property"
for spec in "$WORK/shards/part_*.rec" "$WORK/shards/part_1.rec,$WORK/shards/part_0.rec"; do
  got=$("$L2FACE" data stats "$spec" 2>&1) || fail "data stats $spec: $got"
  grep -q '"images": 48' <<<"$got" || fail "two shards via $spec: $got"
done

# Broken inputs: a clear error naming the file and the offset (or the .idx line).
mkdir -p "$WORK/cut" "$WORK/badidx"
size=$(stat -c %s "$WORK/rec/train.rec")
head -c $((size - 7)) "$WORK/rec/train.rec" > "$WORK/cut/train.rec"
cp "$WORK/rec/train.idx" "$WORK/rec/property" "$WORK/cut/"
expect_error "cut/train.rec.*offset [0-9]+" "$WORK/cut/train.rec"
cp "$WORK/rec/train.rec" "$WORK/rec/property" "$WORK/badidx/"
{ cat "$WORK/rec/train.idx"; printf '99\t%d\n' $((size * 2)); } > "$WORK/badidx/train.idx"
expect_error "badidx/train.idx:[0-9]+: key 99 points at offset" "$WORK/badidx/train.rec"
expect_error "no file matches" "$WORK/shards/nothing_*.rec"
expect_error "does not exist" "$WORK/missing.rec"
[ "$failures" -eq 0 ] && echo "e2e data formats ok"
exit "$failures"
