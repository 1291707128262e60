"""Independent PyTorch definitions of the published backbones, the oracle for trainer_test.

IResNet and MobileFaceNet follow insightface's arcface_torch description (IResNet: BN-conv-BN-
PReLU-conv-BN basic blocks, a 1x1 conv + BN shortcut where the shape changes, then BN, dropout,
FC and BatchNorm1d with a frozen unit scale; MobileFaceNet: Chen et al. 2018, Table 1, with
insightface's module names and its GDC embedding). Face-ResNet is the 27-convolution residual
network released with the center-loss paper (Wen et al. 2016) and used by Ranjan et al.

Usage:
  backbone_oracle.py counts            JSON {name: {"parameters": N, "tensors": {key: shape}}}
  backbone_oracle.py forward OUT_DIR   writes NAME.pt files: {"state", "input", "output"}
"""
import json
import sys

import torch
from torch import nn


# ---- IResNet ---------------------------------------------------------------------------------
class IBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = downsample

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (self.downsample(x) if self.downsample is not None else x)


class IResNet(nn.Module):
    def __init__(self, layers, side=(112, 112), num_features=512, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        inplanes = 64
        h, w = side
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            down = nn.Sequential(nn.Conv2d(inplanes, planes, 1, 2, bias=False),
                                 nn.BatchNorm2d(planes, eps=1e-5))
            mods = [IBasicBlock(inplanes, planes, 2, down)]
            mods += [IBasicBlock(planes, planes, 1, None) for _ in range(1, blocks)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*mods))
            inplanes = planes
            h, w = (h + 1) // 2, (w + 1) // 2  # 3x3, stride 2, padding 1
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(512 * h * w, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.dropout(torch.flatten(self.bn2(x), 1))
        return self.features(self.fc(x))


# ---- MobileFaceNet ---------------------------------------------------------------------------
class ConvBlock(nn.Module):
    def __init__(self, cin, cout, k=1, s=1, p=0, groups=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False),
                                    nn.BatchNorm2d(cout), nn.PReLU(cout))

    def forward(self, x):
        return self.layers(x)


class LinearBlock(nn.Module):
    def __init__(self, cin, cout, k=1, s=1, p=0, groups=1):
        super().__init__()
        self.layers = nn.Sequential(nn.Conv2d(cin, cout, k, s, p, groups=groups, bias=False),
                                    nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.layers(x)


class DepthWise(nn.Module):
    def __init__(self, cin, cout, residual, stride, hidden):
        super().__init__()
        self.residual = residual
        self.layers = nn.Sequential(ConvBlock(cin, hidden), ConvBlock(hidden, hidden, 3, stride, 1, hidden),
                                    LinearBlock(hidden, cout))

    def forward(self, x):
        return x + self.layers(x) if self.residual else self.layers(x)


class Residual(nn.Module):
    def __init__(self, c, n, hidden):
        super().__init__()
        self.layers = nn.Sequential(*[DepthWise(c, c, True, 1, hidden) for _ in range(n)])

    def forward(self, x):
        return self.layers(x)


class MobileFaceNet(nn.Module):
    def __init__(self, side=(112, 112), num_features=512):
        super().__init__()
        h, w = side
        for _ in range(4):
            h, w = (h + 1) // 2, (w + 1) // 2
        self.layers = nn.Sequential(
            ConvBlock(3, 64, 3, 2, 1), ConvBlock(64, 64, 3, 1, 1, groups=64),
            DepthWise(64, 64, False, 2, 128), Residual(64, 4, 128),
            DepthWise(64, 128, False, 2, 256), Residual(128, 6, 256),
            DepthWise(128, 128, False, 2, 512), Residual(128, 2, 256))
        self.conv_sep = ConvBlock(128, 512)
        self.features = nn.Sequential()
        self.features.layers = nn.Sequential(LinearBlock(512, 512, (h, w), 1, 0, groups=512), nn.Flatten(),
                                             nn.Linear(512, num_features, bias=False),
                                             nn.BatchNorm1d(num_features))

    def forward(self, x):
        return self.features.layers(self.conv_sep(self.layers(x)))


# ---- Face-ResNet (center loss) ---------------------------------------------------------------
class Unit(nn.Module):
    def __init__(self, cin, cout, pad, bn):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 1, pad, bias=not bn)
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.prelu = nn.PReLU(cout)

    def forward(self, x):
        x = self.conv(x)
        return self.prelu(self.bn(x) if self.bn is not None else x)


