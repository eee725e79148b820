"""The five shared/split backbone-head structures of the ``sbh`` study (write-up 001).

Every structure maps an image batch to a dict of logits keyed by head name:
``"abc"`` is the shared 3-class head; ``"a"`` ({a,b} vs {c}) and ``"b"`` ({a} vs {b,c})
are the binary split heads. ``studies.sbh.plan.head_targets`` turns 3-class labels into those targets.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from models._registry import create, register_model

SHARED_HEADS = ("abc",)
SPLIT_HEADS = ("a", "b")
HIDDEN = 256  # width of the head MLP; write-up 001 does not state it
DROPOUT = 0.2


def _backbone(name: str) -> nn.Module:
    return create(name, family="backbone")


def _mlp(in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout))


class Head(nn.Module):
    """MLP (Linear -> ReLU -> Dropout) followed by the output Linear."""

    def __init__(self, in_features: int, num_outputs: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.mlp = _mlp(in_features, hidden, dropout)
        self.out = nn.Linear(hidden, num_outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.out(self.mlp(features))


class Structure(nn.Module):
    """Base class: subclasses declare their heads; which parts are shared is the study's
    definition of the structure (``studies.sbh.STRUCTURES``), which tests check against these."""

    heads: tuple[str, ...]
    description: str


class SplitBackboneSharedHead(Structure):
    heads = SHARED_HEADS
    description = "two backbones on the same image, features concatenated, one 3-class head"

    def __init__(self, backbone: str, hidden: int, dropout: float) -> None:
        super().__init__()
        self.backbone_1, self.backbone_2 = _backbone(backbone), _backbone(backbone)
        self.head = Head(2 * self.backbone_1.num_features, 3, hidden, dropout)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"abc": self.head(torch.cat([self.backbone_1(x), self.backbone_2(x)], dim=1))}


class SharedBackboneSharedHead(Structure):
    heads = SHARED_HEADS
    description = "one backbone, one 3-class head"

    def __init__(self, backbone: str, hidden: int, dropout: float) -> None:
        super().__init__()
        self.backbone = _backbone(backbone)
        self.head = Head(self.backbone.num_features, 3, hidden, dropout)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"abc": self.head(self.backbone(x))}


class SharedBackboneSplitHead(Structure):
    heads = SPLIT_HEADS
    description = "one backbone, binary heads A and B"

    def __init__(self, backbone: str, hidden: int, dropout: float) -> None:
        super().__init__()
        self.backbone = _backbone(backbone)
        self.head_a = Head(self.backbone.num_features, 2, hidden, dropout)
        self.head_b = Head(self.backbone.num_features, 2, hidden, dropout)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        return {"a": self.head_a(features), "b": self.head_b(features)}


class SplitBackboneSharedMLP(Structure):
    heads = SPLIT_HEADS
    description = "two backbones, features concatenated into one shared MLP, outputs A and B"

    def __init__(self, backbone: str, hidden: int, dropout: float) -> None:
        super().__init__()
        self.backbone_1, self.backbone_2 = _backbone(backbone), _backbone(backbone)
        self.mlp = _mlp(2 * self.backbone_1.num_features, hidden, dropout)
        self.out_a, self.out_b = nn.Linear(hidden, 2), nn.Linear(hidden, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        shared = self.mlp(torch.cat([self.backbone_1(x), self.backbone_2(x)], dim=1))
        return {"a": self.out_a(shared), "b": self.out_b(shared)}


class IndependentModels(Structure):
    heads = SPLIT_HEADS
    description = "two independent models: backbone A -> head A, backbone B -> head B"

    def __init__(self, backbone: str, hidden: int, dropout: float) -> None:
        super().__init__()
        self.backbone_a, self.backbone_b = _backbone(backbone), _backbone(backbone)
        self.head_a = Head(self.backbone_a.num_features, 2, hidden, dropout)
        self.head_b = Head(self.backbone_b.num_features, 2, hidden, dropout)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"a": self.head_a(self.backbone_a(x)), "b": self.head_b(self.backbone_b(x))}


def _register(name: str, cls: type[Structure]) -> None:
    def build(*, backbone: str = "resnet18", hidden: int = HIDDEN, dropout: float = DROPOUT) -> Structure:
        return cls(backbone, hidden, dropout)

    build.__doc__ = cls.description
    register_model(name, family="sbh")(build)


# Write-up 001 numbers the structures (1), (2), (3), (4)-1, (4)-2; the ids keep that order.
_register("arch1", SplitBackboneSharedHead)
_register("arch2", SharedBackboneSharedHead)
_register("arch3", SharedBackboneSplitHead)
_register("arch4-1", SplitBackboneSharedMLP)
_register("arch4-2", IndependentModels)
