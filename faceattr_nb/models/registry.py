"""The model registry: ``@register("name")`` on a builder, ``create(name, **kw)``.

Every model follows one contract (DESIGN.md, STYLE.md example 2):

* ``model(x)`` returns a dict with at least ``logits`` of shape (B, A);
* ``model.losses(out, y)`` returns a dict of named scalar losses whose
  ``total`` is what the trainer back-propagates; ``y`` is a float tensor
  (B, A) of 0/1 labels.

Optionally a model may define ``param_groups(lr, weight_decay)`` returning
optimizer parameter groups (different learning rates per part).
"""
from collections.abc import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str) -> Callable:
    """Decorator that files a model builder under ``name``."""
    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = builder
        return builder
    return wrap


def list_models() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def create(name: str, **kwargs) -> nn.Module:
    """Build the model registered as ``name`` with keyword arguments ``kwargs``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    model = _REGISTRY[name](**kwargs)
    # Remembered so a run record can rebuild the model (train.load_model).
    model.create_name, model.create_kwargs = name, dict(kwargs)
    return model
