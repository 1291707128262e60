"""Independent numpy implementation of the eval metrics, the oracle for numpy_oracle_test.cpp.

Usage: metrics_oracle.py DATA FAR...   DATA: one "score label fold" line per sample.
Prints JSON {folds: [{threshold, accuracy}], accuracy_mean, accuracy_std, tar_at_far: [{tar,
threshold} or null], auc, eer, eer_threshold}. Rules are the ones documented in metrics.h, but
computed by brute force (every candidate threshold, every positive/negative pair).
"""
import json
import math
import sys

import numpy as np


def below(v):
    return v - max(1.0, abs(v))


def best_threshold(s, y):
    u = np.unique(s)
    cands = np.concatenate([[below(u[0])], (u[:-1] + u[1:]) / 2, [u[-1] + max(1.0, abs(u[-1]))]])
    acc = ((s[None, :] > cands[:, None]) == (y[None, :] == 1)).sum(axis=1)
    return cands[int(np.argmax(acc))]  # argmax: first maximum = smallest threshold


def main():
    data = np.loadtxt(sys.argv[1], ndmin=2)
    fars = [float(f) for f in sys.argv[2:]]
    s, y, f = data[:, 0], data[:, 1].astype(int), data[:, 2].astype(int)
    out = {"folds": []}
    for fold in np.unique(f):
        train, test = f != fold, f == fold
        t = best_threshold(s[train], y[train])
        out["folds"].append({"threshold": t, "accuracy": float(((s[test] > t) == (y[test] == 1)).mean())})
    accs = np.array([r["accuracy"] for r in out["folds"]])
    out["accuracy_mean"], out["accuracy_std"] = float(accs.mean()), float(accs.std())

    pos, neg = s[y == 1], s[y == 0]
    out["tar_at_far"] = []
    for far in fars:
        k = math.floor(far * len(neg) + 1e-9)
        if k == 0:
            out["tar_at_far"].append(None)
            continue
        t = np.sort(neg)[::-1][k] if k < len(neg) else below(s.min())
        out["tar_at_far"].append({"tar": float((pos > t).mean()), "threshold": float(t)})

    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    out["auc"] = float(wins / (len(pos) * len(neg)))

    # ROC by accepting score >= v for each distinct v (descending), then FAR - FRR = 0 by interp.
    u = np.unique(s)[::-1]
    far = np.concatenate([[0.0], [(neg >= v).mean() for v in u]])
    tar = np.concatenate([[0.0], [(pos >= v).mean() for v in u]])
    thr = np.concatenate([[u[0]], u[1:], [below(u[-1])]])
    d = far + tar - 1.0
    out["eer"] = float(np.interp(0.0, d, far))
    out["eer_threshold"] = float(np.interp(0.0, d, thr))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
