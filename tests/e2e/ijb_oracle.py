"""An independent NumPy implementation of the IJB protocol (insightface's N1D1F1 pooling, 1:1 TAR
at FAR, 1:N CMC and TPIR at FPIR) checked against `l2face eval --ijb` on the same face features.

Usage: ijb_oracle.py IJB_DIR TARGET FEATURES.npy REPORT.json SCORES.csv FAR,... FPIR,...
"""
import csv
import json
import math
import os
import sys

import numpy as np


def read_lines(path):
    return [line.split() for line in open(path) if line.strip()]


def template_features(ijb, t, feats):
    faces = read_lines(os.path.join(ijb, "meta", t + "_name_5pts_score.txt"))
    tid_mid = read_lines(os.path.join(ijb, "meta", t + "_face_tid_mid.txt"))
    assert [f[0] for f in faces] == [r[0] for r in tid_mid]
    score = np.array([np.float32(float(f[11])) for f in faces], dtype=np.float32)
    weighted = (feats * score[:, None]).astype(np.float32)  # the detector score, in float32
    templates = np.array([int(r[1]) for r in tid_mid])
    medias = np.array([int(r[2]) for r in tid_mid])
    ids = np.unique(templates)
    out = np.zeros((len(ids), feats.shape[1]), dtype=np.float32)
    for k, tid in enumerate(ids):
        rows = np.where(templates == tid)[0]
        total = np.zeros(feats.shape[1])
        for m in np.unique(medias[rows]):
            members = rows[medias[rows] == m]
            total += weighted[members].astype(np.float64).mean(axis=0)
        out[k] = (total / np.linalg.norm(total)).astype(np.float32)
    return {int(tid): out[k] for k, tid in enumerate(ids)}


def tar_at_far(scores, labels, fars):
    neg = np.sort(scores[labels == 0])[::-1]
    pos = scores[labels == 1]
    out = []
    for far in fars:
        k = math.floor(far * len(neg) + 1e-9)
        if k < 1:
            out.append((None, None))
            continue
        thr = neg[k] if k < len(neg) else neg[-1] - max(1.0, abs(neg[-1]))
        out.append((float(np.mean(pos > thr)), float(thr)))
    return out


def rank_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return greater / (len(pos) * len(neg))


def read_search(path, tf):
    rows = list(csv.reader(open(path)))
    assert rows[0][:2] == ["TEMPLATE_ID", "SUBJECT_ID"], rows[0]
    seen = {}
    for r in rows[1:]:
        seen.setdefault(int(r[0]), int(r[1]))
    tids = list(seen)
    return np.stack([tf[t] for t in tids]).astype(np.float64), np.array([seen[t] for t in tids])


def identify(gallery, gsub, probes, psub, fpirs):
    subjects = sorted(set(gsub.tolist()))
    sim = probes @ gallery.T
    best = np.stack([sim[:, gsub == s].max(axis=1) for s in subjects], axis=1)
    ranks, search_scores, search_labels = [], [], []
    for p in range(len(psub)):
        if psub[p] in subjects:
            c = subjects.index(psub[p])
            mine = best[p, c]
            rank = 1 + int(np.sum(np.delete(best[p], c) >= mine))
            ranks.append(rank)
            search_scores.append(mine if rank == 1 else -2.0)
            search_labels.append(1)
        else:
            search_scores.append(best[p].max())
            search_labels.append(0)
    ranks = np.array(ranks)
    cmc = {k: float(np.mean(ranks <= k)) for k in (1, 5, 10)}
    tpir = tar_at_far(np.array(search_scores), np.array(search_labels), fpirs)
    return len(subjects), len(ranks), len(psub) - len(ranks), cmc, tpir


def close(a, b, tol, what):
    if a is None or b is None:
        assert a is None and b is None, (what, a, b)
        return
    assert abs(a - b) <= tol, (what, a, b)


def main():
    ijb, target, feats_path, report_path, scores_path = sys.argv[1:6]
    fars = [float(x) for x in sys.argv[6].split(",")]
    fpirs = [float(x) for x in sys.argv[7].split(",")]
    t = target.lower()
    feats = np.load(feats_path)
    report = json.load(open(report_path))
    report = report["reports"][-1] if "reports" in report else report
    tf = template_features(ijb, t, feats)

    pairs = read_lines(os.path.join(ijb, "meta", t + "_template_pair_label.txt"))
    scores = np.array([float(tf[int(a)].astype(np.float64) @ tf[int(b)].astype(np.float64))
                       for a, b, _ in pairs])
    labels = np.array([int(x[2]) for x in pairs])
    saved = np.array([float(r["score"]) for r in csv.DictReader(open(scores_path))])
    assert np.max(np.abs(saved - scores)) < 1e-9, np.max(np.abs(saved - scores))
    assert report["protocol"] == "ijb" and report["pairs"] == len(pairs)
    assert report["positives"] == int(labels.sum()) and report["negatives"] == int((labels == 0).sum())
    for got, (tar, thr) in zip(report["tar_at_far"], tar_at_far(scores, labels, fars)):
        assert got["tar"] == tar, (got, tar)
        close(got["threshold"], thr, 1e-9, "threshold")
    close(report["auc"], rank_auc(scores, labels), 1e-12, "auc")

    names = ["S1", "S2"] if t == "ijbb" else ["G1", "G2"]
    probes, psub = read_search(os.path.join(ijb, "meta", t + "_1N_probe_mixed.csv"), tf)
    assert [g["gallery"] for g in report["identification"]] == names
    for g, name in zip(report["identification"], names):
        gallery, gsub = read_search(os.path.join(ijb, "meta", "%s_1N_gal_%s.csv" % (t, name)), tf)
        subjects, mated, nonmated, cmc, tpir = identify(gallery, gsub, probes, psub, fpirs)
        assert (g["gallery_subjects"], g["mated"], g["nonmated"]) == (subjects, mated, nonmated), g
        assert {r["rank"]: r["accuracy"] for r in g["ranks"]} == cmc, (g["ranks"], cmc)
        for got, (rate, thr) in zip(g["tpir_at_fpir"], tpir):
            assert got["tpir"] == rate, (got, rate)
            close(got["threshold"], thr, 1e-9, "tpir threshold")
    print("oracle: %d pairs, %d templates, TAR %s; 1:N %s" % (
        len(pairs), len(tf), [g["tar"] for g in report["tar_at_far"]],
        [(g["gallery"], g["ranks"][0]["accuracy"]) for g in report["identification"]]))


if __name__ == "__main__":
    main()
