"""Every model name of the suite, by family, free of torch: the one list that ``models/`` builds
from and the studies read. A backbone is one line here (models/backbones.py registers a
builder for each entry); any other family's builder must be named here before it registers.
Reading this module imports no torch, so study definitions, the pytest header and the
reporter can list names on a machine without the training stack.
"""

from __future__ import annotations

import fnmatch

# Backbone name -> (torchvision builder, its ImageNet weights enum), in the grid's order.
BACKBONES = {
    "resnet18": ("resnet18", "ResNet18_Weights"),
    "resnet34": ("resnet34", "ResNet34_Weights"),
    "resnet50": ("resnet50", "ResNet50_Weights"),
}

FAMILIES: dict[str, tuple[str, ...]] = {
    "backbone": tuple(BACKBONES),
    # Write-up 003's block networks, in the order of its sections, and its heatmap partner.
    "blocks": ("vgg", "bottleneck", "csp", "sppf", "transformer"),
    "reference": ("exp3",),
    # Write-up 004's candidates and LeNet-5 versions.
    "classifier": ("resnet50-cls", "vgg16-bn", "mobilenet-v2", "shufflenet-v2"),
    "lenet": ("lenet5-old", "lenet5-new"),
    # Write-up 001's structures (1), (2), (3), (4)-1, (4)-2, in its order.
    "sbh": ("arch1", "arch2", "arch3", "arch4-1", "arch4-2"),
}


def names(pattern: str = "*", *, family: str | None = None) -> list[str]:
    """Catalogued names matching a glob, family by family in the order above."""
    return [
        name
        for fam, members in FAMILIES.items()
        if family in (None, fam)
        for name in members
        if fnmatch.fnmatchcase(name, pattern)
    ]
