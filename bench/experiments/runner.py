"""Helpers shared by the experiment scripts: running an l2face command with its log."""
import os
import subprocess


def sh(cmd, log=None):
    """Runs cmd; stderr goes to `log` (or nowhere); returns stdout; raises on a non-zero exit."""
    with open(log, "w") if log else open(os.devnull, "w") as err:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}); see {log}")
    return r.stdout
