#!/usr/bin/env python3
"""Summarizes bench/hostile/run.sh: reads "ROUND MODE SECONDS STEPS" lines on stdin, writes
OUT_JSON and prints per-round step times and the median ratio hostile / quiet."""
import json
import statistics
import sys


def main():
    per = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        rnd, mode, seconds, steps = line.split()
        per.setdefault(int(rnd), {})[mode] = float(seconds) / int(steps)
    rounds = []
    for rnd, p in sorted(per.items()):
        rounds.append({"round": rnd, "quiet_ms_per_step": 1000 * p["quiet"],
                       "hostile_ms_per_step": 1000 * p["hostile"],
                       "ratio": p["hostile"] / p["quiet"]})
    out = {"rounds": rounds, "median_ratio": statistics.median(r["ratio"] for r in rounds)}
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=2)
    for r in rounds:
        print("round %d: quiet %.2f ms/step, hostile %.2f ms/step, ratio %.3f"
              % (r["round"], r["quiet_ms_per_step"], r["hostile_ms_per_step"], r["ratio"]))
    print("median step-time ratio hostile / quiet: %.3f" % out["median_ratio"])


if __name__ == "__main__":
    main()
