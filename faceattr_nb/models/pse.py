"""PSE-DMTL: Position-Squeeze and Excitation in a deep multi-task network.

Paper: "Position-Squeeze and Excitation Module for Facial Attribute Analysis",
Y. Zhang et al., BMVC 2018. Implemented here:

* Position Average Pooling (PAP), eq. (1): the mean over channels at every
  position, Z = F_sq(X), (B, C, H, W) -> (B, 1, H, W) (Figure 3).
* Excitation, eq. (2): S = sigmoid(W2 * relu(W1 * Z)) in both forms of
  Figure 4: (a) "fc", fully connected H*W -> C/16 -> H*W, and (b) "conv",
  3x3 conv 1 -> C/16 channels, 1x1 conv C/16 -> 1 channel.
* Re-weighting, eq. (3): X~ = S . X, one weight per position shared by all
  channels.
* The DMTL network of Figure 2: shared layers, then 8 sub-networks, one per
  location group (Section 4.2, the groups of faceattr_nb.attributes.GROUPS),
  each with its own conv layers, its PSE branch and a two-way softmax
  classifier per attribute; the loss is the cross-entropy of every attribute,
  summed. The baseline of Table 1 is the same network without PSE.

Backbones: the paper uses AlexNet-cvgj (AlexNet with batch norm) and SENet,
both ImageNet-initialised. ``backbone="alexnet_small"`` is a small AlexNet
with batch norm whose conv1-conv3 are the shared layers and whose conv4-conv5
are repeated in every sub-network (cpu and smoke profiles, trained from
scratch); any timm name ("resnet18", "seresnet18", "legacy_seresnet18", ...)
is cut at its stride-16 stage with ``features_only`` (gpu profile). One
departure: the sub-networks average-pool the re-weighted features instead of
flattening them into AlexNet's fc6, so the PSE mask is the only place where a
sub-network chooses *where* to look. Used in notebook 04.
"""
from pathlib import Path

import torch
import torch.nn as nn

from faceattr_nb.attributes import ATTRIBUTES, GROUPS
from faceattr_nb.models.backbones import input_affine, timm_backbone
from faceattr_nb.models.losses import softmax_ce_per_attr, two_way_to_binary
from faceattr_nb.models.registry import register

PSE_FORMS = ("conv", "fc", None)


class PAP(nn.Module):
    """Position Average Pooling, eq. (1): Z^i = (1/C) sum_j x_j^i."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True)  # (B, C, H, W) -> (B, 1, H, W)


class PSE(nn.Module):
    """The PSE module (Figure 4): PAP, excitation (eq. 2), re-weighting (eq. 3).

    ``form="fc"`` is Figure 4(a) and needs the feature-map size ``size=(H, W)``
    because its FC layers see the H*W positions; ``form="conv"`` is Figure
    4(b) and works at any size. ``forward`` returns (X~, S): the re-weighted
    features (B, C, H, W) and the mask S (B, 1, H, W) in (0, 1).
    """

    def __init__(self, channels: int, form: str = "conv", size: tuple[int, int] | None = None,
                 reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)  # C/16
        self.form, self.size = form, size
        self.pap = PAP()
        if form == "fc":
            if size is None:
                raise ValueError("PSE(a) form='fc' needs the feature-map size=(H, W) "
                                 "(its FC layers see H*W positions); pass size or use form='conv'")
            h, w = size
            self.excite = nn.Sequential(
                nn.Flatten(),                                # (B, H*W)
                nn.Linear(h * w, hidden), nn.ReLU(inplace=True),  # W1, delta: (B, C/16)
                nn.Linear(hidden, h * w),                    # W2: (B, H*W)
                nn.Unflatten(1, (1, h, w)))                  # (B, 1, H, W)
        elif form == "conv":
            self.excite = nn.Sequential(
                nn.Conv2d(1, hidden, 3, padding=1), nn.ReLU(inplace=True),  # W1, delta: (B, C/16, H, W)
                nn.Conv2d(hidden, 1, 1))                                    # W2: (B, 1, H, W)
        else:
            raise ValueError(f"unknown PSE form {form!r}; use 'fc' (Figure 4a) or 'conv' (Figure 4b)")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.form == "fc" and tuple(x.shape[-2:]) != tuple(self.size):
            raise ValueError(f"PSE(a) was built for {self.size[0]}x{self.size[1]} feature maps but got "
                             f"{x.shape[-2]}x{x.shape[-1]}: build the model with the img_size you feed "
                             "it, or use pse='conv', which works at any size")
        z = self.pap(x)                    # (B, 1, H, W)  eq. (1)
        s = torch.sigmoid(self.excite(z))  # (B, 1, H, W)  eq. (2)
        return x * s, s                    # (B, C, H, W)  eq. (3)


def conv_bn_relu(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv, batch norm, ReLU: the unit of AlexNet-cvgj."""
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class AlexNetSmall(nn.Module):
    """The shared layers: AlexNet-cvgj's conv1-conv3 at small scale, stride 8."""

    out_channels = 128

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_relu(3, 32, k=5, stride=2), nn.MaxPool2d(3, 2, 1),  # conv1, pool1: S/4
            conv_bn_relu(32, 64), nn.MaxPool2d(2),                      # conv2, pool2: S/8
            conv_bn_relu(64, self.out_channels))                        # conv3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)  # (B, 3, S, S) -> (B, 128, S/8, S/8)


