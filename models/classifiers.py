"""torchvision classifiers adapted to 1-channel 32x32 inputs, for the EMNIST study (write-up 004).

Each keeps torchvision's architecture and changes only what a 1-channel 32x32 input needs:
the first convolution's input channels, and for the mobile networks its stride (and
ShuffleNet's max-pool), so that the last stage still sees a 2x2 map instead of a fraction of
a pixel. Random init throughout.
"""

from __future__ import annotations

import torch.nn as nn
import torchvision.models as tvm

from models._registry import register_model

FAMILY = "classifier"


def _conv_like(conv: nn.Conv2d, *, stride: int | None = None) -> nn.Conv2d:
    return nn.Conv2d(
        1,
        conv.out_channels,
        conv.kernel_size,
        stride=stride or conv.stride,
        padding=conv.padding,
        bias=conv.bias is not None,
    )


@register_model("resnet50-cls", family=FAMILY)
def resnet50_classifier(*, num_classes: int = 47, activation: str = "relu", dropout: float = 0.0) -> tvm.ResNet:
    """torchvision ResNet-50, 1-channel stem; ``activation="leaky"`` swaps every ReLU for
    LeakyReLU(0.01), ``dropout`` sits before the classifier."""
    net = tvm.resnet50(weights=None, num_classes=num_classes)
    net.conv1 = _conv_like(net.conv1)
    if activation == "leaky":
        for module in list(net.modules()):
            for child_name, child in module.named_children():
                if isinstance(child, nn.ReLU):
                    setattr(module, child_name, nn.LeakyReLU(0.01, inplace=True))
    elif activation != "relu":
        raise ValueError(f"activation {activation!r}: choose relu or leaky")
    if dropout:
        net.fc = nn.Sequential(nn.Dropout(dropout), net.fc)
    return net


@register_model("vgg16-bn", family=FAMILY)
def vgg16_bn(*, num_classes: int = 47) -> tvm.VGG:
    """torchvision VGG-16 with batch norm; at 32x32 the five pools leave 1x1x512, so the
    classifier reads 512 features."""
    net = tvm.vgg16_bn(weights=None, num_classes=num_classes)
    net.features[0] = _conv_like(net.features[0])
    net.avgpool = nn.Identity()
    net.classifier[0] = nn.Linear(512, net.classifier[0].out_features)
    return net


@register_model("mobilenet-v2", family=FAMILY)
def mobilenet_v2(*, num_classes: int = 47) -> tvm.MobileNetV2:
    """torchvision MobileNetV2, 1-channel stem at stride 1 (32x32 ends as 2x2)."""
    net = tvm.mobilenet_v2(weights=None, num_classes=num_classes)
    net.features[0][0] = _conv_like(net.features[0][0], stride=1)
    return net


@register_model("shufflenet-v2", family=FAMILY)
def shufflenet_v2(*, num_classes: int = 47) -> tvm.ShuffleNetV2:
    """torchvision ShuffleNetV2 x1.0, 1-channel stem at stride 1 and no max-pool (32x32 ends as 4x4)."""
    net = tvm.shufflenet_v2_x1_0(weights=None, num_classes=num_classes)
    net.conv1[0] = _conv_like(net.conv1[0], stride=1)
    net.maxpool = nn.Identity()
    return net
