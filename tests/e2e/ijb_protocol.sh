#!/usr/bin/env bash
# e2e: synth's official IJB layout -> train a few steps -> `l2face eval --ijb` (1:1 and 1:N),
# checked against an independent NumPy implementation of the protocol on the saved face features;
# bad meta files and landmarks exit 2 naming file:line and field, and write no report.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$L2FACE" synth --out "$WORK/corpus" --identities 12 --images-per-identity 6 --eval-identities 20 \
  --eval-images-per-identity 6 --templates-per-subject 3 --pairs-per-fold 4 --size 32 --seed 3 \
  --threads 2 --ijb IJBC >/dev/null
IJB="$WORK/corpus/ijb"
for f in ijbc_name_5pts_score.txt ijbc_face_tid_mid.txt ijbc_template_pair_label.txt \
         ijbc_1N_gal_G1.csv ijbc_1N_gal_G2.csv ijbc_1N_probe_mixed.csv; do
  [ -s "$IJB/meta/$f" ] || fail "synth did not write meta/$f"
done
[ "$(ls "$IJB/loose_crop" | wc -l)" -eq 120 ] || fail "expected 120 loose crops"
"$L2FACE" train --set run.dir="$WORK/run" --set data.train="$WORK/corpus/train" \
  --set data.batch_size=8 --set data.workers=2 --set data.image_size=32 \
  --set model.embedding_dim=32 --set model.width=8 --set optim.max_steps=6 \
  --set optim.warmup_steps=1 --set monitoring.log_every=3 >/dev/null

"$L2FACE" eval --checkpoint "$WORK/run" --ijb "$IJB" --target IJBC --far 0.1,0.01 \
  --fpir 0.1,0.01 --batch-size 16 --save-features "$WORK/faces.npy" \
  --save-scores "$WORK/scores.csv" --out "$WORK/ijb.json" > "$WORK/ijb.out"
for line in "IJBC: 120 pairs (60 same / 60 diff)" "TAR@FAR=0.1" \
            "TAR not measurable with 60 negatives at FAR 0.01" \
            "1:N G1: 10 templates of 10 subjects; 20 mated, 20 non-mated probes" "rank-1" \
            "rank-10" "TPIR@FPIR=0.1" "TPIR@FPIR=0.01 not measurable with 20 non-mated probes"; do
  grep -qF "$line" "$WORK/ijb.out" || fail "missing '$line' in: $(cat "$WORK/ijb.out")"
done
"$PY" "$SRC/tests/e2e/ijb_oracle.py" "$IJB" IJBC "$WORK/faces.npy" "$WORK/ijb.json" \
  "$WORK/scores.csv" 0.1,0.01 0.1,0.01

# Bad input: exit 2, the message names file:line and the field, and no report is written.
expect_bad() {  # expect_bad NAME PATTERN EDIT-COMMAND...
  local name="$1" pattern="$2"; shift 2
  local dir="$WORK/bad_$name" out rc
  rm -rf "$dir"; mkdir -p "$dir"; cp -r "$IJB/meta" "$dir/meta"; ln -s "$IJB/loose_crop" "$dir/loose_crop"
  (cd "$dir/meta" && "$@")
  out=$("$L2FACE" eval --checkpoint "$WORK/run" --ijb "$dir" --out "$dir/report.json" 2>&1) \
    && rc=0 || rc=$?
  [ "$rc" -eq 2 ] || fail "$name: exit $rc != 2: $out"
  grep -qE "$pattern" <<<"$out" || fail "$name: message does not match '$pattern': $out"
  [ ! -e "$dir/report.json" ] || fail "$name: a report was written"
}
S=ijbc_name_5pts_score.txt; T=ijbc_face_tid_mid.txt; P=ijbc_template_pair_label.txt
expect_bad missing_crop "$S:3: image not found: .*nope.jpg" sed -i '3s/^[0-9]*\.jpg/nope.jpg/' $S
expect_bad columns "$T:5: expected 3 fields" sed -i '5s/$/ 7/' $T
expect_bad numeric "$S:4: field 'y2' 'abc' is not a finite number" \
  sed -i -E '4s/^(\S+ \S+ \S+ \S+) \S+/\1 abc/' $S
expect_bad media "$T:2: field 'template_id' 'x' is not an integer" \
  sed -i -E '2s/^(\S+) \S+/\1 x/' $T
expect_bad unknown "$P:7: field 'template_b': template 999 has no media" \
  sed -i -E '7s/^(\S+) \S+/\1 999/' $P
expect_bad gallery "ijbc_1N_gal_G2.csv:3: field 'TEMPLATE_ID': template 777 has no media" \
  sed -i -E '3s/^[0-9]+/777/' ijbc_1N_gal_G2.csv
expect_bad outside "$S:6: field 'x3' 9999.000000 is outside the" \
  sed -i -E '6s/^((\S+ ){5})\S+/\19999/' $S
echo "ijb_protocol: OK"
