"""Every model of the course, built by name: ``models.create("facenet", ...)``.

Importing this package imports each model file, whose ``@register`` lines fill
the registry.
"""
from faceattr_nb.models.registry import create, list_models, register

from faceattr_nb.models import facenet  # noqa: F401, E402
from faceattr_nb.models import pse  # noqa: F401, E402
from faceattr_nb.models import gal  # noqa: F401, E402
from faceattr_nb.models import scratch_cnn, xception  # noqa: F401, E402
from faceattr_nb.models import blan  # noqa: F401, E402

__all__ = ["create", "list_models", "register"]
