"""IResNet in plain PyTorch with insightface arcface_torch's module layout and parameter names.

The reference that `l2face export` is checked against (tests/e2e/export_torch.sh): a state dict
exported from an l2face iresnet checkpoint must load into these modules with strict=True and give
the same embeddings.

Layout: conv1 (3x3, stride 1) -> bn1 -> prelu -> layer1..layer4 (IBasicBlock stacks; the first
block of each layer has stride 2 and a 1x1 conv + BN downsample) -> bn2 -> flatten -> dropout ->
fc -> features (BatchNorm1d whose scale is frozen at 1).
"""
import torch
from torch import nn

LAYERS = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 14, 3], 100: [3, 13, 30, 3]}


class IBasicBlock(nn.Module):
    """BN - conv3x3 - BN - PReLU - conv3x3(stride) - BN, plus the shortcut; no activation after."""

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes, eps=1e-5),
            )

    def forward(self, x):
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return out + shortcut


class IResNet(nn.Module):
    def __init__(self, layers, num_features=512, input_size=112, dropout=0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        inplanes, side = 64, input_size
        for i, (planes, blocks) in enumerate(zip([64, 128, 256, 512], layers)):
            stage = [IBasicBlock(inplanes, planes, 2)]
            stage += [IBasicBlock(planes, planes, 1) for _ in range(1, blocks)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
            inplanes = planes
            side = (side + 1) // 2  # a 3x3, stride-2, padding-1 convolution
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(512 * side * side, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)
        nn.init.constant_(self.features.weight, 1.0)
        self.features.weight.requires_grad = False

    def forward(self, x):
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.bn2(x), 1)
        return self.features(self.fc(self.dropout(x)))


def iresnet(depth, **kwargs):
    return IResNet(LAYERS[depth], **kwargs)


def preprocess(nhwc_uint8):
    """l2face's input: uint8 NHWC RGB -> float NCHW, (x - 127.5) / 128."""
    return torch.as_tensor(nhwc_uint8).permute(0, 3, 1, 2).float().sub(127.5).div(128.0)
