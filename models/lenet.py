"""LeNet-5 for 32x32 single-channel inputs (seed 004 compares an old and a new variant).

``lenet5-new``: ReLU, max-pooling, a linear output read through softmax (cross-entropy).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from models._registry import register_model


class LeNet5(nn.Module):
    """C1 conv5x5x6 -> pool -> C3 conv5x5x16 -> pool -> F5 120 -> F6 84 -> output."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(inplace=True), nn.Linear(120, 84), nn.ReLU(inplace=True), nn.Linear(84, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model("lenet5-new", family="lenet")
def lenet5_new(*, num_classes: int = 10) -> LeNet5:
    """LeNet-5 with ReLU, max-pool and a linear + softmax output."""
    return LeNet5(num_classes)
