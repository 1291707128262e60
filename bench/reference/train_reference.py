"""PyTorch reference trainer for bench/step: the same networks, head, loss, optimizer, batch and
thread count as l2face, written the way a PyTorch user writes it (nn.Module forward, F.cross_entropy,
torch.optim.SGD with its default implementation, torch.utils.data.DataLoader).

  .venv/bin/python bench/reference/train_reference.py --backbone iresnet50 --batch 32 --threads 2
      [--corpus DIR --workers 2 --flip 0.5 --worker-output float|uint8]

Without --corpus: compute only, on --batches in-memory uint8 NHWC batches cycled (the same bytes
and labels as bench/step/step_bench builds), converted as l2face converts them:
(x - 127.5) / 128, NCHW float. With --corpus: a DataLoader over the ImageFolder (worker processes
read the file, decode it, flip it with probability --flip, and, with --worker-output float, the
default, normalise it to a float CHW tensor as torchvision's ToTensor + Normalize do in
insightface's arcface_torch; uint8 hands NHWC bytes to the main process, l2face's layout).
Decoding: torchvision is not in the pinned venv and neither is PIL, so the workers call
libturbojpeg (tjDecompress2, the library l2face decodes with) through ctypes.
Times --steps steps after --warmup steps; prints one JSON line (the schema of step_bench).
"""
import argparse
import ctypes
import ctypes.util
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import models  # noqa: E402


# ---------------------------------------------------------------------------------------------
# JPEG decoding through libturbojpeg (one handle per worker process).

