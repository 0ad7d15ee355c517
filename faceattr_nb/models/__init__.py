"""Every model of the course, built by name: ``models.create("facenet", ...)``.

Importing this package imports each model file, whose ``@register`` lines fill
the registry.
"""
from faceattr_nb.models import blan, facenet, gal, pse, scratch_cnn, xception  # noqa: F401  (fills the registry)
from faceattr_nb.models.registry import create, list_models, register

__all__ = ["create", "list_models", "register"]
