"""LeNet-5 for 32x32 single-channel inputs, in the two variants write-up 004 compares.

``lenet5-old`` follows LeCun et al. (1998): scaled tanh ``1.7159 * tanh(2/3 * a)``, trainable
subsampling (2x2 sum times a learned coefficient plus a learned bias), C3 wired by the paper's
partial connection table, and an RBF output layer whose units measure the squared distance
of F6's output to fixed +-1 class prototypes. The paper's prototypes are 7x12 bitmaps of the
ASCII glyphs; for 47 EMNIST classes we draw seeded random +-1 codes of the same length (84).
Logits are the negated distances, so cross-entropy on them is the paper's "RBF + softmax"
reading that modern reimplementations use.
``lenet5-new``: ReLU, max-pooling, a linear output read through softmax (cross-entropy).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from models._registry import register_model

# LeCun et al. 1998, Table 1: C3 map -> the S2 maps it reads. (Write-up 004 reproduces this table;
# its HTML copy has one cell shifted in several rows, so the paper's version is used.)
C3_TABLE = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def scaled_tanh(x: torch.Tensor) -> torch.Tensor:
    return 1.7159 * torch.tanh(2.0 / 3.0 * x)


class Subsampling(nn.Module):
    """Each map: 2x2 sum times a trainable coefficient plus a trainable bias, then the squashing."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scaled_tanh(F.avg_pool2d(x, 2) * 4 * self.weight + self.bias)


class PartialConv(nn.Conv2d):
    """A convolution whose output map ``o`` reads only the input maps ``table[o]``."""

    def __init__(self, table: tuple[tuple[int, ...], ...], in_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, len(table), kernel_size)
        mask = torch.zeros(len(table), in_channels, 1, 1)
        for out, inputs in enumerate(table):
            mask[out, list(inputs)] = 1.0
        self.register_buffer("mask", mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class RBFOutput(nn.Module):
    """Negated squared Euclidean distance to fixed +-1 prototypes, one per class."""

    def __init__(self, in_features: int, num_classes: int, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        codes = torch.randint(0, 2, (num_classes, in_features), generator=generator).float() * 2 - 1
        self.register_buffer("prototypes", codes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(x, self.prototypes).pow(2)


class LeNet5Old(nn.Module):
    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5)
        self.s2 = Subsampling(6)
        self.c3 = PartialConv(C3_TABLE, 6, 5)
        self.s4 = Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = RBFOutput(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.s2(scaled_tanh(self.c1(x)))
        x = self.s4(scaled_tanh(self.c3(x)))
        x = scaled_tanh(self.c5(x)).flatten(1)
        return self.output(scaled_tanh(self.f6(x)))


class LeNet5(nn.Module):
    """C1 conv5x5x6 -> pool -> C3 conv5x5x16 -> pool -> F5 120 -> F6 84 -> output."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.ReLU(inplace=True),
            nn.Linear(120, 84),
            nn.ReLU(inplace=True),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("lenet5-old", family="lenet")
def lenet5_old(*, num_classes: int = 47) -> LeNet5Old:
    """LeNet-5 as in 1998: scaled tanh, trainable subsampling, partial C3, RBF output."""
    return LeNet5Old(num_classes)


@register_model("lenet5-new", family="lenet")
def lenet5_new(*, num_classes: int = 10) -> LeNet5:
    """LeNet-5 with ReLU, max-pool and a linear + softmax output."""
    return LeNet5(num_classes)
