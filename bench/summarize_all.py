"""One table of ratios over bench/run_all's outputs (OUT/*.log, OUT/*/...json); also OUT/summary.json.

  python bench/summarize_all.py OUT

A piece that did not run (or failed) shows as "—". Goals are the ones each benchmark states in
docs/performance.md.
"""
import datetime
import json
import os
import re
import statistics
import sys


def read(path):
    try:
        return open(path).read()
    except OSError:
        return None


def load(path):
    text = read(path)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def prom(path):
    """Prometheus text -> {metric name: summed value} (labels dropped)."""
    out = {}
    for line in (read(path) or "").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)", line)
        if m and "le=" not in (m.group(2) or ""):
            out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
    return out


def main():
    out = sys.argv[1]
    rows = []  # (piece, measurement, value, goal)

    data = read(os.path.join(out, "data.log")) or ""
    for label, key in (("loader 1 worker, ImageFolder / raw decode (per CPU-second)", "ImageFolder"),
                       ("loader 1 worker, RecordIO / raw decode (per CPU-second)", "RecordIO: pread")):
        m = re.search(r"^\| loader, 1 worker, " + re.escape(key) + r"[^|]*\|[^|]*\|[^|]*\|[^|]*\|\s*([\d.]+)",
                      data, re.M)
        rows.append(("data", label, float(m.group(1)) if m else None, "≥ 0.85"))

    ar = read(os.path.join(out, "allreduce.log")) or ""
    j = None
    m = re.search(r"^\{.*?^\}", ar, re.M | re.S)
    if m:
        try:
            j = json.loads(m.group(0))
        except ValueError:
            j = None
    if j and j.get("sizes"):
        big = j["sizes"][-1]
        mib = big["bytes"] / 1048576
        rows.append(("allreduce", f"GradSync (view) / raw MPI_Allreduce at {mib:g} MiB, 2 ranks",
                     big["ratio_gradsync_view"], "≥ 0.9"))
        for kind, label in (("sleep", "host idle"), ("spin", "host busy")):
            o = [x for x in j.get("overlap", []) if x.get("compute_to_comm") == 1 and
                 x.get("backward") == kind]
            if o:
                rows.append(("allreduce", f"exposed / step, ResNet-50 gradients, {label}, 1:1",
                             o[0]["exposed_fraction"], "< 0.5 (no overlap)"))
    else:
        rows.append(("allreduce", "GradSync (view) / raw MPI_Allreduce", None, "≥ 0.9"))

    cl = load(os.path.join(out, "classifier", "classifier.json"))
    if cl:
        c = max(r["classes"] for r in cl)
        worst = max(p["peak_over_theory"] for r in cl if r["classes"] == c for p in r["per_rank"])
        rows.append(("classifier", f"peak − baseline over theory, {c:,} classes, worst rank",
                     worst, "≤ 1.2"))
        step = {(r["classes"], r["sample_rate"]): max(p["step_seconds_median"] for p in r["per_rank"])
                for r in cl}
        if (c, 1) in step and (c, 0.1) in step:
            rows.append(("classifier", f"step speed, sample rate 0.1 / exact, {c:,} classes",
                         step[(c, 1)] / step[(c, 0.1)], "> 1"))
    else:
        rows.append(("classifier", "peak − baseline over theory", None, "≤ 1.2"))

    ck = load(os.path.join(out, "checkpoint.json"))
    if ck:
        for s in ck["summary"]:
            rows.append(("checkpoint", f"save / dd throughput, {s['ranks']} rank(s), "
                         f"{ck['bytes'] / 2**20:g} MiB", s["ratio"], "≥ 0.8"))
    else:
        rows.append(("checkpoint", "save / dd throughput", None, "≥ 0.8"))

    st = load(os.path.join(out, "step", "step.json"))
    if st:
        for r in st["rows"]:
            mode = "compute only" if r["mode"] == "compute" else "end to end"
            rows.append(("step", f"l2face / PyTorch images/s, {r['backbone']} batch {r['batch']}, "
                         f"{mode}", r["ratio"], "≥ 1.10"))
    else:
        rows.append(("step", "l2face / PyTorch images/s", None, "≥ 1.10"))

    scaling = {}
    for n in (1, 2):
        s = load(os.path.join(out, f"scaling_np{n}.json"))
        if not s:
            continue
        per_rank = s["images_per_second"] / s["world_size"]
        exposed = step_sum = 0.0
        scrape = os.path.join(out, "scaling", f"np{n}", "scrape")
        for f in sorted(os.listdir(scrape)) if os.path.isdir(scrape) else []:
            if f.endswith(".prom"):
                p = prom(os.path.join(scrape, f))
                exposed += p.get("l2face_comm_exposed_seconds_total", 0.0)
                step_sum += p.get("l2face_step_seconds_sum", 0.0)
        scaling[n] = {"images_per_second": s["images_per_second"], "per_rank": per_rank,
                      "data_wait_fraction": s["data_wait_fraction"],
                      "exposed_fraction": exposed / step_sum if step_sum > 0 else None}
    if 1 in scaling and 2 in scaling:
        rows.append(("scaling", "images/s per rank, 2 ranks / 1 rank (tiny, batch 32 per rank)",
                     scaling[2]["per_rank"] / scaling[1]["per_rank"], "1.0 = linear"))
        rows.append(("scaling", "job images/s, 2 ranks / 1 rank",
                     scaling[2]["images_per_second"] / scaling[1]["images_per_second"], "2.0 = linear"))
        rows.append(("scaling", "exposed communication / step time, 2 ranks",
                     scaling[2]["exposed_fraction"], "—"))
    else:
        rows.append(("scaling", "images/s per rank, 2 ranks / 1 rank", None, "1.0 = linear"))

    meta = {"date": datetime.date.today().isoformat(), "cpus": os.cpu_count(),
            "load_average_1min_at_end": os.getloadavg()[0]}
    json.dump({"meta": meta, "rows": [dict(zip(("piece", "measurement", "value", "goal"), r))
                                      for r in rows], "scaling": scaling},
              open(os.path.join(out, "summary.json"), "w"), indent=2)
    print(f"bench/run_all, {meta['date']}, {meta['cpus']} CPUs, load average "
          f"{meta['load_average_1min_at_end']:.1f} at the end\n")
    print("| piece | measurement | value | goal |\n|---|---|---:|---|")
    for piece, what, v, goal in rows:
        print(f"| {piece} | {what} | {'—' if v is None else f'{v:.2f}'} | {goal} |")
    if scaling:
        print("\n| ranks | job images/s | images/s per rank | data wait | exposed communication |")
        print("|---:|---:|---:|---:|---:|")
        for n, s in sorted(scaling.items()):
            e = "—" if s["exposed_fraction"] is None else f"{100 * s['exposed_fraction']:.1f} %"
            print(f"| {n} | {s['images_per_second']:.1f} | {s['per_rank']:.1f} | "
                  f"{100 * s['data_wait_fraction']:.1f} % | {e} |")


if __name__ == "__main__":
    main()
