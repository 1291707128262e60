"""The small-scale overrides of a shipped config's recipe, and the check of a run made with them.

  recipe_overrides.py CONFIG WORK NAME          prints `--set` / `key=value` lines, one per line,
                                                and writes the .bin sets the recipe names
  recipe_overrides.py --check CONFIG WORK NAME RUN_DIR
"""
import json
import os
import pickle
import re
import sys


def scalar(text):
    """A YAML scalar of the shipped configs' subset: number, bool, quoted or plain string, list."""
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        return [scalar(x) for x in text[1:-1].split(",") if x.strip()]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    try:
        return float(text)
    except ValueError:
        return text


def load(path):
    """section.key -> value of a two-level YAML file (comments, flow and block lists)."""
    out, section, key = {}, None, None
    for raw in open(path):
        line = re.sub(r"\s+#.*$", "", raw.rstrip("\n")) if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        if not line.startswith(" "):
            section = line.rstrip(":").strip()
            continue
        item = re.match(r"^\s+-\s+(.*)$", line)
        if item:
            previous = out[key] if isinstance(out.get(key), list) else []
            out[key] = previous + [scalar(item.group(1))]
            continue
        k, _, v = line.strip().partition(":")
        key = f"{section}.{k.strip()}"
        out[key] = scalar(v) if v.strip() else []
    return out


def write_bins(pairs_txt, names, out_dir):
    """The pairs of an LFW pairs.txt as insightface .bin sets (pickle protocol 2), one per name."""
    ev = os.path.dirname(pairs_txt)
    lines = [l.split() for l in open(pairs_txt) if l.strip()][1:]
    img = lambda n, i: open(os.path.join(ev, n, "%s_%04d.jpg" % (n, int(i))), "rb").read()
    bins, same = [], []
    for f in lines:
        bins += [img(f[0], f[1]), img(f[0], f[2]) if len(f) == 3 else img(f[2], f[3])]
        same.append(len(f) == 3)
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for n in names:
        paths.append(os.path.join(out_dir, n + ".bin"))
        with open(paths[-1], "wb") as fh:
            pickle.dump((bins, same), fh, protocol=2)
    return paths


def overrides(cfg, work, name):
    """Paths, sizes, cadences and the CPU device; nothing that chooses the model or the training."""
    folder, rec = os.path.join(work, "folder"), os.path.join(work, "rec")
    pairs = os.path.join(folder, "eval", "pairs.txt")
    train = cfg.get("data.train", "")
    o = {"run.dir": os.path.join(work, "runs", name), "run.device": "cpu",
         # the ImageFolder corpus for a recipe that trains from one, else the RecordIO one
         "data.train": os.path.join(folder, "train") if os.path.basename(train) == "train" else rec,
         "data.image_size": 32, "data.batch_size": 4, "data.workers": 1,
         "optim.max_steps": 2, "monitoring.port": 0, "monitoring.bind": "127.0.0.1"}
    if cfg.get("optim.warmup_steps", 0):
        o["optim.warmup_steps"] = 1
    if cfg.get("optim.milestones"):
        o["optim.milestones"] = "[1]"
    if cfg.get("monitoring.targets_dir"):
        o["monitoring.targets_dir"] = os.path.join(work, "targets", name)
    if cfg.get("eval.pairs"):
        o["eval.pairs"] = pairs
    if cfg.get("eval.images"):
        o["eval.images"] = os.path.join(folder, "eval")
    if cfg.get("eval.bins"):
        stems = [os.path.splitext(os.path.basename(b))[0] for b in cfg["eval.bins"].split(",")]
        o["eval.bins"] = ",".join(write_bins(pairs, stems, os.path.join(work, "bins", name)))
    if cfg.get("eval.templates"):
        o["eval.templates"] = os.path.join(folder, "eval")
    if cfg.get("eval.every_steps", 0):
        o["eval.every_steps"] = 2  # once, at the last step
    if cfg.get("eval.batch_size"):
        o["eval.batch_size"] = 16
    if cfg.get("eval.folds"):
        o["eval.folds"] = 2  # the synthetic sets hold 2 folds of 8 pairs
    return o


def check(cfg, o, run):
    """The run kept the recipe's other keys and did what the recipe asks for 2 steps."""
    eff = load(os.path.join(run, "config.yaml"))
    for k, v in cfg.items():
        if k in o:
            continue
        assert k in eff, f"{k} missing from the effective config"
        assert eff[k] == v, f"{k}: the run used {eff[k]!r}, the shipped file says {v!r}"
    s = json.load(open(os.path.join(run, "summary.json")))
    assert s["steps"] == 2, s
    latest = open(os.path.join(run, "checkpoints", "LATEST")).read().strip()
    assert latest == "step_2", latest
    evals = []
    if cfg.get("eval.every_steps", 0):
        r = json.load(open(os.path.join(run, "eval", "step_2.json")))
        reports = r.get("reports", [r])
        want = [os.path.splitext(os.path.basename(b))[0] for b in o.get("eval.bins", "").split(",")
                if b]
        got = [x["name"] for x in reports]
        assert not want or got[: len(want)] == want, (got, want)
        evals = [f"{n}: {x['accuracy_mean']:.3f}" for n, x in zip(got, reports)]
    print(f"{os.path.basename(run)}: {len(cfg)} keys, {len(o)} overridden, "
          f"{len(cfg) - len([k for k in cfg if k in o])} as shipped; loss {s.get('final_loss')}; "
          f"evaluated at step 2: {evals or 'no sets'}")


def main():
    if sys.argv[1] == "--check":
        _, _, path, work, name, run = sys.argv
        cfg = load(path)
        check(cfg, overrides(cfg, work, name), run)
        return
    _, path, work, name = sys.argv
    for k, v in overrides(load(path), work, name).items():
        print("--set")
        print(f"{k}={v}")


if __name__ == "__main__":
    main()
