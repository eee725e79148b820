"""torchvision ResNets as 1-channel backbones, built as write-ups 001 and 000 built them.

The authors kept torchvision's network whole, ImageNet ``fc`` included, and replaced only
``conv1`` by a fresh 1-channel 7x7/stride-2 conv: the backbone's output is the 1000-d
ImageNet logit vector, and the heads sit on that. The stem's max-pool stays, so a 28x28
digit reaches the last stage as a 1x1 map, as in their notebooks.

``weights`` chooses the initialisation: ``None`` (random, torchvision's init), ``"imagenet"``
(torchvision's weights API and its download cache, ``$TORCH_HOME``), or the path of a local
state dict of the torchvision network (a file, or a folder holding ``<name>.pth``). Loaded
weights come before the ``conv1`` swap, so ``conv1`` is always fresh, as the authors had it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torchvision.models as tvm

from harness.errors import BenchError, DataUnavailable
from models import catalogue
from models._registry import register_model

# The catalogue's backbones, as torchvision builders and the ImageNet weights each loads.
_TORCHVISION = {
    name: (getattr(tvm, builder), getattr(tvm, weights).IMAGENET1K_V1)
    for name, (builder, weights) in catalogue.BACKBONES.items()
}


class Backbone(nn.Module):
    """A whole torchvision ResNet with a fresh 1-channel ``conv1``; ``num_features`` = 1000."""

    def __init__(self, net: tvm.ResNet, weights: str) -> None:
        super().__init__()
        net.conv1 = nn.Conv2d(1, net.conv1.out_channels, kernel_size=7, stride=2, padding=3, bias=False)
        self.num_features = net.fc.out_features
        self.weights = weights  # what the record states: "none", "imagenet" or the file loaded
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def imagenet_file(name: str) -> Path:
    """Where torchvision's weights API looks for (and downloads) this backbone's ImageNet weights."""
    url = _TORCHVISION[name][1].url
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def _imagenet_state(name: str) -> dict:
    weights = _TORCHVISION[name][1]
    try:
        return weights.get_state_dict(progress=False)
    except OSError as exc:  # URLError and socket errors are OSErrors: no cache and no internet
        reason = " ".join(str(getattr(exc, "reason", exc)).split())[:120]
        raise DataUnavailable(
            f"ImageNet weights for {name} are not cached and could not be downloaded ({reason}); "
            f"place {Path(weights.url).name} ({weights.url}) at {imagenet_file(name)}"
        ) from None


def _local_state(name: str, path: Path) -> tuple[dict, Path]:
    file = path / f"{name}.pth" if path.is_dir() else path
    if not file.is_file():
        raise BenchError(f"--weights {path}: no state dict for {name} (expected {file})")
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise BenchError(f"--weights {file}: not a readable state dict ({type(exc).__name__}: {exc})") from None
    return state.get("state_dict", state) if isinstance(state, dict) else state, file


def build(name: str, weights: str | Path | None = None) -> Backbone:
    builder, _ = _TORCHVISION[name]
    net = builder(weights=None)
    label = "none"
    if weights in (None, "none"):
        pass
    elif weights == "imagenet":
        net.load_state_dict(_imagenet_state(name))
        label = "imagenet"
    else:
        state, file = _local_state(name, Path(weights))
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            first = str(exc).splitlines()[0]
            raise BenchError(f"--weights {file}: does not fit torchvision's {name} ({first})") from None
        label = str(file)
    return Backbone(net, label)


def _register(name: str) -> None:
    def builder(weights=None) -> Backbone:
        return build(name, weights)

    builder.__doc__ = f"torchvision {_TORCHVISION[name][0].__name__}, 1-channel conv1, 1000-d output."
    register_model(name, family="backbone")(builder)


for _name in catalogue.BACKBONES:
    _register(_name)