class TimmTrunk(nn.Module):
    """A timm model cut after one feature stage (``features_only``)."""

    def __init__(self, name: str, pretrained: bool, weights: str | None, feature_index: int):
        super().__init__()
        self.body = timm_backbone(name, pretrained, weights, features_only=True, out_indices=(feature_index,))
        self.out_channels = self.body.feature_info.channels()[-1]
        self.reduction = self.body.feature_info.reduction()[-1]
        scale, shift = input_affine(self.body)  # identity for ImageNet-normalised weights (ResNets)
        self.register_buffer("in_scale", scale, persistent=False)
        self.register_buffer("in_shift", shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.in_scale + self.in_shift  # (B, 3, S, S) in the backbone's own normalisation
        return self.body(x)[-1]  # (B, C, S/16, S/16) for feature_index 3 of a ResNet


class SubNetwork(nn.Module):
    """One sub-network of Figure 2: conv4-conv5, the PSE branch, the classifiers."""

    def __init__(self, cin: int, width: int, num_attrs: int, pse: str | None,
                 size: tuple[int, int] | None, hidden: int, dropout: float, reduction: int):
        super().__init__()
        self.num_attrs = num_attrs
        self.convs = nn.Sequential(conv_bn_relu(cin, width), conv_bn_relu(width, width))
        self.pse = PSE(width, pse, size, reduction) if pse else None
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(width, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, 2 * num_attrs))  # one two-way softmax per attribute

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.convs(f)                # (B, C', H, W)
        mask = None
        if self.pse is not None:
            h, mask = self.pse(h)        # (B, C', H, W), mask (B, 1, H, W)
        logits2 = self.classifier(h)     # (B, 2 * n)
        return logits2.view(-1, self.num_attrs, 2), mask  # (B, n, 2)


