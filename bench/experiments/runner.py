"""Helpers shared by the experiment scripts: running an l2face command with its log, and the
synthetic corpus an experiment needs."""
import datetime
import json
import os
import platform
import re
import subprocess


def sh(cmd, log=None):
    """Runs cmd; stderr goes to `log` (or nowhere); returns stdout; raises on a non-zero exit."""
    with open(log, "w") if log else open(os.devnull, "w") as err:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}); see {log}")
    return r.stdout


def make_corpus(l2face, corpus, options):
    """`l2face synth` into `corpus` with `options` (keys as synth's flags with _), unless a complete
    corpus with the same options is already there."""
    meta = os.path.join(corpus, "meta.json")
    if os.path.exists(meta):
        m = json.load(open(meta))
        if m.get("complete") and all(m["options"].get(k) == v for k, v in options.items()):
            return
    args = [l2face, "synth", "--out", corpus, "--threads", "2"]
    for k, v in options.items():
        args += ["--" + k.replace("_", "-"), str(v)]
    print("synthesising the corpus:", " ".join(args), flush=True)
    sh(args)


def machine_now():
    """Today's date and this machine in words, for the dated header of generated results."""
    cpu = "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        m = re.search(r"model name\s*:\s*(.*)", open("/proc/cpuinfo").read())
        cpu = m.group(1) if m else cpu
    return {"date": datetime.date.today().isoformat(),
            "desc": f"{os.cpu_count()} × {cpu}, {platform.system()} {platform.machine()}, CPU only"}
