"""Small 10-class MNIST networks, each built around one block of YOLOv5's ``common.py``
(study ``blocks``, write-up 003), plus the plain reference CNN used for the heatmap comparison.

Input is 32x32 (MNIST's 28x28 zero-padded by 2 on each side; see ``studies/blocks/__init__.py``).
"At most 5 conv layers" is read as: at most five convolutions on any path from input to
logits; ``CONV_DEPTH`` on each network states its count and a unit test checks it.
File order: blocks, then networks, then registered builders.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from models._registry import register_model

# --- blocks -------------------------------------------------------------------------------


class Conv(nn.Module):
    """Conv2d + BatchNorm + SiLU, YOLOv5's basic layer ("same" padding for odd kernels)."""

    def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class VGGBlock(nn.Module):
    """[3x3 conv -> BN -> ReLU] x 2, then 2x2 max-pool."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        layers = []
        for c in (c_in, c_out):
            layers += [nn.Conv2d(c, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers, nn.MaxPool2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Bottleneck(nn.Module):
    """1x1 conv then 3x3 conv; residual add when input and output widths match."""

    def __init__(self, c_in: int, c_out: int, shortcut: bool = True, expansion: float = 0.5) -> None:
        super().__init__()
        hidden = int(c_out * expansion)
        self.cv1 = Conv(c_in, hidden, 1)
        self.cv2 = Conv(hidden, c_out, 3)
        self.add = shortcut and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C3(nn.Module):
    """CSP bottleneck: two 1x1 branches, bottlenecks on one, concatenate, 1x1 fuse."""

    def __init__(self, c_in: int, c_out: int, n: int = 1, expansion: float = 0.5) -> None:
        super().__init__()
        hidden = int(c_out * expansion)
        self.cv1 = Conv(c_in, hidden, 1)
        self.cv2 = Conv(c_in, hidden, 1)
        self.m = nn.Sequential(*(Bottleneck(hidden, hidden, expansion=1.0) for _ in range(n)))
        self.cv3 = Conv(2 * hidden, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat([self.m(self.cv1(x)), self.cv2(x)], dim=1))


class SPPF(nn.Module):
    """1x1 reduce, three chained 5x5 max-pools, concatenate the four maps, 1x1 fuse."""

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
    """Multi-head self-attention and an MLP, each with a residual (YOLOv5 has no LayerNorm here)."""

    def __init__(self, c: int, num_heads: int) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(c, c, bias=False), nn.Linear(c, c, bias=False), nn.Linear(c, c, bias=False)
        self.attn = nn.MultiheadAttention(c, num_heads, batch_first=True)
        self.fc1, self.fc2 = nn.Linear(c, c, bias=False), nn.Linear(c, c, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.attn(self.q(x), self.k(x), self.v(x), need_weights=False)[0] + x
        return self.fc2(self.fc1(x)) + x


class TransformerBlock(nn.Module):
    """Feature map -> tokens (one per position) + learned position embedding -> N layers -> map."""

    def __init__(self, c: int, num_heads: int, num_layers: int, tokens: int) -> None:
        super().__init__()
        self.position = nn.Parameter(torch.zeros(1, tokens, c))
        nn.init.trunc_normal_(self.position, std=0.02)
        self.layers = nn.Sequential(*(TransformerLayer(c, num_heads) for _ in range(num_layers)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2) + self.position
        return self.layers(tokens).transpose(1, 2).reshape(b, c, h, w)


# --- networks -----------------------------------------------------------------------------

FINAL_SIDE = 8  # every network below reduces 32x32 to 8x8


class BlockNet(nn.Module):
    """features (the block under study and its stem) -> flatten -> linear classifier.

    Every network ends in a ``width`` x 8 x 8 map; flattening it (rather than global pooling)
    keeps where a stroke is, which small MNIST networks learn from fastest.
    """

    def __init__(self, features: nn.Sequential, width: int, conv_depth: int, num_classes: int = 10) -> None:
        super().__init__()
        self.features = features
        self.classifier = nn.Linear(width * FINAL_SIDE * FINAL_SIDE, num_classes)
        self.conv_depth = conv_depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


def _stem(c_out: int = 32) -> Conv:
    return Conv(1, c_out, 3, 2)  # 32x32 -> 16x16


# --- builders -----------------------------------------------------------------------------


@register_model("vgg", family="blocks")
def vgg_net() -> BlockNet:
    """Two VGG blocks: 32x32 -> 16x16 -> 8x8 (4 convs)."""
    return BlockNet(nn.Sequential(VGGBlock(1, 32), VGGBlock(32, 64)), 64, conv_depth=4)


@register_model("bottleneck", family="blocks")
def bottleneck_net() -> BlockNet:
    """Stem, a residual bottleneck, a strided conv (4 convs)."""
    return BlockNet(nn.Sequential(_stem(32), Bottleneck(32, 32), Conv(32, 64, 3, 2)), 64, conv_depth=4)


@register_model("csp", family="blocks")
def csp_net() -> BlockNet:
    """Stem then one C3 with one bottleneck (longest path: stem, cv1, 2 bottleneck convs, cv3 = 5)."""
    return BlockNet(nn.Sequential(_stem(32), nn.MaxPool2d(2), C3(32, 64, n=1)), 64, conv_depth=5)


@register_model("sppf", family="blocks")
def sppf_net() -> BlockNet:
    """Stem, a strided conv, SPPF (4 convs)."""
    return BlockNet(nn.Sequential(_stem(32), Conv(32, 64, 3, 2), SPPF(64, 64)), 64, conv_depth=4)


@register_model("transformer", family="blocks")
def transformer_net() -> BlockNet:
    """Two strided convs to an 8x8 map (64 tokens of width 64), then 2 transformer layers (2 convs)."""
    return BlockNet(
        nn.Sequential(_stem(32), Conv(32, 64, 3, 2), TransformerBlock(64, 4, 2, tokens=64)), 64, conv_depth=2
    )


@register_model("reference-cnn", family="reference")
def reference_cnn() -> BlockNet:
    """Plain CNN for the heatmap comparison: conv-ReLU-pool twice, no block (2 convs)."""
    features = nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )
    return BlockNet(features, 64, conv_depth=2)
