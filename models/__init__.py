"""One registry builds every network by name: ``models.create("arch4-1", backbone="resnet34")``.

Importing this package imports the model files, and their ``@register_model`` decorators
fill the registry. The names users type (``resnet34``, ``arch4-1``) are the registry keys,
the pytest ids and the labels in reports.
"""

from models import backbones, blocks, classifiers, lenet, sbh  # noqa: F401  (registration side effect)
from models._registry import create, describe, list_models, register_model

__all__ = ["create", "describe", "list_models", "register_model"]
