"""The timm backbones of every model (models/backbones.py): weights from a local file, from timm, or random.

Each model that starts from ImageNet takes ``pretrained=`` and ``weights=``
the same way. timm's tiny "test_resnet" stands in for Xception and the
ResNets, and the test writes its own weights file (no internet).
"""
import os
import subprocess
import sys
import warnings

import huggingface_hub.constants
import pytest
import timm
import torch
import torch.nn as nn
from safetensors.torch import save_file

from faceattr_nb import models
from faceattr_nb.models import backbones

torch.set_num_threads(1)
TINY = "test_resnet"
TIMM_MODELS = {  # model: (create() arguments, the timm module inside it, input side)
    "xception": (dict(), lambda m: m.backbone, 32),
    "pse_dmtl": (dict(img_size=32), lambda m: m.backbone.body, 32),
    "gal": (dict(img_size=32), lambda m: m.fln.backbone.body, 32),
    "blan": (dict(img_size=48), lambda m: m.encoder, 48),
}


def create(name: str, **kw) -> nn.Module:
    args, _, _ = TIMM_MODELS[name]
    return models.create(name, backbone=kw.pop("backbone", TINY), **args, **kw)


def write_weights(path, num_classes: int = 1000, drop: str | None = None, seed: int = 123) -> dict:
    """A random test_resnet saved as a .pth or .safetensors state dict: our stand-in for ImageNet weights."""
    torch.manual_seed(seed)
    source = timm.create_model(TINY, pretrained=False, num_classes=num_classes)
    saved = {k: v.contiguous() for k, v in source.state_dict().items() if not (drop and k.startswith(drop))}
    torch.save(saved, path) if path.suffix == ".pth" else save_file(saved, str(path))
    return saved


@pytest.mark.parametrize("suffix, num_classes", [(".pth", 0), (".safetensors", 1000)])  # with or without a top
@pytest.mark.parametrize("name", TIMM_MODELS)
def test_local_weights_file_is_loaded(tmp_path, monkeypatch, name, suffix, num_classes):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    saved = write_weights(tmp_path / f"weights{suffix}", num_classes=num_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # neither "random" nor "missing tensors"
        model = create(name, weights=str(tmp_path / f"weights{suffix}"))
    _, timm_module, side = TIMM_MODELS[name]
    loaded = timm_module(model).state_dict()
    assert loaded and set(loaded) <= set(saved) and not any(k.startswith("fc.") for k in loaded)
    for k, v in loaded.items():
        torch.testing.assert_close(v, saved[k], rtol=0, atol=0)
    assert model(torch.randn(2, 3, side, side))["logits"].shape == (2, 40)


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_a_file_of_another_model_is_an_error_naming_what_is_missing(tmp_path, name):
    write_weights(tmp_path / "partial.pth", drop="layer1.")  # allowed by name: tests/test_reliability.py
    with pytest.raises(ValueError, match=r"partial.pth does not fit timm's 'test_resnet': \d+ tensors missing "
                                         r"from the file \(first: layer1\."):
        create(name, weights=tmp_path / "partial.pth")


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_bad_weights_and_names_say_what_to_do(tmp_path, name):
    with pytest.raises(FileNotFoundError, match="nope.pth not found.*weights=None"):
        create(name, weights=tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="timm has no model 'resnet1'.*did you mean.*resnet18"):
        create(name, backbone="resnet1")


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_random_backbone_warns(name):
    with pytest.warns(UserWarning, match="RANDOM weights.*pretrained=True.*weights="):
        create(name)


@pytest.mark.parametrize("name", TIMM_MODELS)
def test_pretrained_without_internet_is_a_clear_error(tmp_path, monkeypatch, name):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(RuntimeError, match="could not get ImageNet weights.*weights="):
        create(name, pretrained=True)


def test_random_backbone_warns_once_in_a_session():
    """Notebook 06 builds six random models: the warning is read once, not six times."""
    code = ("import warnings\n"
            "from faceattr_nb.models import backbones\n"
            "for _ in range(3):\n"
            "    backbones.timm_backbone('resnet18', num_classes=0)\n"
            "    with warnings.catch_warnings():  # as torch and timm do: it resets what warnings remembers\n"
            "        pass\n"
            "backbones.timm_backbone('resnet10t', num_classes=0)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    said = [line for line in out.stderr.splitlines() if "RANDOM weights" in line]
    assert len(said) == 2 and "'resnet18'" in said[0] and "'resnet10t'" in said[1]


def test_a_trained_model_built_quietly_leaves_the_warning_due():
    """train.load_model builds its model inside trained_weights_follow(): no warning, since trained
    weights replace the random ones, and a later random start of that backbone still warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with backbones.trained_weights_follow():
            backbones.timm_backbone("resnet10t", num_classes=0)
    with pytest.warns(UserWarning, match="'resnet10t' has RANDOM weights"):
        backbones.timm_backbone("resnet10t", num_classes=0)
