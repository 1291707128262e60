"""bench/gpu/judge.py's verdicts on hand-made outputs: each check passes on good files and fails,
naming why, on a skipped test, a missing checkpoint, a CPU run, a loss apart, memory over the
margin, diverging ranks."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

JUDGE = os.path.join(sys.argv.pop(1), "bench", "gpu", "judge.py")


def judge(*args):
    p = subprocess.run([sys.executable, JUDGE, *map(str, args)], capture_output=True, text=True)
    return p.returncode, p.stdout.strip()


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    return path


class Judge(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.d = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def gtest(self, name, results):
        cases = [{"name": n, "classname": "T", "status": "RUN", "result": r,
                  **({"failures": [{"failure": "x"}]} if r == "FAILED" else {})}
                 for n, r in results]
        cases = [dict(c, result="COMPLETED") if c["result"] == "FAILED" else c for c in cases]
        return write(f"{self.d}/{name}.json", {"testsuites": [{"name": "T", "testsuite": cases}]})

    def test_unit(self):
        ok = self.gtest("ok", [("A", "COMPLETED"), ("B", "COMPLETED")])
        self.assertEqual(judge("unit", ok), (0, "PASS: 2 ran, 2 passed, 0 failed, 0 skipped"))
        skip = self.gtest("skip", [("Cuda", "SKIPPED")])
        rc, out = judge("unit", ok, skip)
        self.assertEqual(rc, 1)
        self.assertIn("1 skipped: T.Cuda skipped", out)
        rc, out = judge("unit", self.gtest("fail", [("C", "FAILED")]))
        self.assertEqual((rc, "T.C failed" in out), (1, True))
        rc, out = judge("unit", self.gtest("none", []))
        self.assertIn("selected no test", out)

    def run_dir(self, name, summary, kept, latest):
        r = f"{self.d}/{name}"
        write(f"{r}/summary.json", summary)
        for k in kept:
            os.makedirs(f"{r}/checkpoints/{k}")
        write(f"{r}/checkpoints/LATEST", latest + "\n")
        return r

    def test_smoke(self):
        a = {"device": "cuda:0", "precision": "bf16", "skipped_steps": 2, "final_loss": 3.0,
             "steps": 40}
        b = {"resumed_from_step": 40, "steps": 60, "final_loss": 2.5}
        ra = self.run_dir("a", a, ["step_20", "step_40"], "step_40")
        rb = self.run_dir("b", b, ["step_40", "step_60"], "step_60")
        rc, out = judge("smoke", ra, rb, 40, 60, 20)
        self.assertEqual(rc, 0, out)
        for change, why in (({"skipped_steps": 1}, "skipped_steps 1"),
                            ({"device": "cpu"}, "not cuda"),
                            ({"final_loss": float("nan")}, "final loss nan")):
            kept = ["step_20", "step_40"]
            bad = self.run_dir("bad" + why[:3], dict(a, **change), kept, "step_40")
            rc, out = judge("smoke", bad, rb, 40, 60, 20)
            self.assertEqual(rc, 1)
            self.assertIn(why, out)
        no_periodic = self.run_dir("np", a, ["step_40"], "step_40")
        self.assertIn("no periodic save", judge("smoke", no_periodic, rb, 40, 60, 20)[1])

    def test_step(self):
        base = {"batch": 256, "backbone": "iresnet50", "precision": "bf16", "pixel_sum": 5,
                "label_sum": 7, "images_per_second": 1000.0, "peak_cuda_bytes": 2**30,
                "first_loss": 7.60, "mean_loss": 7.0, "data_wait_fraction": 0.01}
        l2f = write(f"{self.d}/l.log", "noise\n" + json.dumps(dict(base, images_per_second=1200.0)))
        ref = write(f"{self.d}/r.log", json.dumps(dict(base, first_loss=7.64)))
        rc, out = judge("step", l2f, ref, "compute")
        self.assertEqual(rc, 0, out)
        self.assertIn("ratio 1.20", out)
        far = write(f"{self.d}/f.log", json.dumps(dict(base, first_loss=8.0)))
        self.assertIn("over 2 %", judge("step", far, ref, "compute")[1])
        other = write(f"{self.d}/o.log", json.dumps(dict(base, pixel_sum=6)))
        self.assertIn("pixel_sum differs", judge("step", other, ref, "compute")[1])
        self.assertIn("data wait 1.0%", judge("step", l2f, ref, "e2e")[1])

    def test_classifier(self):
        def bench(peak):
            return write(f"{self.d}/c{peak}.log", json.dumps(
                {"memory": "cuda_allocated", "classes": 1000000, "dim": 512, "per_rank": [
                    {"peak_over_theory": peak, "peak_cuda_allocated_bytes": peak * 100 + 10,
                     "baseline_cuda_allocated_bytes": 10, "theory_bytes": 100}]}))
        self.assertEqual(judge("classifier", bench(1.05), 0.2)[0], 0)
        self.assertEqual(judge("classifier", bench(1.3), 0.2)[0], 1)
        self.assertEqual(judge("classifier", bench(0.7), 0.2)[0], 1)

    def test_equiv_and_eval(self):
        def run(name, losses, world):
            write(f"{self.d}/{name}/summary.json", {"world_size": world})
            write(f"{self.d}/{name}/train_log.jsonl", "\n".join(
                json.dumps({"step": i + 1, "loss": v}) for i, v in enumerate(losses)))
            return f"{self.d}/{name}"
        one = run("one", [4.0, 3.9, 3.8], 1)
        self.assertEqual(judge("equiv", one, run("two", [4.0, 3.9001, 3.8], 2), 3, 1e-3)[0], 0)
        self.assertEqual(judge("equiv", one, run("off", [4.0, 3.95, 3.8], 2), 3, 1e-3)[0], 1)
        short = run("short", [4.0, 3.9], 2)
        self.assertIn("step 3 missing", judge("equiv", one, short, 3, 1e-3)[1])
        good = write(f"{self.d}/e.json", {"reports": [{"accuracy_mean": 0.8, "pairs": 240}]})
        self.assertEqual(judge("eval", good)[0], 0)
        self.assertEqual(judge("eval", write(f"{self.d}/n.json", {"accuracy_mean": None}))[0], 1)


if __name__ == "__main__":
    unittest.main()