class TurboJpeg:
    TJPF_RGB = 0

    def __init__(self):
        name = ctypes.util.find_library("turbojpeg") or "libturbojpeg.so.0"
        self.lib = ctypes.CDLL(name)
        self.lib.tjInitDecompress.restype = ctypes.c_void_p
        self.lib.tjDecompressHeader3.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
            ctypes.POINTER(ctypes.c_int)]
        self.lib.tjDecompress2.argtypes = [
            ctypes.c_void_p, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_int,
            ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.handle = ctypes.c_void_p(self.lib.tjInitDecompress())

    def decode(self, data):
        w, h, sub, cs = ctypes.c_int(), ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        if self.lib.tjDecompressHeader3(self.handle, data, len(data), ctypes.byref(w),
                                        ctypes.byref(h), ctypes.byref(sub), ctypes.byref(cs)):
            raise ValueError("not a JPEG")
        out = np.empty((h.value, w.value, 3), np.uint8)
        if self.lib.tjDecompress2(self.handle, data, len(data), out.ctypes.data, w.value, 0,
                                  h.value, self.TJPF_RGB, 0):
            raise ValueError("JPEG decode failed")
        return out


_decoder = None


def decoder():
    global _decoder
    if _decoder is None:
        _decoder = TurboJpeg()
    return _decoder


class FolderDataset(torch.utils.data.Dataset):
    """root/<class>/<image>.jpg, classes and files sorted as l2face's ImageFolderDataset."""

    def __init__(self, root, size, flip_p, output):
        self.size, self.flip_p, self.output = size, flip_p, output
        classes = sorted(d for d in os.listdir(root)
                         if not d.startswith(".") and os.path.isdir(os.path.join(root, d)))
        self.items = []
        label = 0
        for c in classes:
            files = sorted(f for f in os.listdir(os.path.join(root, c))
                           if not f.startswith(".") and f.lower().endswith((".jpg", ".jpeg")))
            if files:
                self.items += [(os.path.join(root, c, f), label) for f in files]
                label += 1
        self.num_classes = label

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        with open(path, "rb") as f:
            img = decoder().decode(f.read())
        if img.shape[0] != self.size or img.shape[1] != self.size:
            raise ValueError(f"{path}: {img.shape[1]}x{img.shape[0]}, expected {self.size} px "
                             "(make the corpus at the benchmark's size)")
        if random.random() < self.flip_p:
            img = img[:, ::-1]
        t = torch.from_numpy(np.ascontiguousarray(img))
        if self.output == "float":  # ToTensor + Normalize, l2face's constants
            t = t.permute(2, 0, 1).float().sub_(127.5).div_(128.0)
        return t, label


# ---------------------------------------------------------------------------------------------

def synthetic_batches(count, batch, side, classes):
    """Byte i of batch b: the top byte of (i + b*n) * 0x9E3779B97F4A7C15 mod 2^64."""
    n = batch * side * side * 3
    out = []
    for b in range(count):
        k = (np.arange(n, dtype=np.uint64) + np.uint64(b * n)) * np.uint64(0x9E3779B97F4A7C15)
        pixels = (k >> np.uint64(56)).astype(np.uint8).reshape(batch, side, side, 3)
        labels = (np.arange(batch, dtype=np.int64) * 7919 + b * 13) % classes
        out.append((torch.from_numpy(pixels), torch.from_numpy(labels)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbone", default="tiny")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=112)
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--embedding-dim", type=int, default=512)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--channels-last", type=int, default=None,
                    help="NHWC input and weights (default: on for CUDA, off for the CPU)")
    ap.add_argument("--batches", type=int, default=4)
    ap.add_argument("--corpus")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--prefetch", type=int, default=4, help="batches in flight over all workers")
    ap.add_argument("--flip", type=float, default=0.5)
    ap.add_argument("--worker-output", default="float", choices=["float", "uint8"])
    a = ap.parse_args()

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    random.seed(1)
    device = torch.device(a.device)
    bf16 = a.precision == "bf16"
    channels_last = bool(a.channels_last) if a.channels_last is not None else device.type == "cuda"
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    dataset = None
    if a.corpus:
        dataset = FolderDataset(a.corpus, a.size, a.flip, a.worker_output)
    classes = dataset.num_classes if dataset else a.classes

    backbone = models.backbone(a.backbone, a.width, a.embedding_dim, a.size).to(device)
    head = models.L2SoftmaxHead(a.embedding_dim, classes).to(device)
    if channels_last:
        backbone = backbone.to(memory_format=torch.channels_last)
    backbone.train()
    head.train()
    params = [p for m in (backbone, head) for p in m.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)

    if dataset:
        workers = a.workers
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=a.batch, shuffle=True, num_workers=workers, drop_last=True,
            pin_memory=device.type == "cuda", persistent_workers=workers > 0,
            prefetch_factor=max(1, math.ceil(a.prefetch / workers)) if workers > 0 else None)
        source = (b for _ in iter(int, 1) for b in loader)  # epoch after epoch, as l2face's Loader
    else:
        workers = 0
        batches = synthetic_batches(max(1, a.batches), a.batch, a.size, classes)
        source = (batches[i % len(batches)] for i in range(1 << 62))

    def to_input(pixels):
        x = pixels.to(device, non_blocking=True)
        if x.dtype == torch.uint8:  # NHWC bytes: l2face's conversion
            x = x.permute(0, 3, 1, 2).float().sub_(127.5).div_(128.0)
        return x.contiguous(memory_format=fmt)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    loss_sum = torch.zeros((), device=device)
    first_loss = -1.0
    step_seconds, wait = [], 0.0
    t0 = None
    for s in range(a.warmup + a.steps):
        if s == a.warmup:
            sync()
            t0 = time.perf_counter()
            cpu0 = time.process_time()  # this process's threads (not the loader's processes)
        ts = time.perf_counter()
        pixels, labels = next(source)
        if s >= a.warmup and dataset:
            wait += time.perf_counter() - ts
        x = to_input(pixels)
        y = labels.to(device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            emb = backbone(x)
        loss, _ = models.l2_softmax_loss(head, emb, y)
        loss.backward()
        opt.step()
        loss_sum += loss.detach()
        if s == 0:
            first_loss = float(loss)  # batch 0 at the initial weights, as step_bench reports it
        if s >= a.warmup:
            if device.type == "cuda":
                sync()
            step_seconds.append(time.perf_counter() - ts)
    sync()
    seconds = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    pixel_sum = label_sum = 0
    if not dataset:
        pixel_sum = int(sum(int(p.sum(dtype=torch.int64)) for p, _ in batches))
        label_sum = int(sum(int(l.sum()) for _, l in batches))
    print(json.dumps({
        "impl": "pytorch", "mode": "e2e" if dataset else "compute", "backbone": a.backbone,
        "batch": a.batch, "size": a.size, "threads": torch.get_num_threads(), "workers": workers,
        "classes": classes, "device": str(device), "precision": a.precision,
        "channels_last": channels_last, "warmup": a.warmup, "steps": a.steps,
        "seconds": seconds, "images_per_second": a.steps * a.batch / seconds,
        "step_seconds_median": sorted(step_seconds)[len(step_seconds) // 2],
        "cpu_seconds": cpu, "images_per_cpu_second": a.steps * a.batch / cpu,
        "data_wait_fraction": wait / seconds, "pixel_sum": pixel_sum, "label_sum": label_sum,
        "peak_cuda_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else 0,
        "first_loss": first_loss, "mean_loss": float(loss_sum) / (a.warmup + a.steps),
        "worker_output": a.worker_output if dataset else None}), flush=True)


if __name__ == "__main__":
    main()
