"""GAL: correlations among facial attributes through a graph attention layer.

Paper: "Exploring Correlations for Multiple Facial Attributes Recognition
through Graph Attention Network", Y. Zhang and L. Sun, AAAI 2019
(code: github.com/crazydemo/facial-attribute-classification-with-graph).
Implemented here:

* FLN, the feature learning net (Figure 1): a shared backbone, then M = 40
  task-specific branches, each a 1x1 convolution, batch norm and a PSE
  module (Figure 2, reused from ``models/pse.py``), then one fully connected
  two-way classifier per attribute; L_f is the softmax cross-entropy of every
  attribute, summed, eq. (4).
* CLN, the correlation learning net (Figures 3-4): M unshared 1x1
  convolutions project the branch outputs X_i, each is flattened into a node
  N_i of d = C*H*W entries, eq. (1); the affinity A = N N^T, eq. (2); each
  row goes through a softmax and the refined nodes are N'_i =
  softmax(A_i) N, eq. (3); one classifier per refined node gives L_c (the
  form of eq. 4). The final prediction is the CLN's.
* The optimisation scheme: the CLN reads the FLN's features detached, so
  the gradient of L_f updates only FLN parameters and the gradient of L_c
  only CLN parameters; ``total = L_f + L_c`` trains both streams in one
  backward pass.
* The variants of Table 2: ``"baseline"`` (FLN only, ``cln`` is None, no
  L_c), ``"c"`` (FLN frozen, loaded from a Baseline run with ``load_fln``,
  total = L_c), ``"j"`` (joint training, separated streams) and ``"p"``
  (a fixed affinity from the groups of Table 1: nodes of one group adjacent
  with equal weights summing to 1 per row, no edge across groups).

Shallower than the paper. GAL shares AlexNet-cvgj's whole convolutional
part (conv1-conv5, ImageNet weights, "without the two fully connected
layers") before the 40 branches. The course's ``backbone="alexnet_small"``
shares three small conv layers (32, 64, 128 channels, stride 8, trained from
scratch: the cpu and smoke profiles), so each branch starts from far simpler
features than in the paper; a timm ``backbone`` (e.g. "resnet18", cut at its
stride-16 stage, ImageNet weights with ``pretrained``/``weights``) is the
closer stand-in for the gpu profile.

Built for one input size: the classifiers flatten the H x W feature maps and
the nodes have d = node_dim*H*W entries, so a model built with ``img_size=S``
takes S x S inputs only; another size raises a ValueError that says so
(build it again with ``img_size=``).

One option beyond the paper: A = N N^T sums over thousands of entries, so
the row softmax is nearly one-hot (each node attends to itself only).
``affinity_scale=None`` keeps it as published; ``"sqrt_d"`` divides A by
sqrt(d) (as in scaled dot-product attention) and a float divides A by that
temperature. Used in notebook 05.
"""
import math
from pathlib import Path

import torch
import torch.nn as nn

from faceattr_nb.attributes import ATTRIBUTES, GROUPS
from faceattr_nb.models.losses import softmax_ce_per_attr, two_way_to_binary
from faceattr_nb.models.pse import PSE, build_backbone, feature_size
from faceattr_nb.models.registry import register

VARIANTS = ("baseline", "c", "j", "p")


def group_prior(groups: dict[str, list[str]] = GROUPS) -> torch.Tensor:
    """GAL-p's fixed affinity (A, A) from Table 1: 1/|g| within a group g, 0 across groups."""
    prior = torch.zeros(len(ATTRIBUTES), len(ATTRIBUTES))
    for members in groups.values():
        idx = torch.tensor([ATTRIBUTES.index(a) for a in members])
        prior[idx.unsqueeze(1), idx] = 1.0 / len(members)
    return prior


