"""Summarises bench/step's runs: OUT/step.json, OUT/step.md and OUT/step.svg.

  python bench/step/summarize.py OUT/step.jsonl OUT

Runs are paired per (backbone, mode, round): the ratio is l2face's images/s over the reference's
in the same round (wall clock; for compute only also per CPU-second of the training process).
The table gives the medians over rounds and each round's ratio.
"""
import datetime
import json
import os
import platform
import statistics
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "experiments"))
import svg  # noqa: E402  (bench/experiments/svg.py: SVG charts without matplotlib)

GOAL = 1.10
NAMES = {"tiny": "tiny", "iresnet18": "IResNet-18", "iresnet34": "IResNet-34",
         "iresnet50": "IResNet-50", "iresnet100": "IResNet-100"}


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return {"cpus": os.cpu_count(), "cpu_model": model, "load_average_1min_at_end": load,
            "system": platform.platform()}


def main():
    src, out = sys.argv[1], sys.argv[2]
    runs = [json.loads(line) for line in open(src) if line.strip()]
    keys = []
    for r in runs:
        k = (r["backbone"], r["mode"])
        if k not in keys:
            keys.append(k)
    rows = []
    for b, mode in keys:
        rounds = sorted({r["round"] for r in runs if (r["backbone"], r["mode"]) == (b, mode)})
        pairs = []
        for rd in rounds:
            got = {r["impl"]: r for r in runs if (r["backbone"], r["mode"], r["round"]) == (b, mode, rd)}
            if "l2face" in got and "pytorch" in got:
                pairs.append((got["l2face"], got["pytorch"]))
        if not pairs:
            continue
        wall = [l["images_per_second"] / p["images_per_second"] for l, p in pairs]
        cpu = [l["images_per_cpu_second"] / p["images_per_cpu_second"] for l, p in pairs] \
            if mode == "compute" else []
        # The reference under l2face's malloc settings (bench/step/run.sh --malloc-reference).
        tuned = []
        for rd in rounds:
            got = {r["impl"]: r for r in runs if (r["backbone"], r["mode"], r["round"]) == (b, mode, rd)}
            if "l2face" in got and "pytorch_malloc" in got:
                tuned.append(got["l2face"]["images_per_second"] /
                             got["pytorch_malloc"]["images_per_second"])
        med = statistics.median
        rows.append({
            "backbone": b, "mode": mode, "batch": pairs[0][0]["batch"],
            "size": pairs[0][0]["size"], "threads": pairs[0][0]["threads"],
            "workers": pairs[0][0]["workers"], "steps": pairs[0][0]["steps"],
            "rounds": len(pairs),
            "l2face_images_per_second": med([l["images_per_second"] for l, _ in pairs]),
            "pytorch_images_per_second": med([p["images_per_second"] for _, p in pairs]),
            "ratio": med(wall), "ratios": wall,
            "ratio_per_cpu_second": med(cpu) if cpu else None, "ratios_per_cpu_second": cpu,
            "ratio_vs_malloc_reference": med(tuned) if tuned else None,
            "ratios_vs_malloc_reference": tuned,
            "l2face_data_wait_fraction": med([l["data_wait_fraction"] for l, _ in pairs]),
            "pytorch_data_wait_fraction": med([p["data_wait_fraction"] for _, p in pairs]),
            "goal_met": med(wall) >= GOAL,
            "same_batches": all(l.get("pixel_sum") == p.get("pixel_sum") and
                                l.get("label_sum") == p.get("label_sum") for l, p in pairs)})
    meta = {"date": datetime.date.today().isoformat(), "machine": machine(), "goal": GOAL}
    json.dump({"meta": meta, "rows": rows, "runs": runs}, open(os.path.join(out, "step.json"), "w"),
              indent=2)

    lines = [
        f"bench/step, {meta['date']}, {meta['machine']['cpus']} CPUs ({meta['machine']['cpu_model']}),"
        f" load average {meta['machine']['load_average_1min_at_end']:.1f} at the end; "
        f"{runs[0]['size']} x {runs[0]['size']}, {runs[0]['device']}, {runs[0]['precision']}"
        f"{', channels_last' if runs[0].get('channels_last') else ''}, {runs[0]['threads']} "
        f"intra-op thread{'s' if runs[0]['threads'] != 1 else ''}, l2_softmax head, SGD momentum 0.9, weight decay 5e-4",
        "",
        "| backbone | batch | mode | l2face images/s | PyTorch images/s | l2face / PyTorch | "
        "per round | per CPU-second | data wait l2face / PyTorch | ≥ 1.10× | "
        "l2face / PyTorch with l2face's malloc settings |",
        "|---|---:|---|---:|---:|---:|---|---:|---|---|---:|"]
    for r in rows:
        mode = "compute only" if r["mode"] == "compute" else \
            f"end to end ({r['workers']} worker{'s' if r['workers'] != 1 else ''})"
        cpu = f"{r['ratio_per_cpu_second']:.2f}" if r["ratio_per_cpu_second"] else "—"
        wait = "—" if r["mode"] == "compute" else \
            f"{100 * r['l2face_data_wait_fraction']:.0f} % / {100 * r['pytorch_data_wait_fraction']:.0f} %"
        lines.append(
            f"| {NAMES.get(r['backbone'], r['backbone'])} | {r['batch']} | {mode} | "
            f"{r['l2face_images_per_second']:.2f} | {r['pytorch_images_per_second']:.2f} | "
            f"**{r['ratio']:.2f}** | {', '.join(f'{x:.2f}' for x in r['ratios'])} | {cpu} | {wait} | "
            f"{'yes' if r['goal_met'] else 'no'} | "
            f"{'—' if r['ratio_vs_malloc_reference'] is None else format(r['ratio_vs_malloc_reference'], '.2f')} |")
    if not all(r["same_batches"] for r in rows):
        lines.append("\nWARNING: the compute-only batches of the two sides differ (pixel or label sums).")
    text = "\n".join(lines) + "\n"
    open(os.path.join(out, "step.md"), "w").write(text)
    print(text)

    if rows:
        values = [x for r in rows
                  for x in r["ratios"] + r["ratios_per_cpu_second"] + r["ratios_vs_malloc_reference"]]
        lo = min(0.5, min(values) - 0.1)
        hi = max(1.5, max(values) + 0.1)
        cats = [f"{NAMES.get(r['backbone'], r['backbone'])} {'compute' if r['mode'] == 'compute' else 'e2e'}"
                for r in rows]
        chart = svg.category_points(
            "l2face / PyTorch training images/s (dots: rounds, bar: mean)", "ratio", cats,
            [("wall clock", svg.PALETTE[0], [r["ratios"] for r in rows]),
             ("per CPU-second (compute only)", svg.PALETTE[2],
              [r["ratios_per_cpu_second"] for r in rows]),
             ("vs reference with l2face's malloc settings", svg.PALETTE[3],
              [r["ratios_vs_malloc_reference"] for r in rows])],
            (lo, hi), hlines=[(1.0, "parity"), (GOAL, f"goal {GOAL:.2f}x")])
        open(os.path.join(out, "step.svg"), "w").write(chart)


if __name__ == "__main__":
    main()
