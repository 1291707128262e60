#!/usr/bin/env python3
"""Reproduction experiment for the L2-constrained softmax (docs/experiments/l2-softmax.md).

On one synthetic corpus (disjoint evaluation identities), trains every arm with the same steps,
batch, learning-rate schedule and seeds (only the head differs), evaluates verification accuracy
and TAR at FAR 1e-3 / 1e-2, measures the feature norm against the per-image quality score, and
writes the tables (a generated block of docs/experiments/l2-softmax.md), results.json and SVG
plots (docs/experiments/l2-softmax/). Runs are resumable: a run with summary.json and eval.json
is not repeated.

  .venv/bin/python bench/experiments/l2_softmax.py [--l2face build/bin/l2face]
      [--work runs/experiments/l2-softmax] [--steps 800] [--seeds 1 2] [--jobs 2]
"""
import argparse
import concurrent.futures
import csv
import json
import math
import os
import re
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import svg  # noqa: E402
from runner import machine_now, make_corpus, sh  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "experiments", "l2-softmax.md")
FIG = os.path.join(ROOT, "docs", "experiments", "l2-softmax")
BEGIN, END = "<!-- BEGIN generated results", "<!-- END generated results -->"

# (name, --set overrides): only the head differs between arms. Normalised heads use
# insightface's published defaults (s = 64; ArcFace m = 0.5, CosFace m = 0.4), untuned.
ARMS = [("softmax", ["head.type=softmax"])]
ARMS += [(f"l2 α={a}", ["head.type=l2_softmax", f"head.alpha={a}"]) for a in (1, 4, 8, 16, 32)]
ARMS += [("l2 learned α", ["head.type=l2_softmax", "head.alpha=16", "head.alpha_learnable=true"]),
         ("l2 auto α", ["head.type=l2_softmax", "head.alpha=auto"]),
         ("cosface", ["head.type=cosface", "head.scale=64", "head.margin=0.4"]),
         ("arcface", ["head.type=arcface", "head.scale=64", "head.margin=0.5"])]

# A diagnostic outside the head comparison: the softmax baseline without any BatchNorm (the tiny
# net otherwise ends in BatchNorm1d, which standardises the embedding's coordinates), to see
# whether the embedding BN is what hides a norm-quality relation.
DIAGNOSTIC = [("softmax, no BN", ["head.type=softmax", "model.norm=none"])]

CORPUS = dict(identities=300, images_per_identity=20, eval_identities=200,
              eval_images_per_identity=10, pairs_per_fold=300, folds=10, size=64,
              difficulty=1.75, seed=11)


def slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.replace("α", "alpha")).strip("_")


def base_config(corpus, steps):
    return f"""# Shared by every arm: only head.* is overridden per arm.
run: {{seed: 1, device: cpu, threads: 1}}
data: {{train: {corpus}/train, batch_size: 64, workers: 1, image_size: 64, flip_p: 0.5}}
model: {{backbone: tiny, embedding_dim: 128, width: 16, norm: batch}}
optim: {{type: sgd, lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4, max_steps: {steps},
        warmup_steps: {max(1, steps // 10)}, schedule: cosine}}
checkpoint: {{every_steps: 0, keep_last: 1}}
monitoring: {{log_every: 20}}
"""


def run_arm(l2face, work, corpus, name, sets, seed):
    run = os.path.join(work, "runs", f"{slug(name)}_seed{seed}")
    if os.path.exists(os.path.join(run, "eval.json")) and os.path.exists(os.path.join(run, "summary.json")):
        return run, 0.0
    t0 = time.time()
    os.makedirs(run, exist_ok=True)
    sets = sets + [f"run.seed={seed}", f"run.dir={run}"]
    cmd = [l2face, "train", "--config", os.path.join(work, "base.yaml")]
    for s in sets:
        cmd += ["--set", s]
    sh(cmd, os.path.join(run, "train.log"))
    sh([l2face, "eval", "--checkpoint", run, "--pairs", os.path.join(corpus, "eval", "pairs.txt"),
        "--far", "1e-3,1e-2", "--out", os.path.join(run, "eval.json")], os.path.join(run, "eval.log"))
    return run, time.time() - t0