class ResUnit(nn.Module):
    def __init__(self, c, bn):
        super().__init__()
        self.unit1 = Unit(c, c, 1, bn)
        self.unit2 = Unit(c, c, 1, bn)

    def forward(self, x):
        return x + self.unit2(self.unit1(x))


class FaceResNet(nn.Module):
    def __init__(self, side=(112, 96), num_features=512, bn=True):
        super().__init__()
        h, w = side
        self.conv1a = Unit(3, 32, 0, bn)
        self.conv1b = Unit(32, 64, 0, bn)
        h, w = (h - 4) // 2, (w - 4) // 2
        widths, repeats = (64, 128, 256, 512), (1, 2, 5, 3)
        for i, (c, n) in enumerate(zip(widths, repeats)):
            setattr(self, f"res{i + 2}", nn.Sequential(*[ResUnit(c, bn) for _ in range(n)]))
            if i < 3:
                setattr(self, f"conv{i + 2}", Unit(c, widths[i + 1], 0, bn))
                h, w = (h - 2) // 2, (w - 2) // 2
        self.fc5 = nn.Linear(512 * h * w, num_features)

    def forward(self, x):
        pool = nn.functional.max_pool2d
        x = pool(self.conv1b(self.conv1a(x)), 2)
        for i in range(2, 5):
            x = pool(getattr(self, f"conv{i}")(getattr(self, f"res{i}")(x)), 2)
        return self.fc5(torch.flatten(self.res5(x), 1))


ARCHS = {"iresnet18": (2, 2, 2, 2), "iresnet34": (3, 4, 6, 3), "iresnet50": (3, 4, 14, 3),
         "iresnet100": (3, 13, 30, 3)}


def build(name, side, dim=512, bn=True):
    if name in ARCHS:
        return IResNet(ARCHS[name], side, dim)
    if name == "mobilefacenet":
        return MobileFaceNet(side, dim)
    if name == "face_resnet":
        return FaceResNet(side, dim, bn)
    raise ValueError(name)


# (name, key, height, width, embedding dim, batch norm)
COUNTED = [(n, n, 112, 112, 512, True) for n in ARCHS] + [
    ("mobilefacenet", "mobilefacenet", 112, 112, 512, True),
    ("mobilefacenet", "mobilefacenet_128d", 112, 112, 128, True),
    ("face_resnet", "face_resnet", 112, 96, 512, True),
    ("face_resnet", "face_resnet_nobn", 112, 96, 512, False),
]
# Face-ResNet is left out here: its 22 M convolution weights make the file slow to write and read.
FORWARD = [("iresnet18", 32, 32, True), ("mobilefacenet", 112, 112, True)]


def counts():
    out = {}
    with torch.device("meta"):
        for name, key, h, w, dim, bn in COUNTED:
            m = build(name, (h, w), dim, bn)
            out[key] = {"parameters": sum(p.numel() for p in m.parameters()),
                        "tensors": {k: list(v.shape) for k, v in m.state_dict().items()}}
    print(json.dumps(out))


def forward(out_dir):
    torch.manual_seed(0)
    for name, h, w, bn in FORWARD:
        m = build(name, (h, w), 512, bn)
        with torch.no_grad():  # non-trivial running statistics, so eval mode is really tested
            for k, v in m.state_dict().items():
                if k.endswith("running_mean"):
                    v.normal_(0, 0.1)
                elif k.endswith("running_var"):
                    v.uniform_(0.5, 1.5)
        m.eval()
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            y = m(x)
        state = {k: v.contiguous() for k, v in m.state_dict().items()}
        torch.save({"state": state, "input": x, "output": y}, f"{out_dir}/{name}.pt")
    print("ok")


if __name__ == "__main__":
    torch.set_num_threads(1)  # the test machine is shared; spinning OpenMP threads slow it down
    if sys.argv[1] == "counts":
        counts()
    else:
        forward(sys.argv[2])
