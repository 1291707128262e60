#!/usr/bin/env bash
# bench/classifier: peak memory per rank and step time of the sharded classifier for C = 100k, 1M
# and 2M identities (d = 512) on 2 CPU ranks, exact and with sample_rate 0.1, against the bytes
# the memory model predicts (classifierMemory). Writes OUT/classifier.json and OUT/classifier.md.
#   bench/classifier/run.sh [OUT=bench-results] [--quick | --smoke]
#   (quick: 20k and 100k classes; smoke: 20k only, for bench/run_all --smoke)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT="${1:-bench-results}"; QUICK="${2:-}"
BIN="${BUILD_DIR:-build}/bin/classifier_bench"
[ -x "$BIN" ] || scripts/build.sh classifier_bench
mkdir -p "$OUT"
classes=(100000 1000000 2000000)
[ "$QUICK" = "--quick" ] && classes=(20000 100000)
[ "$QUICK" = "--smoke" ] && classes=(20000)
MPI=(mpirun --allow-run-as-root --oversubscribe --mca mpi_yield_when_idle 1 -np 2)
: > "$OUT/classifier.jsonl"
for c in "${classes[@]}"; do
  for rate in 1 0.1; do
    echo "classes $c, sample_rate $rate ..." >&2
    "${MPI[@]}" "$BIN" --classes "$c" --sample-rate "$rate" --steps 4 --batch 64 \
      | grep '^{' >> "$OUT/classifier.jsonl"
  done
done
PY=.venv/bin/python; [ -x "$PY" ] || PY=python3
"$PY" - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
rows = [json.loads(l) for l in open(f"{out}/classifier.jsonl")]
json.dump(rows, open(f"{out}/classifier.json", "w"), indent=2)
gib = 1 << 30
lines = ["| classes | sample rate | theory per rank | peak − baseline per rank | ratio | step s | step vs exact |",
         "|---:|---:|---:|---:|---:|---:|---:|"]
exact = {}
for r in rows:
    worst = max(r["per_rank"], key=lambda p: p["peak_over_theory"])
    t = max(p["step_seconds_median"] for p in r["per_rank"])
    if r["sample_rate"] == 1:
        exact[r["classes"]] = t
    speed = exact.get(r["classes"], t) / t
    lines.append(f"| {r['classes']:,} | {r['sample_rate']} | {worst['theory_bytes']/gib:.2f} GiB | "
                 f"{(worst['peak_rss_bytes']-worst['baseline_rss_bytes'])/gib:.2f} GiB | "
                 f"{worst['peak_over_theory']:.2f} | {t:.3f} | {speed:.2f}× faster |")
open(f"{out}/classifier.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
