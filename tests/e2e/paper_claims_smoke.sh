#!/usr/bin/env bash
# e2e (label e2e): bench/experiments/paper_claims.py --quick — the paper's-claims experiment end to
# end at a tiny size (synth with a probe set, both backbones, every head, all-vs-all evaluation,
# probe norms, tables and figures), without touching docs/. Skipped (77) without NumPy.
# Usage: paper_claims_smoke.sh L2FACE WORK SRC
set -euo pipefail
L2FACE="$1"; WORK="$2"; SRC="$3"
PY="$SRC/.venv/bin/python"; [ -x "$PY" ] || PY=python3
"$PY" -c 'import numpy' 2>/dev/null || { echo "SKIP: no NumPy for $PY"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
rm -rf "$WORK"; mkdir -p "$WORK"
doc="$SRC/docs/experiments/l2-softmax.md"
before=$(sha256sum "$doc")
"$PY" "$SRC/bench/experiments/paper_claims.py" --quick --seeds 1 2 --l2face "$L2FACE" --work "$WORK" \
  > "$WORK/out.log" 2>&1 || { cat "$WORK/out.log"; fail "the experiment failed"; }
[ "$(sha256sum "$doc")" = "$before" ] || fail "--quick changed $doc"
md="$WORK/second_pass.md"
for heading in "Feature norm against quality: the evaluation images" \
               "Feature norm against one degradation at a time: the probe set" \
               "TAR at low FAR: all-vs-all over the evaluation identities" \
               "split into thirds by the lower quality"; do
  grep -q "$heading" "$md" || fail "no '$heading' table"
done
grep -q '^| Face-ResNet, softmax | ' "$md" || fail "no Face-ResNet softmax row"
[ "$(grep -c "^| tiny, " "$md")" -eq 14 ] || fail "expected 14 tiny rows (2 + 2 norm rows, 5 + 5 TAR rows)"
"$PY" - "$WORK/figures/second_pass.json" <<'PYEOF' || fail "results"
import json, sys
d = json.load(open(sys.argv[1]))
runs = d["runs"]
assert len(runs) == 7, sorted(runs)
for arm, seeds in runs.items():
    assert sorted(seeds) == ["1", "2"], (arm, seeds)
    for r in seeds.values():
        assert set(r["probe"]) == {"blur", "noise", "jpeg", "low_resolution", "occlusion", "pose",
                                   "alignment"}, r["probe"].keys()
        assert all(p["photos"] == 3 for p in r["probe"].values())
        assert r["genuine"] == 12 * 6 and r["impostors"] == 48 * 47 // 2 - 72, (r["genuine"], r["impostors"])
        assert set(r["tar"]) == {"1e-05", "0.0001", "0.001", "0.01"}, r["tar"].keys()
        assert r["tar"]["1e-05"]["resolved"] is False and r["tar"]["0.01"]["resolved"] is True
        assert -1 <= r["natural_rho"] <= 1
        assert len(r["tar_by_quality"]) == 3 and all(0 <= t <= 1 for t in r["tar_by_quality"])
PYEOF
for f in second_pass_norm_levels second_pass_norm_levels_tiny second_pass_norm_vs_quality second_pass_tar; do
  grep -q '<svg' "$WORK/figures/$f.svg" || fail "no figure $f"
done
echo "paper_claims --quick: OK"
