"""The networks of l2face in plain PyTorch, for the side-by-side benchmarks (bench/step).

- TinyNet: trainer/src/tiny_net.cpp: six conv3x3 -> BN -> PReLU units (strides 2, 2, 1, 2, 1, 2;
  widths w, 2w, 2w, 4w, 4w, 8w), then BN2d -> flatten -> dropout -> FC (no bias) -> BN1d.
- IResNet-18/34/50/100: tests/python/iresnet.py (insightface's layout), with l2face's
  initialisation (conv N(0, 0.1), BN scale 1 and shift 0; embedding BN scale frozen at 1).
- L2SoftmaxHead: trainer/src/head.cpp's l2_softmax: alpha * f / ||f|| (fp32), then an ordinary
  Linear with bias, U(-1/sqrt(d), 1/sqrt(d)) (torch's Linear default has the same bounds).
"""
import os
import sys

import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests",
                                "python"))
import iresnet as _iresnet  # noqa: E402  (tests/python/iresnet.py)


class ConvUnit(nn.Module):
    """conv3x3 -> BN -> PReLU (l2face's ConvUnit with norm: batch)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.prelu = nn.PReLU(cout)

    def forward(self, x):
        return self.prelu(self.bn(self.conv(x)))


class TinyNet(nn.Module):
    def __init__(self, width=32, embedding_dim=512, input_size=112, dropout=0.0):
        super().__init__()
        if input_size % 16:
            raise ValueError("the tiny net needs an input side divisible by 16")
        w = width
        self.body = nn.Sequential(ConvUnit(3, w, 2), ConvUnit(w, 2 * w, 2),
                                  ConvUnit(2 * w, 2 * w, 1), ConvUnit(2 * w, 4 * w, 2),
                                  ConvUnit(4 * w, 4 * w, 1), ConvUnit(4 * w, 8 * w, 2))
        self.bn2 = nn.BatchNorm2d(8 * w)
        self.dropout = nn.Dropout(dropout)
        side = input_size // 16
        self.fc = nn.Linear(8 * w * side * side, embedding_dim, bias=False)
        self.features = nn.BatchNorm1d(embedding_dim)

    def forward(self, x):
        x = self.bn2(self.body(x))
        return self.features(self.fc(self.dropout(torch.flatten(x, 1))))


def iresnet(depth, embedding_dim=512, input_size=112, dropout=0.0):
    net = _iresnet.iresnet(depth, num_features=embedding_dim, input_size=input_size,
                           dropout=dropout)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    return net


def backbone(name, width=32, embedding_dim=512, input_size=112):
    if name == "tiny":
        return TinyNet(width, embedding_dim, input_size)
    if name.startswith("iresnet") and name[7:].isdigit():
        return iresnet(int(name[7:]), embedding_dim, input_size)
    raise ValueError(f"unknown backbone {name!r} (tiny, iresnet18, iresnet34, iresnet50, iresnet100)")


class L2SoftmaxHead(nn.Module):
    """The L2-constrained softmax's classifier input and logits: linear(alpha * f / ||f||)."""

    def __init__(self, embedding_dim, num_classes, alpha=16.0):
        super().__init__()
        self.register_buffer("alpha", torch.tensor(float(alpha)))
        self.fc = nn.Linear(embedding_dim, num_classes, bias=True)

    def forward(self, embeddings):
        f = embeddings.float()
        f = f / f.norm(2, dim=1, keepdim=True).clamp_min(1e-12)
        return self.fc(f * self.alpha)


def l2_softmax_loss(head, embeddings, labels):
    logits = head(embeddings)
    return F.cross_entropy(logits, labels), logits
