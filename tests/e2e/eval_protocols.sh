#!/usr/bin/env bash
# e2e: `l2face eval` on every protocol — pairs, .bin sets (Python-pickled), templates, scores,
# compare — with reports, ROC CSVs and plots; bad inputs exit 1 naming file and record.
set -euo pipefail
source "$(dirname "$0")/common.sh"

"$L2FACE" synth --out "$WORK/corpus" --identities 12 --images-per-identity 6 --eval-identities 20 \
  --eval-images-per-identity 4 --pairs-per-fold 4 --size 32 --seed 3 --threads 2 >/dev/null
EV="$WORK/corpus/eval"
"$L2FACE" train --set run.dir="$WORK/run" --set data.train="$WORK/corpus/train" \
  --set data.batch_size=8 --set data.workers=2 --set data.image_size=32 \
  --set model.embedding_dim=32 --set model.width=8 --set optim.max_steps=6 \
  --set optim.warmup_steps=1 --set monitoring.log_every=3 >/dev/null

# The pairs of pairs.txt as insightface .bin sets (same images, same order), written by Python's
# pickle at protocols 2 and 4; and one with a truncated pickle, one with a broken JPEG.
"$PY" - "$EV" "$WORK" <<'PY'
import os, pickle, sys
ev, work = sys.argv[1], sys.argv[2]
lines = [l.split() for l in open(os.path.join(ev, "pairs.txt")) if l.strip()][1:]
path = lambda name, i: os.path.join(ev, name, "%s_%04d.jpg" % (name, int(i)))
bins, same = [], []
for f in lines:
    a, b = (path(f[0], f[1]), path(f[0], f[2])) if len(f) == 3 else (path(f[0], f[1]), path(f[2], f[3]))
    bins += [open(a, "rb").read(), open(b, "rb").read()]
    same.append(len(f) == 3)
for proto in (2, 4):
    with open(os.path.join(work, "syn_p%d.bin" % proto), "wb") as out:
        pickle.dump((bins, same), out, protocol=proto)
