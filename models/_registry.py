"""Name -> builder registry, modelled on timm's and torchvision's.

Each builder belongs to a family (``backbone``, ``sbh``, ...) so that a grid can list
"every backbone" and an error can name the valid choices of the family that was asked for.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

from models import catalogue

Builder = Callable[..., nn.Module]
_BUILDERS: dict[str, tuple[str, Builder]] = {}


def register_model(name: str, *, family: str) -> Callable[[Builder], Builder]:
    def wrap(builder: Builder) -> Builder:
        if name not in catalogue.FAMILIES.get(family, ()):
            raise ValueError(f"model name {name!r} is not in family {family!r} of models/catalogue.py; add it there")
        if name in _BUILDERS:
            # A silent overwrite would make two files disagree about what a name means.
            raise ValueError(f"model name {name!r} is already registered")
        _BUILDERS[name] = (family, builder)
        return builder

    return wrap


def describe(name: str) -> str:
    """The builder's docstring: what the registered network is, in one or two sentences."""
    return " ".join((_BUILDERS[name][1].__doc__ or "").split())


def create(name: str, *, family: str | None = None, **kwargs) -> nn.Module:
    entry = _BUILDERS.get(name)
    if entry is None or family not in (None, entry[0]):
        kind = family or "model"
        raise ValueError(f"unknown {kind} {name!r}; valid names: {', '.join(catalogue.names(family=family))}")
    return entry[1](**kwargs)