def metrics(run):
    s = json.load(open(os.path.join(run, "summary.json")))
    e = json.load(open(os.path.join(run, "eval.json")))
    tar = {round(t["far"], 6): t["tar"] for t in e["tar_at_far"]}
    alphas = [float(m.group(1)) for m in re.finditer(r"step\s+\d+/\d+.*?alpha ([-0-9.e+]+)",
                                                     open(os.path.join(run, "train.log")).read())]
    return {"accuracy": e["accuracy_mean"], "tar_1e-3": tar.get(0.001), "tar_1e-2": tar.get(0.01),
            "eer": e["eer"], "auc": e["auc"], "final_loss": s["final_loss"],
            "train_accuracy": s["train_accuracy"], "alpha": s["alpha"], "alpha_low": s["alpha_low"],
            "skipped_steps": s.get("skipped_steps", 0), "train_seconds": s["seconds"],
            "alpha_trace": alphas}


def embed_eval(l2face, corpus, run):
    """Raw features f(x) of every evaluation image (no flip): paths, quality, norms, features."""
    out, npy = os.path.join(run, "eval_norms.csv"), os.path.join(run, "eval_features.npy")
    if not (os.path.exists(out) and os.path.exists(npy)):
        sh([l2face, "embed", "--checkpoint", run, "--images", os.path.join(corpus, "eval"),
            "--out", out, "--features", npy])
    rows = {}
    with open(os.path.join(corpus, "quality.csv")) as f:
        for row in csv.DictReader(f):
            rows[row["path"]] = row
    paths, q, n, factors = [], [], [], {k: [] for k in FACTORS}
    with open(out) as f:
        for row in csv.DictReader(f):
            paths.append(row["path"])
            r = rows["eval/" + row["path"]]
            q.append(float(r["quality"]))
            n.append(float(row["norm"]))
            for k, get in FACTORS.items():
                factors[k].append(get(r))
    return paths, np.array(q), np.array(n), np.load(npy), {k: np.array(v) for k, v in factors.items()}


# The components of the synthetic quality score (quality.csv), as magnitudes.
FACTORS = {"|yaw|": lambda r: abs(float(r["yaw"])), "|roll|": lambda r: abs(float(r["roll"])),
           "scale": lambda r: float(r["scale"]), "illumination": lambda r: float(r["illumination"]),
           "occluded": lambda r: float(r["occlusion"] != "none"), "blur": lambda r: float(r["blur"]),
           "jpeg quality": lambda r: float(r["jpeg_quality"])}


def read_pairs(corpus):
    """(path1, path2, same) for every line of the LFW-layout pairs file."""
    out = []
    with open(os.path.join(corpus, "eval", "pairs.txt")) as f:
        next(f)
        for line in f:
            t = line.split()
            name = lambda who, i: f"{who}/{who}_{int(i):04d}.jpg"  # noqa: E731
            out.append((name(t[0], t[1]), name(t[0], t[2]), True) if len(t) == 3
                       else (name(t[0], t[1]), name(t[2], t[3]), False))
    return out


def tar_by_quality(paths, q, feats, pairs, far=0.01, groups=3):
    """TAR at `far` within each third of the pairs ranked by their lower image quality, with the
    threshold taken from that third's own impostor pairs: where verification degrades."""
    index = {p: i for i, p in enumerate(paths)}
    f = feats / np.linalg.norm(feats, axis=1, keepdims=True).clip(1e-12)
    a = np.array([index[p[0]] for p in pairs])
    b = np.array([index[p[1]] for p in pairs])
    same = np.array([p[2] for p in pairs])
    score = (f[a] * f[b]).sum(1)
    low = np.minimum(q[a], q[b])
    edges = np.quantile(low, np.linspace(0, 1, groups + 1))
    which = np.clip(np.searchsorted(edges, low, side="right") - 1, 0, groups - 1)
    out = []
    for g in range(groups):
        neg = np.sort(score[(which == g) & ~same])[::-1]
        thr = neg[max(0, int(math.floor(far * len(neg))) - 1)] if len(neg) else math.inf
        pos = score[(which == g) & same]
        out.append(float((pos > thr).mean()) if len(pos) else None)
    return out


