"""torchvision ResNets as 1-channel feature extractors (random init, classifier removed).

The stem keeps torchvision's 7x7/stride-2 conv and max-pool (only its input channels change),
so a 28x28 digit reaches the last stage as a 1x1 map, as in the write-ups' notebooks.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torchvision.models as tvm

from models._registry import register_model


class Backbone(nn.Module):
    """A torchvision classifier with its ``fc`` replaced by identity; ``num_features`` says the width."""

    def __init__(self, net: tvm.ResNet) -> None:
        super().__init__()
        net.conv1 = nn.Conv2d(1, net.conv1.out_channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.num_features = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def _create_resnet(builder, **kwargs) -> Backbone:
    return Backbone(builder(weights=None, **kwargs))


@register_model("resnet18", family="backbone")
def resnet18(**kwargs) -> Backbone:
    return _create_resnet(tvm.resnet18, **kwargs)


@register_model("resnet34", family="backbone")
def resnet34(**kwargs) -> Backbone:
    return _create_resnet(tvm.resnet34, **kwargs)


@register_model("resnet50", family="backbone")
def resnet50(**kwargs) -> Backbone:
    return _create_resnet(tvm.resnet50, **kwargs)