data = pickle.dumps((bins, same), protocol=4)
open(os.path.join(work, "truncated.bin"), "wb").write(data[: len(data) // 2])
broken = list(bins)
broken[5] = broken[5][:40]
pickle.dump((broken, same), open(os.path.join(work, "broken.bin"), "wb"), protocol=4)
PY

"$L2FACE" eval --checkpoint "$WORK/run" --pairs "$EV/pairs.txt" \
  --bin "$WORK/syn_p2.bin,$WORK/syn_p4.bin" --templates "$EV" --far 0.1,0.01 \
  --out "$WORK/all.json" --roc-csv "$WORK/roc.csv" --save-scores "$WORK/s.csv" \
  --plot "$WORK/roc.svg" > "$WORK/all.out"
grep -q "TAR not measurable with 40 negatives at FAR 0.01 (needs >= 100)" "$WORK/all.out" \
  || fail "console table: $(cat "$WORK/all.out")"
# The saved per-pair scores through --scores give the same metrics (same folds here).
"$L2FACE" eval --scores "$WORK/s_pairs.txt.csv" --far 0.1,0.01 --out "$WORK/resc.json" >/dev/null
"$L2FACE" eval --checkpoint "$WORK/run" --templates "$EV/templates.csv" \
  --template-pairs "$EV/template_pairs.csv" --media-pool --out "$WORK/media.json" >/dev/null
"$PY" - "$WORK" <<'PY'
import csv, json, os, re, sys
work = sys.argv[1]
reports = json.load(open(os.path.join(work, "all.json")))["reports"]
names = [r["name"] for r in reports]
assert names == ["pairs.txt", "syn_p2", "syn_p4", "templates:eval"], names
pairs, p2, p4, tpl = reports
assert [r["protocol"] for r in reports] == ["pairs", "bin", "bin", "templates"]
# The same images decoded from files and from the pickles, in the same order, with LFW's folds
# equal to the .bin's 10 consecutive folds here: identical metrics.
for b in (p2, p4):
    assert b["pairs"] == 80 and b["positives"] == 40, b
    for key in ("accuracy_mean", "accuracy_std", "auc", "eer"):
        assert abs(b[key] - pairs[key]) < 1e-9, (key, b[key], pairs[key])
assert tpl["pairs"] == 40 and len(tpl["folds"]) == 10, tpl
far = {t["far"]: t["tar"] for t in pairs["tar_at_far"]}
assert far[0.01] is None and far[0.1] is not None, far
rescored = json.load(open(os.path.join(work, "resc.json")))
for key in ("accuracy_mean", "accuracy_std", "auc", "eer", "tar_at_far"):
    assert rescored[key] == pairs[key], (key, rescored[key], pairs[key])
media = json.load(open(os.path.join(work, "media.json")))
assert media["name"] == "templates:eval" and media["pairs"] == 40, media
for name in names:
    safe = re.sub(r"[^A-Za-z0-9.-]", "_", name)
    rows = list(csv.DictReader(open(os.path.join(work, "roc_%s.csv" % safe))))
    assert rows[0]["far"] == "0" and float(rows[-1]["tar"]) == 1.0, (name, rows[:2])
svg = open(os.path.join(work, "roc.svg")).read()
assert svg.count('<polyline class="roc"') == 4, svg.count("<polyline")
PY

# The sets of a config's eval section (what training is configured with), flags on top.
printf 'eval:\n  bins: %s\n  templates: %s\n  far: [0.1]\n  flip: false\n' \
  "$WORK/syn_p4.bin" "$EV" > "$WORK/eval.yaml"
"$L2FACE" eval --checkpoint "$WORK/run" --config "$WORK/eval.yaml" --folds 5 \
  --out "$WORK/cfg.json" >/dev/null
"$PY" - "$WORK/cfg.json" <<'PY'
import json, sys
reports = json.load(open(sys.argv[1]))["reports"]
assert [r["name"] for r in reports] == ["syn_p4", "templates:eval"], reports
assert [t["far"] for t in reports[0]["tar_at_far"]] == [0.1], reports[0]["tar_at_far"]
assert len(reports[0]["folds"]) == 5 and len(reports[1]["folds"]) == 5
PY

# All-vs-all over eval/ (20 identities × 4 images; its pairs.txt and templates are not
# identities): 80·79/2 = 3160 comparisons, 20·6 = 120 genuine, 3040 impostors.
"$L2FACE" eval --checkpoint "$WORK/run" --all-vs-all "$EV" --far 1e-4,1e-3,1e-2 --threads 2 \
  --out "$WORK/ava.json" > "$WORK/ava.out"
grep -q "all-vs-all:eval: 3160 pairs (120 genuine / 3040 impostor) of 80 images, 20 identities" \
  "$WORK/ava.out" || fail "all-vs-all table: $(cat "$WORK/ava.out")"
grep -q "unresolved: 0.001 × 3040 negatives < 10" "$WORK/ava.out" \
  || fail "all-vs-all unresolved note: $(cat "$WORK/ava.out")"
"$PY" - "$WORK/ava.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["name"] == "all-vs-all:eval" and r["protocol"] == "all-vs-all", r["name"]
assert (r["pairs"], r["positives"], r["negatives"]) == (3160, 120, 3040), r
assert (r["images"], r["identities"], r["accuracy_folds"]) == (80, 20, "identities"), r
assert r["accuracy_pairs"] == 10 * 28 and len(r["folds"]) == 10, r  # 10 folds of 2 identities
t = {x["far"]: x for x in r["tar_at_far"]}
assert t[1e-4]["tar"] is None and t[1e-4]["impostors_above_threshold"] is None, t
assert [t[f]["resolved"] for f in (1e-4, 1e-3, 1e-2)] == [False, False, True], t
assert t[1e-3]["impostors_above_threshold"] <= 3 and t[1e-2]["impostors_above_threshold"] <= 30, t
assert 0 <= t[1e-2]["tar"] <= 1 and 0 < r["auc"] <= 1, t
PY

# Scores from any system, then a comparison of saved reports with an overlaid plot.
"$PY" - "$WORK/scores.csv" <<'PY'
import random, sys
random.seed(4)
with open(sys.argv[1], "w") as f:
    f.write("label,score\n")
    for i in range(2000):
        y = i % 2
        f.write("%d,%.6f\n" % (y, random.gauss(1.5 * y, 1.0)))
PY
"$L2FACE" eval --scores "$WORK/scores.csv" --folds 10 --out "$WORK/scores.json" \
  --plot "$WORK/scores.svg" > "$WORK/scores.out"
grep -q "TAR@FAR=0.001" "$WORK/scores.out" || fail "scores table: $(cat "$WORK/scores.out")"
"$L2FACE" eval --compare "$WORK/all.json" "$WORK/scores.json" --plot "$WORK/compare.svg" \
  > "$WORK/compare.out"
grep -q "scores.json: scores.csv" "$WORK/compare.out" || fail "compare: $(cat "$WORK/compare.out")"
[ "$(grep -c '<polyline class="roc"' "$WORK/compare.svg")" -eq 5 ] || fail "compare.svg curves"

# Bad input: exit 1 and a message naming the file and the record or line.
expect() {  # expect CODE PATTERN -- command...
  local code="$1" pattern="$2"; shift 3
  local out rc
  out=$("$@" 2>&1) && rc=0 || rc=$?
  [ "$rc" -eq "$code" ] || fail "exit $rc != $code: $* :: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "no /$pattern/ in: $out"
}
CK=(--checkpoint "$WORK/run")
expect 1 "truncated.bin: pickle byte offset [0-9]+:" -- "$L2FACE" eval "${CK[@]}" --bin "$WORK/truncated.bin"
expect 1 "broken.bin images\[5\] \(pair 2\)" -- "$L2FACE" eval "${CK[@]}" --bin "$WORK/broken.bin"
cp -r "$EV" "$WORK/ev2"
sed -i '3s/,[^,]*\.jpg,/,ev_000001\/missing.jpg,/' "$WORK/ev2/templates.csv"
expect 1 "ev2/templates.csv:3: image not found" -- "$L2FACE" eval "${CK[@]}" --templates "$WORK/ev2"
cp "$EV/templates.csv" "$WORK/ev2/templates.csv"
printf 'template_a,template_b,label\n1,2,1\n1,999,0\n' > "$WORK/ev2/template_pairs.csv"
expect 1 "template_pairs.csv:3: unknown template id 999" -- "$L2FACE" eval "${CK[@]}" --templates "$WORK/ev2"
printf '{"name": "x"}' > "$WORK/partial.json"
expect 1 "partial.json: missing field 'pairs'" -- "$L2FACE" eval --compare "$WORK/partial.json"
expect 2 "--compare takes saved reports" -- "$L2FACE" eval --compare "$WORK/all.json" "${CK[@]}"
mkdir -p "$WORK/one/x"
cp "$EV"/ev_000001/*.jpg "$WORK/one/x/"
expect 1 "all-vs-all folder '$WORK/one': needs at least 2 identities .*\\(1 identity, 4 images\\)" \
  -- "$L2FACE" eval "${CK[@]}" --all-vs-all "$WORK/one"
expect 2 "needs a set" -- "$L2FACE" eval "${CK[@]}"
echo "e2e eval protocols ok"
