"""Every registered model honours the contract at smoke size (STYLE.md example 8)."""
import warnings

import pytest
import torch

from faceattr_nb import models

torch.set_num_threads(1)

SMOKE = {  # name: (create() arguments, input channels, side)
    "facenet": (dict(attributes=None), 1, 36),
    "scratch_cnn": (dict(), 3, 48),
    "xception": (dict(backbone="test_resnet"), 3, 48),
    "pse_dmtl": (dict(pse="conv", img_size=48), 3, 48),
    "gal": (dict(variant="j", img_size=48), 3, 48),
    "blan": (dict(backbone="resnet10t", width=0.25, lmim_hidden=32, img_size=48), 3, 48),
}


def quiet_create(name: str, **kw) -> torch.nn.Module:
    """``models.create`` with seed 0, without the random-backbone warnings (tested in the model files)."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return models.create(name, **kw)


def test_every_registered_model_has_a_smoke_setting():
    assert sorted(SMOKE) == models.list_models()


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_forward_losses_backward(name):
    kw, channels, side = SMOKE[name]
    model = quiet_create(name, **kw)
    x = torch.randn(4, channels, side, side)
    out = model(x)
    num_attrs = 6 if name == "facenet" else 40
    assert out["logits"].shape == (4, num_attrs)
    assert torch.isfinite(out["logits"]).all()
    y = (torch.rand(4, num_attrs) < 0.3).float()
    losses = model.losses(out, y)
    assert "total" in losses and losses["total"].ndim == 0
    losses["total"].backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    assert model.create_name == name


def test_unknown_model_lists_the_known_names():
    with pytest.raises(ValueError, match="known models: blan, facenet"):
        models.create("resnet_attr")


# Built for one input side: a wrong one raises a ValueError naming the side and img_size=.
# Size-free models (global or adaptive pooling; PSE(b) and the PSE baseline) take any side.
FIXED_SIZE = {"facenet": True, "scratch_cnn": False, "xception": False, "pse_dmtl": False, "gal": True,
              "blan": True}


def test_every_registered_model_is_classified_by_input_size():
    assert sorted(FIXED_SIZE) == models.list_models()


@pytest.mark.parametrize("name", sorted(SMOKE))
def test_a_wrong_input_size_is_a_clear_error_or_works(name):
    kw, channels, side = SMOKE[name]
    model = quiet_create(name, **kw).eval()
    x = torch.randn(2, channels, side + 16, side + 16)
    if FIXED_SIZE[name]:
        with pytest.raises(ValueError, match=rf"built for .*{side}x{side}.*img_size="):
            model(x)
    else:
        assert model(x)["logits"].shape[0] == 2


def test_pse_a_says_which_size_it_was_built_for():
    model = quiet_create("pse_dmtl", pse="fc", img_size=48).eval()
    with pytest.raises(ValueError, match="built for 6x6 feature maps.*img_size"):
        model(torch.randn(2, 3, 64, 64))