class PSEDMTL(nn.Module):
    """Shared layers + one SubNetwork per location group (Figure 2).

    ``forward`` returns "logits" (B, A) in ATTRIBUTES order (l1 - l0 of each
    two-way softmax), "logits2" (B, A, 2) and, with PSE, "masks" (B, G, H, W):
    the eight PSE masks in GROUPS order, at feature-map resolution.
    """

    def __init__(self, backbone: nn.Module, pse: str | None = "conv",
                 size: tuple[int, int] | None = None, width: int = 64, hidden: int = 128,
                 dropout: float = 0.5, reduction: int = 16,
                 groups: dict[str, list[str]] = GROUPS):
        super().__init__()
        order = [a for members in groups.values() for a in members]
        if sorted(order) != sorted(ATTRIBUTES):
            raise ValueError("the groups must hold each of the 40 attributes exactly once; "
                             f"missing {sorted(set(ATTRIBUTES) - set(order))}, "
                             f"repeated {sorted({a for a in order if order.count(a) > 1})}")
        self.pse, self.group_names = pse, list(groups)
        self.backbone = backbone
        self.subnets = nn.ModuleList(
            SubNetwork(backbone.out_channels, width, len(m), pse, size, hidden, dropout, reduction)
            for m in groups.values())
        # column k of the concatenated group outputs is attribute order[k]
        to_attr = sorted(range(len(order)), key=lambda k: ATTRIBUTES.index(order[k]))
        self.register_buffer("to_attr", torch.tensor(to_attr), persistent=False)
        self.group_cols = [[ATTRIBUTES.index(a) for a in m] for m in groups.values()]

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.backbone(x)                                  # (B, C, H, W) shared layers
        outs = [net(f) for net in self.subnets]               # G x ((B, n_g, 2), (B, 1, H, W))
        logits2 = torch.cat([o[0] for o in outs], dim=1)      # (B, A, 2) in group order
        logits2 = logits2[:, self.to_attr]                    # (B, A, 2) in ATTRIBUTES order
        out = {"logits": two_way_to_binary(logits2), "logits2": logits2}  # (B, A), (B, A, 2)
        if self.pse is not None:
            out["masks"] = torch.cat([o[1] for o in outs], dim=1)  # (B, G, H, W)
        return out

    def losses(self, out: dict[str, torch.Tensor], y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Softmax cross-entropy of every attribute, summed; also per group."""
        ce = softmax_ce_per_attr(out["logits2"], y)  # (A,)
        named = {f"ce_{group_slug(g)}": ce[cols].sum()
                 for g, cols in zip(self.group_names, self.group_cols)}
        named["total"] = ce.sum()
        return named


def group_slug(group: str) -> str:
    """'Cheek&Ear' -> 'cheek_ear': a group name usable as a column name."""
    return group.lower().replace("&", "_")


def feature_size(backbone: nn.Module, img_size: int) -> tuple[int, int]:
    """(H, W) of the backbone's output for an img_size x img_size input.

    Probed in eval mode so that batch-norm running statistics stay untouched.
    """
    was_training = backbone.training
    with torch.no_grad():
        size = backbone.eval()(torch.zeros(1, 3, img_size, img_size)).shape[-2:]
    backbone.train(was_training)
    return tuple(size)


def build_backbone(name: str, pretrained: bool, weights: str | None,
                   feature_index: int) -> nn.Module:
    """'alexnet_small' or a timm name (cut at ``feature_index``) with its weights."""
    if name == "alexnet_small":
        if pretrained:
            raise ValueError("alexnet_small has no ImageNet weights; use pretrained=False, or a timm "
                             "backbone such as backbone='resnet18' with pretrained=True")
        trunk = AlexNetSmall()
        if weights:
            if not Path(weights).is_file():
                raise FileNotFoundError(f"weights file {weights} not found: pass the path of a checkpoint "
                                        f"of {name!r} (a state dict), or weights=None")
            trunk.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        return trunk
    return TimmTrunk(name, pretrained, weights, feature_index)


@register("pse_dmtl")
def pse_dmtl(pse: str | None = "conv", backbone: str = "alexnet_small", pretrained: bool = False,
             weights: str | None = None, img_size: int = 64, width: int | None = None,
             hidden: int = 128, dropout: float = 0.5, reduction: int = 16,
             feature_index: int = 3) -> PSEDMTL:
    """PSE-DMTL with PSE(a) ``pse="fc"``, PSE(b) ``pse="conv"`` or the baseline ``pse=None``.

    ``img_size`` fixes the feature-map size the fc form is built for;
    ``width`` is the channel count of each sub-network (default 64 for
    alexnet_small, 128 for a timm backbone). Used in notebook 04.
    """
    if pse not in PSE_FORMS:
        raise ValueError(f"unknown pse={pse!r}; use 'conv' (PSE(b)), 'fc' (PSE(a)) or None (baseline)")
    trunk = build_backbone(backbone, pretrained, weights, feature_index)
    size = feature_size(trunk, img_size) if pse == "fc" else None
    width = width or (64 if backbone == "alexnet_small" else 128)
    return PSEDMTL(trunk, pse, size, width, hidden, dropout, reduction)
