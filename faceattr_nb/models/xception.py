"""Transfer learning with Xception: an ImageNet backbone and a new 40-attribute top.

Lee and Sike, "Unveiling Facial Attributes with Convolutional Neural
Networks", student project report (unpublished, no institution or year
given), section 4.2, on F. Chollet, "Xception: Deep Learning with
Depthwise Separable Convolutions", CVPR 2017 (arXiv:1610.02357).

Section 4.2: Xception pre-trained on ImageNet, loaded "without its top
layer", input (150, 150, 3); a new top of global average pooling ->
dropout -> dense layer of 40 sigmoid outputs, trained with binary cross
entropy. Two phases:

1. the base model is frozen and only the top is trained (20 epochs);
2. the base is unfrozen and the whole network is fine-tuned "with a very
   low learning rate" (the Keras transfer-learning guide it cites uses 1e-5).

Early stopping (section 4.1, for both models): min_delta 0.01, patience 5,
i.e. ``train.TrainConfig(patience=5, min_delta=0.01)``.

The backbone is any timm model (default ``legacy_xception``, timm's port of
the Keras Xception); ``pretrained=True`` downloads timm's ImageNet weights,
``weights=PATH`` loads a local file through timm's
``pretrained_cfg_overlay=dict(file=PATH)``, and with neither the backbone is
random, which is training from scratch, not transfer (a warning says so).
As in Keras, a frozen base keeps its BatchNorm layers in inference mode;
``freeze_backbone(bn_eval=False)`` lets a random base normalise with batch
statistics instead (it has no stored ones worth keeping).
Used in notebook 03.
"""
from pathlib import Path

import torch
import torch.nn as nn

from faceattr_nb.data.loaders import IMAGENET_MEAN, IMAGENET_STD
from faceattr_nb.models.backbones import timm_backbone
from faceattr_nb.models.losses import bce_per_attr
from faceattr_nb.models.registry import register


def create_backbone(name: str, pretrained: bool = False, weights: str | Path | None = None) -> nn.Module:
    """timm ``name`` without its classifier (num_classes=0): images -> (B, C) after global average pooling."""
    return timm_backbone(name, pretrained, weights, random_note="this is training from scratch, not transfer "
                         "learning", num_classes=0, global_pool="avg")


class XceptionTransfer(nn.Module):
    """Section 4.2: pretrained base -> global average pooling -> dropout -> dense(40), sigmoid."""

    def __init__(self, backbone: str = "legacy_xception", pretrained: bool = False,
                 weights: str | Path | None = None, num_attrs: int = 40, drop_rate: float = 0.5):
        super().__init__()
        self.backbone_name = backbone
        self.backbone = create_backbone(backbone, pretrained, weights)  # checks the name too
        self.dropout = nn.Dropout(drop_rate)
        # (B, C) width: num_features, or the hidden head layer some timm models keep (MobileNetV3: 1024)
        self.num_features = getattr(self.backbone, "head_hidden_size", None) or self.backbone.num_features
        self.fc = nn.Linear(self.num_features, num_attrs)
        self.backbone_eval = False
        # Inputs come normalised with ImageNet mean/std; legacy_xception's weights expect
        # (x - 0.5) / 0.5. One affine map per channel turns the first into the second.
        cfg = self.backbone.pretrained_cfg
        mean, std = (torch.tensor(cfg.get(k, d)).view(1, -1, 1, 1)
                     for k, d in (("mean", IMAGENET_MEAN), ("std", IMAGENET_STD)))
        in_mean, in_std = torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1), torch.tensor(IMAGENET_STD).view(1, -1, 1, 1)
        self.register_buffer("in_scale", in_std / std, persistent=False)
        self.register_buffer("in_shift", (in_mean - mean) / std, persistent=False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = x * self.in_scale + self.in_shift   # (B, 3, H, W) in the backbone's normalisation
        features = self.backbone(x)             # (B, C) after global average pooling; C = 2048 for Xception
        logits = self.fc(self.dropout(features))  # (B, A)
        return {"logits": logits, "features": features}

    def losses(self, out: dict, y: torch.Tensor) -> dict[str, torch.Tensor]:
        bce = bce_per_attr(out["logits"], y).mean()  # binary cross entropy over the 40 sigmoid outputs
        return {"bce": bce, "total": bce}

    def freeze_backbone(self, bn_eval: bool = True) -> "XceptionTransfer":
        """Phase 1: only the new top learns.

        ``bn_eval=True`` (Keras, and right for ImageNet weights): the base runs in
        inference mode, BatchNorm with its stored statistics. A random base has
        no statistics to keep (mean 0, variance 1 placeholders); ``bn_eval=False``
        lets its BatchNorm normalise with batch statistics and record them, so the
        features the top learns on do not change when phase 2 starts.
        """
        self.backbone.requires_grad_(False)
        self.backbone_eval = bn_eval
        self.backbone.train(self.training and not bn_eval)
        return self

    def unfreeze_backbone(self) -> "XceptionTransfer":
        """Phase 2: the whole network learns (give it a much lower learning rate)."""
        self.backbone.requires_grad_(True)
        self.backbone_eval = False
        self.backbone.train(self.training)
        return self

    def train(self, mode: bool = True) -> "XceptionTransfer":
        super().train(mode)
        if self.backbone_eval:
            self.backbone.eval()  # Keras: a frozen base runs BatchNorm with its moving statistics
        return self


@register("xception")
def xception(backbone: str = "legacy_xception", pretrained: bool = False, weights: str | Path | None = None,
             num_attrs: int = 40, drop_rate: float = 0.5) -> XceptionTransfer:
    """The report's transfer model; any timm backbone name (tests use a tiny one)."""
    return XceptionTransfer(backbone, pretrained, weights, num_attrs, drop_rate)
