#!/usr/bin/env python3
"""Packed "in the wild" photos against aligned renders: does `l2face data pack` lose accuracy?

Synthesises the same identities twice with one seed: aligned crops (`l2face synth`) and wild
photos with landmark lists (`l2face synth --wild --landmark-noise N`); packs the wild ones with
`l2face data pack` (measuring the alignment error against the aligned crops); trains the same
small configuration on each training set; evaluates both on the (identical, aligned) evaluation
split with `l2face eval --pairs`; prints accuracy and TAR@FAR for both and writes results.json.

  .venv/bin/python bench/experiments/packed_vs_aligned.py [--l2face build/bin/l2face]
      [--work runs/experiments/packed-vs-aligned] [--steps 400] [--noise 1.0] [--smoke]

--smoke: a tiny corpus and a few steps (the CI check that the pipeline runs end to end).
"""
import argparse
import datetime
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from runner import sh  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CORPUS = dict(identities=200, images_per_identity=16, eval_identities=100,
              eval_images_per_identity=8, pairs_per_fold=200, folds=10, size=64, seed=21,
              difficulty=1.0)
SMOKE = dict(identities=8, images_per_identity=4, eval_identities=8, eval_images_per_identity=4,
             pairs_per_fold=4, folds=2, size=32, seed=21, difficulty=1.0)


def synth(l2face, out, corpus, extra):
    args = [l2face, "synth", "--out", out, "--threads", "2"] + extra
    for k, v in corpus.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    sh(args, out + ".log")


def config(train, size, steps, batch):
    return f"""run: {{seed: 1, device: cpu, threads: 2}}
data: {{train: {train}, batch_size: {batch}, workers: 1, image_size: {size}, flip_p: 0.5}}
model: {{backbone: tiny, embedding_dim: 128, width: 16, norm: batch}}
head: {{type: l2_softmax, alpha: 16}}
optim: {{type: sgd, lr: 0.1, momentum: 0.9, weight_decay: 5.0e-4, max_steps: {steps},
        warmup_steps: {max(1, steps // 10)}, schedule: cosine}}
checkpoint: {{every_steps: 0, keep_last: 1}}
monitoring: {{log_every: 50}}
"""


def train_and_eval(l2face, work, name, train, corpus, steps, pairs):
    run = os.path.join(work, "runs", name)
    shutil.rmtree(run, ignore_errors=True)  # a fresh run, never a resumed one
    os.makedirs(run)
    cfg = os.path.join(run, "config_in.yaml")
    with open(cfg, "w") as f:
        f.write(config(train, corpus["size"], steps, 16 if steps < 50 else 64))
    t0 = time.time()
    sh([l2face, "train", "--config", cfg, "--set", f"run.dir={run}"], os.path.join(run, "train.log"))
    sh([l2face, "eval", "--checkpoint", run, "--pairs", pairs, "--far", "1e-3,1e-2",
        "--out", os.path.join(run, "eval.json")], os.path.join(run, "eval.log"))
    e = json.load(open(os.path.join(run, "eval.json")))
    tar = {round(t["far"], 6): t["tar"] for t in e["tar_at_far"]}
    return {"accuracy": e["accuracy_mean"], "accuracy_std": e.get("accuracy_std"),
            "tar_1e-3": tar.get(0.001), "tar_1e-2": tar.get(0.01), "seconds": time.time() - t0}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--l2face", default=os.path.join(ROOT, "build", "bin", "l2face"))
    ap.add_argument("--work", default=os.path.join(ROOT, "runs", "experiments", "packed-vs-aligned"))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--noise", type=float, default=1.0, help="landmark noise (pixels)")
    ap.add_argument("--smoke", action="store_true")
    a = ap.parse_args()
    corpus, steps = (SMOKE, 6) if a.smoke else (CORPUS, a.steps)
    os.makedirs(a.work, exist_ok=True)
    aligned, wild = os.path.join(a.work, "aligned"), os.path.join(a.work, "wild")
    packed = os.path.join(a.work, "packed")
    synth(a.l2face, aligned, corpus, [])
    synth(a.l2face, wild, corpus, ["--wild", "--landmark-noise", str(a.noise)])
    sh([a.l2face, "data", "pack", "--input", os.path.join(wild, "train_list.txt"), "--out", packed,
        "--size", str(corpus["size"]), "--threads", "2", "--reference",
        os.path.join(aligned, "train"), "--truth", os.path.join(wild, "train_list_true.txt")],
       packed + ".log")
    report = json.load(open(os.path.join(packed, "pack_report.json")))
    pairs = os.path.join(aligned, "eval", "pairs.txt")
    results = {"date": datetime.date.today().isoformat(), "corpus": corpus, "steps": steps,
               "landmark_noise": a.noise, "alignment": {**report["reference"],
                                                         "landmark_rms": report["landmark_rms"]},
               "command": " ".join(sys.argv)}
    for name, train in (("aligned", os.path.join(aligned, "train")), ("packed", packed)):
        results[name] = train_and_eval(a.l2face, a.work, name, train, corpus, steps, pairs)
    with open(os.path.join(a.work, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    al = results["alignment"]
    print(f"alignment: mean abs error {al['mean_abs_error']:.3f} grey levels (worst image "
          f"{al['max_image_abs_error']:.3f}), landmark RMS {al['landmark_rms']:.3f} px")
    print(f"{'train set':10s} {'accuracy':>9s} {'TAR@1e-3':>9s} {'TAR@1e-2':>9s} {'seconds':>8s}")
    fmt = lambda x: "n/a" if x is None else f"{x:.4f}"  # noqa: E731 (too few pairs: no TAR)
    for name in ("aligned", "packed"):
        r = results[name]
        print(f"{name:10s} {fmt(r['accuracy']):>9s} {fmt(r['tar_1e-3']):>9s} "
              f"{fmt(r['tar_1e-2']):>9s} {r['seconds']:8.1f}")


if __name__ == "__main__":
    main()