def ranks(x):
    """Ranks with ties averaged (blur, JPEG quality and occlusion have many ties)."""
    r = np.empty(len(x))
    r[np.argsort(x, kind="stable")] = np.arange(len(x))
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    return (np.bincount(inverse, weights=r) / counts)[inverse]


def spearman(a, b):
    return float(np.corrcoef(ranks(np.asarray(a)), ranks(np.asarray(b)))[0, 1])


def binned(q, n, bins=10):
    edges = np.quantile(q, np.linspace(0, 1, bins + 1))
    idx = np.clip(np.searchsorted(edges, q, side="right") - 1, 0, bins - 1)
    return ([float(q[idx == b].mean()) for b in range(bins)],
            [float(n[idx == b].mean()) for b in range(bins)])


def mean_spread(values):
    v = [x for x in values if x is not None]
    if not v:
        return None, None
    return sum(v) / len(v), (max(v) - min(v)) / 2


def pct(values):
    m, s = mean_spread(values)
    return "n/a" if m is None else f"{100 * m:.2f} ± {100 * s:.2f}"


def write_outputs(results, seeds, quality, machine, command, minutes):
    os.makedirs(FIG, exist_ok=True)
    names = [n for n, _ in ARMS]
    summary = {k: {f: v for f, v in qd.items() if f not in ("quality", "norm")} for k, qd in quality.items()}
    json.dump({"corpus": CORPUS, "seeds": seeds, "machine": machine, "command": command,
               "runs": results, "quality": summary}, open(os.path.join(FIG, "results.json"), "w"), indent=1)

    lines = [f"{BEGIN}: bench/experiments/l2_softmax.py; do not edit by hand -->", "",
             f"Command: `{command}`  ", f"Date: {machine['date']}; machine: {machine['desc']}; "
             f"wall time of this invocation: {minutes:.1f} min.", "",
             "| arm | verification accuracy % | TAR@FAR=1e-3 % | TAR@FAR=1e-2 % | EER % | final α | "
             "train loss | train acc % |", "|---|---|---|---|---|---|---|---|"]
    for n in names:
        rs = [results[n][str(s)] for s in seeds]
        alpha = mean_spread([r["alpha"] for r in rs])[0]
        lines.append(f"| {n} | {pct([r['accuracy'] for r in rs])} | {pct([r['tar_1e-3'] for r in rs])} | "
                     f"{pct([r['tar_1e-2'] for r in rs])} | {pct([r['eer'] for r in rs])} | "
                     f"{'—' if n == 'softmax' else f'{alpha:.2f}'} | "
                     f"{mean_spread([r['final_loss'] for r in rs])[0]:.3f} | "
                     f"{100 * mean_spread([r['train_accuracy'] for r in rs])[0]:.1f} |")
    lines += ["", f"Mean ± half the range over seeds {', '.join(map(str, seeds))}. α_low for "
              f"C = {CORPUS['identities']}, p = 0.9: {results['l2 auto α'][str(seeds[0])]['alpha']:.2f}. "
              "Final α of the normalised heads is their scale s.", "",
              "Raw features f(x) of the 2000 evaluation images (no flip): Spearman ρ between ‖f(x)‖ and "
              "the image's quality score, and TAR at FAR = 1e-2 within each third of the pairs ranked by "
              "the lower quality of their two images (threshold from that third's impostor pairs).", "",
              "| features of | ρ(‖f‖, quality) | TAR@1e-2 % lowest-quality third | middle third | "
              "highest third |", "|---|---|---|---|---|"]
    for n, _ in ARMS + DIAGNOSTIC:
        rs = [results[n][str(s)] for s in seeds]
        m, sp = mean_spread([r["spearman_norm_quality"] for r in rs])
        thirds = [pct([r["tar_1e-2_by_quality"][g] for r in rs]) for g in range(3)]
        lines.append(f"| {n} | {m:+.3f} ± {sp:.3f} | {' | '.join(thirds)} |")
    d = DIAGNOSTIC[0][0]
    rd = [results[d][str(s)] for s in seeds]
    lines += ["", f"Diagnostic arm *{d}* (same budget; the backbone without BatchNorm, so outside the head "
              f"comparison): accuracy {pct([r['accuracy'] for r in rd])} %, TAR@1e-3 "
              f"{pct([r['tar_1e-3'] for r in rd])} %, TAR@1e-2 {pct([r['tar_1e-2'] for r in rd])} %.", "",
              "| features of | images | ρ(‖f‖, quality) | mean norm, lowest-quality decile | "
              "mean norm, highest-quality decile |", "|---|---|---|---|---|"]
    for tag, qd in quality.items():
        lines.append(f"| {qd['arm']} (seed {qd['seed']}) | {qd['images']} | {qd['spearman']:+.3f} | "
                     f"{qd['bin_norm'][0]:.2f} | {qd['bin_norm'][-1]:.2f} |")
    lines += ["", "Spearman ρ between ‖f(x)‖ and each component of the quality score (mean over seeds):", "",
              "| features of | " + " | ".join(k.replace("|", "\\|") for k in FACTORS) + " |",
              "|---|" + "---|" * len(FACTORS)]
    for n in ("softmax", "l2 auto α", DIAGNOSTIC[0][0]):
        rs = [results[n][str(s)]["spearman_norm_factor"] for s in seeds]
        lines.append(f"| {n} | " + " | ".join(f"{mean_spread([r[k] for r in rs])[0]:+.2f}" for k in FACTORS) + " |")
    lines += ["", "![verification](l2-softmax/verification.svg)", "",
              "![alpha sweep](l2-softmax/alpha_sweep.svg)", "",
              "![feature norm against quality](l2-softmax/norm_vs_quality.svg)", "",
              "![learned alpha](l2-softmax/learned_alpha.svg)", "", END]
    block = "\n".join(lines) + "\n"
    doc = open(DOC).read() if os.path.exists(DOC) else f"# L2-constrained softmax\n\n{BEGIN} -->\n{END}\n"
    b, e = doc.find(BEGIN), doc.find(END)
    doc = doc[:b] + block + doc[e + len(END) + 1:] if b >= 0 and e >= 0 else doc + "\n" + block
    open(DOC, "w").write(doc)

    def seeds_of(key):
        return [[results[n][str(s)][key] * 100 for s in seeds] for n in names]
    open(os.path.join(FIG, "verification.svg"), "w").write(svg.category_points(
        "Verification on disjoint identities (bars: seeds, mark: mean)", "%", names,
        [("accuracy", svg.PALETTE[0], seeds_of("accuracy")),
         ("TAR@FAR=1e-2", svg.PALETTE[2], seeds_of("tar_1e-2")),
         ("TAR@FAR=1e-3", svg.PALETTE[1], seeds_of("tar_1e-3"))], (0, 100)))

    alphas = [1, 4, 8, 16, 32]
    series, hl = [], []
    for key, label, color in (("accuracy", "accuracy", svg.PALETTE[0]),
                              ("tar_1e-3", "TAR@FAR=1e-3", svg.PALETTE[1])):
        ys = [mean_spread([results[f"l2 α={a}"][str(s)][key] for s in seeds])[0] * 100 for a in alphas]
        series.append((f"L2-softmax {label}", color, alphas, ys))
        hl.append((mean_spread([results["softmax"][str(s)][key] for s in seeds])[0] * 100, f"softmax {label}"))
    open(os.path.join(FIG, "alpha_sweep.svg"), "w").write(svg.lines(
        "Fixed α sweep (mean over seeds); dashed: softmax", "α (log scale)", "%", series, (1, 32),
        (0, 100), logx=True, hlines=hl))

    # Points for the softmax baseline (the paper's motivation); decile means for every arm measured.
    groups, curves, lo, hi = [], [], math.inf, 0
    for i, (tag, qd) in enumerate(quality.items()):
        n = np.array(qd["norm"]) / np.median(qd["norm"])
        if i == 0:
            groups.append((f"{qd['arm']} images", svg.PALETTE[0], qd["quality"], np.round(n, 3).tolist()))
            lo, hi = float(np.quantile(n, 0.005)), float(np.quantile(n, 0.995))
        curves.append((f"{qd['arm']} decile means, ρ = {qd['spearman']:.2f}", svg.PALETTE[1 + 2 * i],
                       qd["bin_quality"], (np.array(qd["bin_norm"]) / np.median(qd["norm"])).tolist()))
    open(os.path.join(FIG, "norm_vs_quality.svg"), "w").write(svg.scatter(
        "Feature norm ‖f(x)‖ against image quality (evaluation images)", "quality score",
        "norm / median norm", groups, (0, 1), (max(0, lo - 0.05), hi + 0.05), lines=curves))

    traces = [(f"seed {s}", svg.PALETTE[k], list(range(20, 20 * len(results["l2 learned α"][str(s)]["alpha_trace"]) + 1, 20)),
               results["l2 learned α"][str(s)]["alpha_trace"]) for k, s in enumerate(seeds)]
    top = max(max(t[3]) for t in traces)
    alpha_low = results["l2 auto α"][str(seeds[0])]["alpha"]
    open(os.path.join(FIG, "learned_alpha.svg"), "w").write(svg.lines(
        "Learned α during training (initialised at 16)", "step", "α", traces,
        (0, traces[0][2][-1]), (0, max(top, 16) * 1.1), hlines=[(alpha_low, "α_low"), (16, "init")]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--l2face", default=os.path.join(ROOT, "build", "bin", "l2face"))
    ap.add_argument("--work", default=os.path.join(ROOT, "runs", "experiments", "l2-softmax"))
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel (each uses 1 thread)")
    args = ap.parse_args()
    if len(args.seeds) < 2:
        sys.exit("at least two seeds")
    t0 = time.time()
    work, corpus = args.work, os.path.join(args.work, "corpus")
    os.makedirs(work, exist_ok=True)
    make_corpus(args.l2face, corpus, CORPUS)
    open(os.path.join(work, "base.yaml"), "w").write(base_config(corpus, args.steps))

    jobs = [(n, sets, s) for s in args.seeds for n, sets in ARMS + DIAGNOSTIC]
    runs = {}
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_arm, args.l2face, work, corpus, n, sets, s): (n, s) for n, sets, s in jobs}
        for f in concurrent.futures.as_completed(futures):
            n, s = futures[f]
            runs[(n, s)], secs = f.result()
            print(f"{n:>14} seed {s}: {'cached' if secs == 0 else f'{secs:.0f} s'}", flush=True)
    results = {n: {str(s): metrics(runs[(n, s)]) for s in args.seeds} for n, _ in ARMS + DIAGNOSTIC}

    pairs = read_pairs(corpus)
    quality = {}
    for n, _ in ARMS + DIAGNOSTIC:
        for s in args.seeds:
            paths, q, norms, feats, factors = embed_eval(args.l2face, corpus, runs[(n, s)])
            r = results[n][str(s)]
            r["spearman_norm_quality"] = spearman(q, norms)
            r["spearman_norm_factor"] = {k: spearman(v, norms) for k, v in factors.items()}
            r["tar_1e-2_by_quality"] = tar_by_quality(paths, q, feats, pairs)
            if n in ("softmax", "l2 auto α", "softmax, no BN") and s == args.seeds[0]:
                bq, bn = binned(q, norms)
                quality[slug(n)] = {"arm": n, "seed": s, "images": len(q), "spearman": spearman(q, norms),
                                    "quality": q.tolist(), "norm": norms.tolist(),
                                    "bin_quality": bq, "bin_norm": bn}
    machine = machine_now()
    command = "bench/experiments/l2_softmax.py " + " ".join(sys.argv[1:])
    write_outputs(results, args.seeds, quality, machine, command.strip(), (time.time() - t0) / 60)
    print(f"wrote {DOC} and {FIG}/ in {(time.time() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
