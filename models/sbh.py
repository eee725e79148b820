"""The five shared/split backbone-head structures of the ``sbh`` study (write-up 001, Fig. 1).

Built as the authors built them: each backbone is a whole torchvision ResNet whose 1000-d
output is the feature, and each head is ONE ``Linear`` (1000 -> k, or 2000 -> k on two
concatenated backbones); the "MLP" boxes of Fig. 1 are single layers in their code. The
models return logits; whether a softmax sits before the loss is the study's loss setting.

Heads, keyed by name: ``"abc"`` is the 3-class head; ``"a"`` answers {a,b} vs {c} and
``"b"`` {a,c} vs {b} (Fig. 1: "0,1 vs. 2" and "0,2 vs. 1").
``studies.sbh.plan.head_targets`` turns 3-class labels into those targets.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from models._registry import create, register_model

SHARED_HEADS = ("abc",)
SPLIT_HEADS = ("a", "b")


def _backbone(name: str, weights) -> nn.Module:
    return create(name, family="backbone", weights=weights)


class Structure(nn.Module):
    """Base class: subclasses declare their heads; which parts are shared is the study's
    definition of the structure (``studies.sbh.STRUCTURES``), which tests check against these."""

    heads: tuple[str, ...]
    description: str


class SplitBackboneSharedHead(Structure):
    heads = SHARED_HEADS
    description = "two backbones on the same image, outputs concatenated, one 3-class linear head"

    def __init__(self, backbone: str, weights) -> None:
        super().__init__()
        self.backbone_1, self.backbone_2 = _backbone(backbone, weights), _backbone(backbone, weights)
        self.head = nn.Linear(2 * self.backbone_1.num_features, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"abc": self.head(torch.cat([self.backbone_1(x), self.backbone_2(x)], dim=1))}


class SharedBackboneSharedHead(Structure):
    heads = SHARED_HEADS
    description = "one backbone, one 3-class linear head"

    def __init__(self, backbone: str, weights) -> None:
        super().__init__()
        self.backbone = _backbone(backbone, weights)
        self.head = nn.Linear(self.backbone.num_features, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"abc": self.head(self.backbone(x))}


class SharedBackboneSplitHead(Structure):
    heads = SPLIT_HEADS
    description = "one backbone, binary linear heads A and B"

    def __init__(self, backbone: str, weights) -> None:
        super().__init__()
        self.backbone = _backbone(backbone, weights)
        self.head_a = nn.Linear(self.backbone.num_features, 2)
        self.head_b = nn.Linear(self.backbone.num_features, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        return {"a": self.head_a(features), "b": self.head_b(features)}


class SplitBackboneSplitHeadsOnConcat(Structure):
    heads = SPLIT_HEADS
    description = "two backbones, outputs concatenated, binary linear heads A and B on the concatenation"

    def __init__(self, backbone: str, weights) -> None:
        super().__init__()
        self.backbone_1, self.backbone_2 = _backbone(backbone, weights), _backbone(backbone, weights)
        self.head_a = nn.Linear(2 * self.backbone_1.num_features, 2)
        self.head_b = nn.Linear(2 * self.backbone_1.num_features, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = torch.cat([self.backbone_1(x), self.backbone_2(x)], dim=1)
        return {"a": self.head_a(features), "b": self.head_b(features)}


class IndependentModels(Structure):
    heads = SPLIT_HEADS
    description = "two independent models: backbone A -> linear head A, backbone B -> linear head B"

    def __init__(self, backbone: str, weights) -> None:
        super().__init__()
        self.backbone_a, self.backbone_b = _backbone(backbone, weights), _backbone(backbone, weights)
        self.head_a = nn.Linear(self.backbone_a.num_features, 2)
        self.head_b = nn.Linear(self.backbone_b.num_features, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"a": self.head_a(self.backbone_a(x)), "b": self.head_b(self.backbone_b(x))}


def _register(name: str, cls: type[Structure]) -> None:
    def build(*, backbone: str = "resnet18", weights=None) -> Structure:
        return cls(backbone, weights)

    build.__doc__ = cls.description
    register_model(name, family="sbh")(build)


# Write-up 001 numbers the structures (1), (2), (3), (4)-1, (4)-2; the ids keep that order.
_register("arch1", SplitBackboneSharedHead)
_register("arch2", SharedBackboneSharedHead)
_register("arch3", SharedBackboneSplitHead)
_register("arch4-1", SplitBackboneSplitHeadsOnConcat)
_register("arch4-2", IndependentModels)
