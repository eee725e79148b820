"""The small MNIST networks of write-up 003 (study ``blocks``), as its author built them, plus
"exp3", the CNN the write-up's heatmaps compare against.

Layer for layer the author's ``common.py`` (YOLOv5-style blocks at base width 8) and the
course's ``exp3_integrated_gradients.py``, with the parameter counts of
``seeds/reference/003/README.md`` (tests/test_blocks_models.py asserts each). Input is
1x28x28: the write-up's "32x32" is an error in its text, the logged batches are 28x28.
The author's networks end in ``Softmax``; here they return logits, and where the author's
loss applied cross-entropy to those probabilities, the study's task does the same
(``studies/blocks/plan.py``, ``softmax_before_loss``).

``conv_depth`` states the convolutions on the longest path from input to logits (a test
counts them). The write-up says "at most 5 conv layers"; the author's CSP network has 10.
File order: blocks, then networks, then registered builders.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from models._registry import register_model

# --- blocks -------------------------------------------------------------------------------


class Conv(nn.Module):
    """Conv2d (no bias) + BatchNorm + SiLU, YOLOv5's basic layer, padding k // 2."""

    def __init__(self, c_in: int, c_out: int, k: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, 1, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def vgg_block(c_in: int, c_out: int) -> nn.Sequential:
    """[3x3 conv (no bias) -> BN -> ReLU] x 2, then 2x2 max-pool."""
    layers: list[nn.Module] = []
    for c in (c_in, c_out):
        layers += [nn.Conv2d(c, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.MaxPool2d(2))


class Bottleneck(nn.Module):
    """The author's bottleneck: 3x3 Conv to ``c_out * expansion``, 3x3 Conv to ``c_out`` (YOLOv5's
    first conv is 1x1; the author made it 3x3); residual add only when widths match."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, expansion: float = 0.5) -> None:
        super().__init__()
        hidden = int(c_out * expansion)
        self.cv1 = Conv(c_in, hidden, 3)
        self.cv2 = Conv(hidden, c_out, 3)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class BottleneckCSP(nn.Module):
    """YOLOv5's BottleneckCSP (not C3): cv1 (Conv 1x1) -> bottleneck(s) -> cv3 (plain 1x1) on one
    branch, cv2 (plain 1x1) on the other; concatenate, BN, SiLU, then cv4 (Conv 1x1)."""

    def __init__(self, c_in: int, c_out: int, n: int = 1) -> None:
        super().__init__()
        hidden = c_out // 2
        self.cv1 = Conv(c_in, hidden, 1)
        self.cv2 = nn.Conv2d(c_in, hidden, 1, bias=False)
        self.cv3 = nn.Conv2d(hidden, hidden, 1, bias=False)
        self.cv4 = Conv(2 * hidden, c_out, 1)
        self.bn = nn.BatchNorm2d(2 * hidden)
        self.act = nn.SiLU(inplace=True)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, expansion=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y1 = self.cv3(self.m(self.cv1(x)))
        return self.cv4(self.act(self.bn(torch.cat([y1, self.cv2(x)], dim=1))))


class SPPF(nn.Module):
    """1x1 reduce to half, three chained 5x5 stride-1 max-pools, concatenate the four maps, 1x1 fuse."""

    def __init__(self, c_in: int, c_out: int, k: int = 5) -> None:
        super().__init__()
        hidden = c_in // 2
        self.cv1 = Conv(c_in, hidden, 1)
        self.pool = nn.MaxPool2d(k, stride=1, padding=k // 2)
        self.cv2 = Conv(4 * hidden, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y0 = self.cv1(x)
        y1 = self.pool(y0)
        y2 = self.pool(y1)
        return self.cv2(torch.cat([y0, y1, y2, self.pool(y2)], dim=1))


class TransformerLayer(nn.Module):
    """q, k, v projections -> multi-head attention + residual; two linears + residual (no LayerNorm, as YOLOv5).

    ``need_weights``: the author's layer calls ``nn.MultiheadAttention`` with its default, which
    also builds the head-averaged 784x784 attention map and keeps it for the backward pass. The
    output is the same either way; the training cases skip the map (less memory and time), and
    the side-by-side cost measurement (study ``speed``) turns it on to cost the author's path.
    """

    def __init__(self, c: int, num_heads: int, need_weights: bool = False) -> None:
        super().__init__()
        self.need_weights = need_weights
        self.q, self.k, self.v = nn.Linear(c, c, bias=False), nn.Linear(c, c, bias=False), nn.Linear(c, c, bias=False)
        self.attn = nn.MultiheadAttention(c, num_heads, batch_first=True)
        self.fc1, self.fc2 = nn.Linear(c, c, bias=False), nn.Linear(c, c, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.q(x), self.k(x), self.v(x), need_weights=self.need_weights)[0] + x
        return self.fc2(self.fc1(x)) + x


class TransformerBlock(nn.Module):
    """YOLOv5's TransformerBlock: a 1x1 Conv to ``c_out`` when widths differ, one token per position,
    position term = tokens + Linear(tokens), ``num_layers`` layers, back to a map."""

    def __init__(self, c_in: int, c_out: int, num_heads: int, num_layers: int) -> None:
        super().__init__()
        self.conv = Conv(c_in, c_out) if c_in != c_out else None
        self.position = nn.Linear(c_out, c_out)
        self.layers = nn.Sequential(*(TransformerLayer(c_out, num_heads) for _ in range(num_layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv is not None:
            x = self.conv(x)
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        return self.layers(tokens + self.position(tokens)).transpose(1, 2).reshape(b, c, h, w)


def author_attention_path(model: nn.Module) -> nn.Module:
    """The model with every transformer layer on the author's attention path (``need_weights``)."""
    for layer in model.modules():
        if isinstance(layer, TransformerLayer):
            layer.need_weights = True
    return model


# --- networks -----------------------------------------------------------------------------


class BlockNet(nn.Module):
    """features -> flatten -> one linear classifier (the author's networks have no global pooling)."""

    def __init__(self, features: nn.Sequential, flat_features: int, conv_depth: int, num_classes: int = 10) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(flat_features, num_classes)
        self.conv_depth = conv_depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class Exp3(nn.Module):
    """The course's exp3 CNN: 5x5 Conv+BN+SiLU, pool, 5x5 Conv+BN+SiLU, pool, 2x2 Conv+BN+SiLU
    (padding 1: 7x7 -> 8x8), flatten 640 -> Linear(50) -> ReLU -> Linear(10)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()

        def conv(c_in: int, c_out: int, k: int, pad: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, k, padding=pad, bias=False), nn.BatchNorm2d(c_out), nn.SiLU(inplace=True)]

        self.features = nn.Sequential(
            *conv(1, 10, 5, 2), nn.MaxPool2d(2), *conv(10, 20, 5, 2), nn.MaxPool2d(2), *conv(20, 10, 2, 1)
        )
        self.classifier = nn.Sequential(nn.Linear(640, 50), nn.ReLU(inplace=True), nn.Linear(50, num_classes))
        self.conv_depth = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


# --- builders (write-up 003's columns; 28x28 input) ---------------------------------------


@register_model("vgg", family="blocks")
def vgg_net() -> BlockNet:
    """Two VGG blocks (1->8, 8->16), 28 -> 14 -> 7, flatten 784 -> Linear: 12,050 params, 4 convs."""
    return BlockNet(nn.Sequential(vgg_block(1, 8), vgg_block(8, 16)), 16 * 7 * 7, conv_depth=4)


@register_model("bottleneck", family="blocks")
def bottleneck_net() -> BlockNet:
    """Bottleneck(1->8), Bottleneck(8->16) (3x3 + 3x3 each, no residual: widths differ), 2x2
    average pool, flatten 3,136 -> Linear: 33,494 params, 4 convs."""
    features = nn.Sequential(Bottleneck(1, 8), Bottleneck(8, 16), nn.AvgPool2d(2))
    return BlockNet(features, 16 * 14 * 14, conv_depth=4)


@register_model("csp", family="blocks")
def csp_net() -> BlockNet:
    """BottleneckCSP(1->8), BottleneckCSP(8->16), 2x2 max-pool, flatten 3,136 -> Linear:
    33,514 params; longest path cv1, 2 bottleneck convs, cv3, cv4 per block = 10 convs."""
    features = nn.Sequential(BottleneckCSP(1, 8), BottleneckCSP(8, 16), nn.MaxPool2d(2))
    return BlockNet(features, 16 * 14 * 14, conv_depth=10)


@register_model("sppf", family="blocks")
def sppf_net() -> BlockNet:
    """1x1 Conv(1->8), SPPF(8->16), SPPF(16->32), 2x2 max-pool, flatten 6,272 -> Linear: 64,314
    params; every conv is 1x1 (5 on the longest path)."""
    features = nn.Sequential(Conv(1, 8, 1), SPPF(8, 16), SPPF(16, 32), nn.MaxPool2d(2))
    return BlockNet(features, 32 * 14 * 14, conv_depth=5)


@register_model("transformer", family="blocks")
def transformer_net() -> BlockNet:
    """TransformerBlock(1->8, 1 head, 2 layers) over 784 tokens of width 8, flatten 6,272 -> Linear:
    64,042 params (the author's unused second Linear(6272, 10) is left out); 1 conv."""
    return BlockNet(nn.Sequential(TransformerBlock(1, 8, num_heads=1, num_layers=2)), 8 * 28 * 28, conv_depth=1)


@register_model("exp3", family="reference")
def exp3_net() -> Exp3:
    """The course's exp3 CNN, the other side of write-up 003's heatmaps: 38,690 params, 3 convs."""
    return Exp3()