class AttributeFC(nn.Module):
    """M unshared fully connected two-way classifiers, one per attribute."""

    def __init__(self, num_attrs: int, in_features: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's default initialisation
        self.weight = nn.Parameter(torch.empty(num_attrs, in_features, 2).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_attrs, 2).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bad,adk->bak", x, self.weight) + self.bias  # (B, A, D) -> (B, A, 2)


class FLN(nn.Module):
    """Feature learning net: backbone, M branches (1x1 conv, BN, PSE), M classifiers."""

    def __init__(self, backbone: nn.Module, size: tuple[int, int], num_attrs: int = 40,
                 branch_channels: int = 32, pse: str = "conv", reduction: int = 16):
        super().__init__()
        self.num_attrs, self.branch_channels = num_attrs, branch_channels
        self.backbone = backbone
        # M unshared 1x1 convolutions on the same input are one conv with M * C' outputs;
        # batch norm per channel is likewise the M branches' own batch norms side by side.
        self.conv = nn.Conv2d(backbone.out_channels, num_attrs * branch_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(num_attrs * branch_channels)
        self.pse = nn.ModuleList(PSE(branch_channels, pse, size, reduction) for _ in range(num_attrs))
        self.classifier = AttributeFC(num_attrs, branch_channels * size[0] * size[1])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = self.backbone(x)                                 # (B, C, H, W) shared layers
        h = self.bn(self.conv(f))                            # (B, A*C', H, W)
        h = h.unflatten(1, (self.num_attrs, self.branch_channels))  # (B, A, C', H, W)
        outs = [pse(hi) for pse, hi in zip(self.pse, h.unbind(1))]  # A x ((B, C', H, W), (B, 1, H, W))
        feats = torch.stack([o[0] for o in outs], dim=1)     # (B, A, C', H, W)  X_i
        masks = torch.cat([o[1] for o in outs], dim=1)       # (B, A, H, W)
        logits2 = self.classifier(feats.flatten(2))          # (B, A, 2)
        return {"features": feats, "masks": masks, "logits2": logits2}


class CLN(nn.Module):
    """Correlation learning net: projection to nodes (eq. 1), graph attention (eqs. 2-3), classifiers.

    ``prior`` (A, A) replaces the learned attention (GAL-p); ``affinity_scale``
    is None (as published), "sqrt_d" or a temperature dividing A.
    """

    def __init__(self, size: tuple[int, int], num_attrs: int = 40, branch_channels: int = 32,
                 node_dim: int = 16, affinity_scale: str | float | None = None,
                 prior: torch.Tensor | None = None):
        super().__init__()
        self.num_attrs = num_attrs
        self.d = node_dim * size[0] * size[1]  # entries of one node N_i
        self.divisor = affinity_divisor(affinity_scale, self.d)
        # M unshared 1x1 convolutions, F_conv of eq. (1): one grouped conv, a group per attribute.
        self.project = nn.Conv2d(num_attrs * branch_channels, num_attrs * node_dim, 1, groups=num_attrs)
        self.classifier = AttributeFC(num_attrs, self.d)
        self.register_buffer("prior", prior, persistent=False)

    def forward(self, feats: torch.Tensor) -> dict[str, torch.Tensor]:
        n = self.project(feats.flatten(1, 2))                # (B, A*C'', H, W)  F_conv
        n = n.unflatten(1, (self.num_attrs, -1)).flatten(2)  # (B, A, d)  eq. (1), F_reshape
        n = n.float()
        if self.prior is not None:
            attn = self.prior.expand(n.shape[0], -1, -1)     # (B, A, A) Table 1 graph
        else:
            with torch.autocast(n.device.type, enabled=False):  # d-long dot products in float32
                a = n @ n.transpose(1, 2) / self.divisor     # (B, A, A)  eq. (2)
            attn = a.softmax(dim=-1)                         # (B, A, A)  row softmax
        refined = attn @ n                                   # (B, A, d)  eq. (3)
        return {"affinity": attn, "logits2": self.classifier(refined)}  # (B, A, A), (B, A, 2)


def affinity_divisor(scale: str | float | None, d: int) -> float:
    """What A is divided by: 1 (None, as published), sqrt(d) ("sqrt_d") or a temperature."""
    if scale is None:
        return 1.0
    if scale == "sqrt_d":
        return math.sqrt(d)
    if isinstance(scale, (int, float)) and not isinstance(scale, bool) and scale > 0:
        return float(scale)
    raise ValueError(f"affinity_scale={scale!r}; use None (as published), 'sqrt_d' or a positive temperature")


class GAL(nn.Module):
    """FLN + CLN (Figure 1) in one of the variants of Table 2.

    ``forward`` returns "logits" (B, A): the CLN's prediction (the FLN's for
    the baseline); "logits_f" (B, A): the FLN's; "logits2" / "logits2_f"
    (B, A, 2) two-way scores; "masks" (B, A, H, W): the PSE masks; and for
    c, j, p "affinity" (B, A, A): the row-normalised attention of eq. (3).
    """

    def __init__(self, fln: FLN, cln: CLN | None, variant: str = "j", img_size: int | None = None):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown GAL variant {variant!r}; use one of {', '.join(VARIANTS)}")
        if (cln is None) != (variant == "baseline"):
            raise ValueError("the baseline has no CLN (cln=None); variants c, j and p need one")
        self.variant, self.fln, self.cln, self.img_size = variant, fln, cln, img_size
        self.fln_loaded = False  # GAL-c: set by load_fln (or loading a whole GAL-c state dict)
        if variant == "c":
            self.fln.requires_grad_(False)

    def train(self, mode: bool = True) -> "GAL":
        super().train(mode)
        if self.variant == "c":
            self.fln.eval()  # frozen FLN: batch-norm statistics stay those of the Baseline run
        return self

    def load_fln(self, source: dict | str | Path) -> "GAL":
        """Load the FLN from a Baseline model: its state dict, a ``model.pt`` or its run folder."""
        if not isinstance(source, dict):
            path = Path(source)
            path = path / "model.pt" if path.is_dir() else path
            if not path.exists():
                raise FileNotFoundError(f"{path} not found: pass the run folder of a finished "
                                        "GAL baseline (e.g. runs/gal_baseline) or its model.pt")
            source = torch.load(path, map_location="cpu", weights_only=True)
        source = source.get("model", source)  # a train.fit checkpoint holds the weights under "model"
        if any(k.startswith("fln.") for k in source):
            source = {k[4:]: v for k, v in source.items() if k.startswith("fln.")}
        self.fln.load_state_dict(source)
        self.fln_loaded = True
        return self

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """nn.Module's, noting that the FLN now holds trained weights (a GAL-c checkpoint, train.load_model)."""
        result = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self.fln_loaded = True
        return result

    def check_input(self, x: torch.Tensor) -> None:
        """ValueError unless ``x`` has the side the model was built for, and GAL-c's FLN was loaded."""
        if self.img_size is not None and tuple(x.shape[-2:]) != (self.img_size, self.img_size):
            raise ValueError(f"GAL was built for {self.img_size}x{self.img_size} inputs (its classifiers flatten "
                             f"the feature maps and the nodes have d = {self.cln.d if self.cln else 'C*H*W'} "
                             f"entries), got {tuple(x.shape[-2:])}: pass img_size= to models.create")
        if self.variant == "c" and not self.fln_loaded:
            raise RuntimeError("GAL-c trains the CLN on a frozen FLN, but no FLN was loaded (it would be random): "
                               "call model.load_fln(run folder of a finished GAL baseline) first, e.g. "
                               "models.create('gal', variant='c', ...).load_fln(runs['gal_baseline'].path.parent)")

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.check_input(x)
        f = self.fln(x)                                      # X_i: (B, A, C', H, W)
        out = {"logits_f": two_way_to_binary(f["logits2"]), "logits2_f": f["logits2"], "masks": f["masks"]}
        if self.cln is None:
            return {"logits": out["logits_f"], "logits2": f["logits2"], **out}
        c = self.cln(f["features"].detach())                 # L_c never reaches the FLN
        return {"logits": two_way_to_binary(c["logits2"]), "logits2": c["logits2"],
                "affinity": c["affinity"], **out}

    def losses(self, out: dict[str, torch.Tensor], y: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_f (eq. 4) and L_c (same form, after GAL); total as the variant trains."""
        named = {"L_f": softmax_ce_per_attr(out["logits2_f"], y).sum()}
        if self.cln is None:
            named["total"] = named["L_f"]
            return named
        named["L_c"] = softmax_ce_per_attr(out["logits2"], y).sum()
        named["total"] = named["L_c"] if self.variant == "c" else named["L_f"] + named["L_c"]
        return named


@register("gal")
def gal(variant: str = "j", backbone: str = "alexnet_small", pretrained: bool = False,
        weights: str | None = None, img_size: int = 64, pse: str = "conv", branch_channels: int = 32,
        node_dim: int = 16, affinity_scale: str | float | None = None, reduction: int = 16,
        feature_index: int = 3) -> GAL:
    """GAL in ``variant`` "baseline", "c", "j" or "p" (Table 2).

    ``backbone``: "alexnet_small" (cpu/smoke) or a timm name, as in
    ``pse_dmtl``; ``img_size`` fixes the feature-map size (H, W) the
    classifiers are built for; ``branch_channels`` is C' of each branch,
    ``node_dim`` the channels of each projected node (d = node_dim*H*W).
    For "c", call ``model.load_fln(...)`` with a Baseline run before using it
    (a GAL-c with a random frozen FLN raises). Used in notebook 05.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown GAL variant {variant!r}; use one of {', '.join(VARIANTS)}")
    trunk = build_backbone(backbone, pretrained, weights, feature_index)
    size = feature_size(trunk, img_size)
    fln = FLN(trunk, size, len(ATTRIBUTES), branch_channels, pse, reduction)
    cln = None
    if variant != "baseline":
        prior = group_prior() if variant == "p" else None
        cln = CLN(size, len(ATTRIBUTES), branch_channels, node_dim, affinity_scale, prior)
    return GAL(fln, cln, variant, img_size)
