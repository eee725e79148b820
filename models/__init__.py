"""One registry builds every network by name: ``models.create("arch4-1", backbone="resnet34")``.

The names live in ``models/catalogue.py`` (no torch); ``list_models`` reads them from there,
so listing or checking a name imports no torch. ``create`` and ``describe`` import the model
files on first use, and their ``@register_model`` decorators fill the registry. The names
users type (``resnet34``, ``arch4-1``) are the registry keys, the pytest ids and the labels in
reports.
"""

from __future__ import annotations

import importlib

from models.catalogue import names as list_models

_MODEL_FILES = ("backbones", "blocks", "classifiers", "lenet", "sbh")


def _loaded_registry():
    for name in _MODEL_FILES:
        importlib.import_module(f"models.{name}")
    return importlib.import_module("models._registry")


def create(name: str, *, family: str | None = None, **kwargs):
    return _loaded_registry().create(name, family=family, **kwargs)


def describe(name: str) -> str:
    return _loaded_registry().describe(name)


__all__ = ["create", "describe", "list_models"]
