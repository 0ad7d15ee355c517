"""BLAN: Bi-directional Ladder Attentive Network for facial attribute prediction.

X. Zheng, H. Huang, Y. Guo, B. Wang, R. He. Pattern Recognition 102 (2020) 107155.
https://doi.org/10.1016/j.patcog.2019.107155

Implemented, in the paper's names:

* BLAE (Sec. 3.1, Table 1): a ResNet-34 encoder (timm; ImageNet weights
  optional) whose blocks 1-4 give features at 1/4 ... 1/32 of the input, and a
  mirrored decoder (upsample x2, then residual blocks without striding; block 4
  is not mirrored) that reconstructs the image; l_REC is the MSE of eq. (1).
* RDAM_i, i = 1..K-1 (Sec. 3.2, Fig. 2): concatenate F_enc and F_dec, convolve,
  channel attention (eq. 2) then spatial attention (eq. 3), F_attn = F_spt + F_enc.
* AC_i, i = 1..K (Sec. 3.3, Table 2): two Conv-BN-ReLU, FC_1 512 (the vector
  T_i), dropout 0.5, FC_2 A. AC_1..AC_3 read RDAM_1..RDAM_3, AC_4 reads block 4.
* LMIM (Sec. 3.3.1, eq. 5): local Deep InfoMax. A concat-and-convolve
  discriminator scores [F_attn_i; T_i] at every location against pairs whose
  feature map comes from another image of the batch; binary cross-entropy.
* SF (Sec. 3.3.2, eqs. 6-7): per-attribute weights W_s (K+1, A) over the K level
  scores and their sum; l_SF is a cross-entropy on the fused score.
* l_TOT (eq. 8) = sum_i (l_CLS_i + alpha l_LMIM_i) + beta l_REC + gamma l_SF.

Choices the paper leaves open, made here: eq. (2) is printed as
sigma(MLP(avg)) + MLP(max); we use CBAM's sigma(MLP(avg) + MLP(max)) [its ref. 26]
with reduction 16, and a 7x7 Conv_F. RDAM's "convolutional layer" on [F_enc; F_dec]
has no kernel size in the paper: a 1x1 Conv-BN-ReLU here (``rdam_kernel=3`` gives
the 3x3 of earlier versions, 1.38 M parameters more at paper size). Each classifier
gives one logit per attribute, so the "softmax" of eqs. (6-7) over two classes is
the sigmoid and its cross-entropy is binary. Eqs. (4) and (7) sum over the N = 40
attributes (as here); l_LMIM is a mean over positions (the 1/M^2 of eq. 5) and
pairs, l_REC a mean over pixels ("the MSE", eq. 1): so alpha = beta = 0.1 weigh
them as in Table 6. (Earlier versions averaged eqs. 4 and 7 over attributes,
which made LMIM and reconstruction 40x heavier than the paper's balance; the
sum keeps Table 6's alpha and beta meaning what they mean in the paper, and
under Adam (Sec. 4.2), whose steps do not scale with the loss, the larger
total changes only that balance, not the step size.) l_SF also reaches the
classifiers through the fused score. The paper trains W_s with its own SGD at 1e-4: ``param_groups`` gives W_s its own
group at that rate (one optimiser type for all), and ``freeze_all_but_fusion``
allows a fusion-only stage. ``attention_order`` gives Table 5's three RDAM settings;
``dropout=0`` with random weights and no flips is the paper's "w/o OS" (Sec. 4.2: the
over-fitting suppression scheme is dropout 0.5 in each classifier, ImageNet weights for
the encoder and random mirroring). The encoder-decoder sizes need not be powers of
two: every upsampling goes to the size of the matching encoder feature. The
flags ``decoder``, ``rdam`` and ``fusion`` switch parts off for Table 4's
ablation; ``width`` narrows the encoder for CPU profiles. Used in notebook 06.

Parameters (Table 10: 38.34 M). At paper size (ResNet-34, 256 px) the inference
count (``parameter_table``, without the training-only LMIM) is 41.06 M: encoder
21.28 M (ResNet-34 without pooling and fc, Sec. 3.1), AC_1..4 10.15 M (Table 2
fixes FC_1 at 4096 x 512: 8.39 M for the four), decoder 9.44 M, RDAM 0.18 M, W_s
200. The 3x3 RDAM convolution of earlier versions made it 42.43 M. What remains
cannot be removed by reading Tables 1-2 differently: FC_2 with the paper's 2N
outputs adds 0.08 M; a decoder whose stages change channels with a 1x1 conv
(512 -> 256 ...) before plain blocks, instead of in their first residual block
as here, would have 8.66 M (0.77 M less) -- the tables leave this open; and even
then encoder + classifiers + a decoder with Table 1's 6/4/3 blocks come to 40.1 M,
2 M above the paper's figure, so its count must come from a smaller network or
another way of counting than its tables describe.
"""
import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models.resnet import BasicBlock

from faceattr_nb.attributes import NUM_ATTRS
from faceattr_nb.models.backbones import timm_backbone
from faceattr_nb.models.losses import bce_per_attr
from faceattr_nb.models.pse import conv_bn_relu
from faceattr_nb.models.registry import register

K = 4  # attribute classifiers AC_1..AC_K, one per level
# Table 2: kernel and stride of Conv-BN-ReLU_1, channels after Conv-BN-ReLU_1 and _2.
AC_CONFIG = {1: (5, 4, 32, 16), 2: (3, 2, 64, 16), 3: (3, 2, 128, 64), 4: (3, 2, 256, 256)}


class Decoder(nn.Module):
    """BLAE's decoder (Table 1, right): block_3 .. block_1 mirrored, then conv_0."""

    def __init__(self, channels: list[int], depths: list[int]):
        super().__init__()
        self.blocks = nn.ModuleList()
        for i in (2, 1, 0):  # decoder block_3, block_2, block_1
            c_in, c_out = channels[i + 1], channels[i]
            shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
            layers = [BasicBlock(c_in, c_out, downsample=shortcut)]
            layers += [BasicBlock(c_out, c_out) for _ in range(depths[i] - 1)]
            self.blocks.append(nn.Sequential(*layers))
        self.conv0 = nn.ConvTranspose2d(channels[0], 3, 4, stride=2, padding=1)  # "4, stride=2"

    def forward(self, f4: torch.Tensor, sizes: list[torch.Size], out_size: torch.Size):
        """f4: encoder block_4; sizes: (H, W) of encoder blocks 1-3. Returns [D_1, D_2, D_3], recon."""
        d, decoded = f4, []
        for block, size in zip(self.blocks, sizes[::-1]):
            d = block(F.interpolate(d, size=size))               # (B, C_i, H_i, W_i), upsample x2
            decoded.append(d)
        recon = self.conv0(F.interpolate(d, scale_factor=2.0))  # (B, 3, ~S, ~S), mirrors maxpool and conv_0
        if recon.shape[-2:] != out_size:                        # odd sizes: back to the input's
            recon = F.interpolate(recon, size=out_size, mode="bilinear", align_corners=False)
        return decoded[::-1], recon


ORDERS = ("chn_spt", "spt_chn", "parallel")  # Table 5's attention settings: Chn-Spt, Spt-Chn, Chn ~ Spt


class RDAM(nn.Module):
    """Residual Dual Attention Module (Fig. 2, eqs. 2-3); attention=False: the plain
    concatenate-and-convolve of BLAE (Table 4, index 4).

    ``order`` (Table 5): "chn_spt", the paper's, channel attention (eq. 2) and then spatial
    attention (eq. 3) on its output; "spt_chn" the other way round; "parallel" computes both
    masks from F_conv and applies them together (F_conv x channel mask x spatial mask). The
    paper does not say how its parallel branches combine; with this choice the only change
    from Chn-Spt is what the spatial pools read.
    """

    def __init__(self, channels: int, reduction: int = 16, spatial_kernel: int = 7, attention: bool = True,
                 kernel: int = 1, order: str = "chn_spt"):
        super().__init__()
        if order not in ORDERS:
            raise ValueError(f"unknown RDAM attention order {order!r}; choose one of {', '.join(ORDERS)} (Table 5)")
        self.conv = conv_bn_relu(2 * channels, channels, kernel)  # the paper's "convolutional layer", kernel open
        self.attention, self.order = attention, order
        if attention:  # without it (Table 4, index 4) there is nothing more to learn
            hidden = max(channels // reduction, 4)
            self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
                                     nn.Conv2d(hidden, channels, 1))
            self.conv_f = nn.Conv2d(2, 1, spatial_kernel, padding=spatial_kernel // 2)

    def forward(self, f_enc: torch.Tensor, f_dec: torch.Tensor) -> torch.Tensor:
        f_conv = self.conv(torch.cat([f_enc, f_dec], 1))        # (B, 2C, H, W) -> (B, C, H, W)
        if not self.attention:
            return f_conv
        if self.order == "chn_spt":                             # the paper's Chn-Spt
            f_chn = f_conv * self.channel_mask(f_conv)          # eq. (2): what to look at
            f_spt = f_chn * self.spatial_mask(f_chn)            # eq. (3): where to look
        elif self.order == "spt_chn":
            f_spt = f_conv * self.spatial_mask(f_conv)
            f_spt = f_spt * self.channel_mask(f_spt)
        else:                                                   # parallel: both masks read F_conv
            f_spt = f_conv * self.channel_mask(f_conv) * self.spatial_mask(f_conv)
        return f_spt + f_enc                                    # F_attn, the residual

    def channel_mask(self, f: torch.Tensor) -> torch.Tensor:
        """sigma(MLP(AvgPool(f)) + MLP(MaxPool(f))), pools over positions: (B, C, 1, 1), eq. (2)."""
        return torch.sigmoid(self.mlp(f.mean((2, 3), keepdim=True)) + self.mlp(f.amax((2, 3), keepdim=True)))

    def spatial_mask(self, f: torch.Tensor) -> torch.Tensor:
        """sigma(Conv_F([AvgPool(f); MaxPool(f)])), pools over channels: (B, 1, H, W), eq. (3)."""
        return torch.sigmoid(self.conv_f(torch.cat([f.mean(1, keepdim=True), f.amax(1, keepdim=True)], 1)))


class AC(nn.Module):
    """Attribute classifier AC_i (Table 2): returns T_i (B, 512) and scores s_i (B, A)."""

    def __init__(self, level: int, c_in: int, in_size: int, num_attrs: int = NUM_ATTRS, dropout: float = 0.5):
        super().__init__()
        kernel, stride, c1, c2 = AC_CONFIG[level]
        self.convs = nn.Sequential(conv_bn_relu(c_in, c1, kernel, stride), conv_bn_relu(c1, c2, 1))
        side = (in_size + 2 * (kernel // 2) - kernel) // stride + 1   # 16, 16, 8, 4 at 256 px
        self.fc1 = nn.Linear(c2 * side * side, 512)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(512, num_attrs)

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = F.relu(self.fc1(self.convs(f).flatten(1)))          # (B, 512): T_i
        return t, self.fc2(self.dropout(t))                     # (B, A): s_i


class LMIM(nn.Module):
    """Local mutual information maximisation (eq. 5): the concat-and-convolve
    discriminator of local Deep InfoMax on (F_attn_i, replicated T_i) pairs.

    Its first 1x1 convolution over the concatenation [F; T] is written as
    W_F F + W_T T: the same numbers, without copying T to every position."""

    def __init__(self, channels: int, dim: int = 512, hidden: int = 512):
        super().__init__()
        self.conv_f = nn.Conv2d(channels, hidden, 1)             # W_F, with the bias of the first conv
        self.fc_t = nn.Linear(dim, hidden, bias=False)           # W_T: T_i is the same at every position
        self.net = nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(hidden, hidden, 1), nn.ReLU(inplace=True),
                                 nn.Conv2d(hidden, 1, 1))

    def scores(self, f: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Scores of real pairs [F; T] and fake pairs [F'; T], F' from the next image: two (B, 1, H, W)."""
        f_part = self.conv_f(f)                                  # (B, hidden, H, W)
        t_part = self.fc_t(t)[:, :, None, None]                  # (B, hidden, 1, 1), broadcast over H, W
        real = self.net(f_part + t_part)                         # (B, 1, H, W)
        fake = self.net(f_part.roll(1, 0) + t_part)              # (B, 1, H, W): F' = the next image's map
        return real.float(), fake.float()

    def forward(self, f: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        real, fake = self.scores(f, t)
        return 0.5 * (F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
                      + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))


class SF(nn.Module):
    """Adaptive score fusion (eq. 6): p = W_s (x) (s_1..s_K, sum_i s_i), per attribute."""

    def __init__(self, num_levels: int = K, num_attrs: int = NUM_ATTRS):
        super().__init__()
        # Starts as the mean of the level scores: K weights and the sum's weight at 1/(2K).
        self.weight = nn.Parameter(torch.full((num_levels + 1, num_attrs), 0.5 / num_levels))  # W_s (K+1, A)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        scores = torch.cat([s, s.sum(1, keepdim=True)], 1)     # (B, K+1, A)
        return (self.weight * scores).sum(1)                    # (B, A)


def feature_sides(img_size: int) -> list[int]:
    """Sides of encoder blocks 1-4 (stride 4, 8, 16, 32, rounding up): 64, 32, 16, 8 at 256."""
    sides, n = [], math.ceil(math.ceil(img_size / 2) / 2)
    for _ in range(K):
        sides.append(n)
        n = math.ceil(n / 2)
    return sides


def build_encoder(backbone: str, pretrained: bool, weights: str | Path | None, width: float = 1.0) -> nn.Module:
    """timm ResNet whose blocks 1-4 are returned (fc and pooling removed, Sec. 3.1);
    ``width`` scales the channels of blocks 1-4 (64, 128, 256, 512), random weights only."""
    kwargs = dict(features_only=True, out_indices=(1, 2, 3, 4))
    if width != 1.0:
        if pretrained or weights is not None:
            raise ValueError(f"width={width} changes the encoder's channels, so ImageNet weights cannot load: "
                             "use width=1.0 with pretrained=True / weights=PATH, or pretrained=False")
        kwargs["channels"] = tuple(max(int(c * width), 8) for c in (64, 128, 256, 512))
    return timm_backbone(backbone, pretrained, weights, **kwargs)


class BLAN(nn.Module):
    """BLAE + RDAM_1..3 + AC_1..4 + LMIM + SF, trained with eq. (8).

    ``model(x)`` returns logits (B, A) (fused), level_logits (B, K, A), recon
    (B, 3, S, S), and what the losses need: features F_attn_i, t (B, K, 512), x.
    """

    def __init__(self, backbone: str = "resnet34", pretrained: bool = False, weights: str | Path | None = None,
                 img_size: int = 256, num_attrs: int = NUM_ATTRS, alpha: float = 0.1, beta: float = 0.1,
                 gamma: float = 1.0, decoder: bool = True, rdam: bool = True, fusion: bool = True,
                 width: float = 1.0, lmim_hidden: int = 512, fusion_lr: float = 1e-4, rdam_kernel: int = 1,
                 attention_order: str = "chn_spt", dropout: float = 0.5):
        super().__init__()
        if img_size < 32:
            raise ValueError(f"BLAN needs img_size >= 32 (block 4 has stride 32), got {img_size}")
        self.img_size, self.alpha, self.beta, self.gamma, self.fusion_lr = img_size, alpha, beta, gamma, fusion_lr
        self.encoder = build_encoder(backbone, pretrained, weights, width)
        channels = self.encoder.feature_info.channels()              # [64, 128, 256, 512]
        depths = [len(getattr(self.encoder, f"layer{i}")) for i in (1, 2, 3)]  # [3, 4, 6] for ResNet-34
        self.decoder = Decoder(channels, depths) if decoder else None
        self.rdam = (nn.ModuleList(RDAM(c, attention=rdam, kernel=rdam_kernel, order=attention_order)
                                   for c in channels[:3]) if decoder else None)
        sides = feature_sides(img_size)
        self.ac = nn.ModuleList(AC(i + 1, channels[i], sides[i], num_attrs, dropout) for i in range(K))
        self.lmim = nn.ModuleList(LMIM(c, hidden=lmim_hidden) for c in channels) if alpha > 0 else None
        self.sf = SF(K, num_attrs) if fusion else None
        for part in (self.decoder, self.rdam, self.ac):  # as in [28]; encoder: timm's, LMIM: torch's default
            for m in part.modules() if part is not None else ():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> dict:
        if x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            raise ValueError(f"BLAN was built for {self.img_size}x{self.img_size} inputs (its classifiers flatten, "
                             f"Table 2), got {tuple(x.shape[-2:])}: pass img_size= to models.create")
        blocks = self.encoder(x)                                # block_1..4: (B, 64, S/4, S/4) .. (B, 512, S/32, S/32)
        out = {"x": x}
        if self.decoder is not None:
            decoded, out["recon"] = self.decoder(blocks[3], [b.shape[-2:] for b in blocks[:3]], x.shape[-2:])
            f_attn = [r(e, d) for r, e, d in zip(self.rdam, blocks[:3], decoded)] + [blocks[3]]
        else:
            f_attn = list(blocks)                               # Table 4, indices 1-2: the encoder alone
        t, s = zip(*(ac(f) for ac, f in zip(self.ac, f_attn)))
        out["features"], out["t"] = f_attn, torch.stack(t, 1)  # K maps; (B, K, 512)
        out["level_logits"] = torch.stack(s, 1)                 # (B, K, A): s_1..s_K
        out["logits"] = self.sf(out["level_logits"]) if self.sf is not None else out["level_logits"].mean(1)
        return out

    def losses(self, out: dict, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. (8): cls_1..K, lmim_1..K, rec, sf (zero where a part is switched off) and total."""
        zero = out["logits"].new_zeros((), dtype=torch.float32)
        level = out["level_logits"]
        loss = {f"cls_{i + 1}": bce_per_attr(level[:, i], y).sum() for i in range(K)}  # eq. (4): sum over A
        use_lmim = self.lmim is not None and len(y) > 1         # a fake pair needs a second image
        for i in range(K):
            loss[f"lmim_{i + 1}"] = self.lmim[i](out["features"][i], out["t"][:, i]) if use_lmim else zero
        loss["rec"] = F.mse_loss(out["recon"].float(), out["x"].float()) if "recon" in out else zero  # eq. (1)
        loss["sf"] = bce_per_attr(out["logits"], y).sum() if self.sf is not None else zero  # eq. (7): sum over A
        loss["total"] = (sum(loss[f"cls_{i + 1}"] + self.alpha * loss[f"lmim_{i + 1}"] for i in range(K))
                         + self.beta * loss["rec"] + self.gamma * loss["sf"])
        return loss

    def fusion_parameters(self) -> list[nn.Parameter]:
        """W_s of the score fusion (empty when fusion=False)."""
        return list(self.sf.parameters()) if self.sf is not None else []

    def param_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """Everything at ``lr``; W_s in its own group at ``fusion_lr`` (1e-4, Sec. 4.2) without decay."""
        fusion = {id(p) for p in self.fusion_parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in fusion]
        groups = [{"params": rest, "lr": lr, "weight_decay": weight_decay}]
        own = [p for p in self.fusion_parameters() if p.requires_grad]
        return groups + ([{"params": own, "lr": self.fusion_lr, "weight_decay": 0.0}] if own else [])

    def freeze_all_but_fusion(self) -> None:
        """requires_grad=False everywhere but W_s: train the fusion alone, as a second stage."""
        fusion = {id(p) for p in self.fusion_parameters()}
        for p in self.parameters():
            p.requires_grad_(id(p) in fusion)

    def parameter_table(self) -> dict[str, int]:
        """Parameters per part; 'inference' leaves out the LMIM discriminators (training only)."""
        parts = {"encoder": self.encoder, "decoder": self.decoder, "rdam": self.rdam, "ac": self.ac,
                 "lmim": self.lmim, "sf": self.sf}
        table = {k: sum(p.numel() for p in m.parameters()) if m is not None else 0 for k, m in parts.items()}
        table["total"] = sum(table.values())
        table["inference"] = table["total"] - table["lmim"]
        return table


@register("blan")
def blan(alpha: float = 0.1, beta: float = 0.1, gamma: float = 1.0, backbone: str = "resnet34",
         pretrained: bool = False, weights: str | Path | None = None, img_size: int = 256, **kwargs) -> BLAN:
    """BLAN with eq. (8)'s weights: alpha (LMIM), beta (reconstruction), gamma (score fusion).

    Defaults follow the paper: ResNet-34, alpha = beta = 0.1 (Table 6), gamma = 1
    (Sec. 4.2), 256x256 inputs. Smaller: backbone="resnet18" or "resnet10t", width=0.25
    (a quarter of the channels), lmim_hidden=64. Other keywords (decoder, rdam, fusion,
    width, lmim_hidden, fusion_lr, rdam_kernel, attention_order, dropout) go to BLAN.
    """
    return BLAN(backbone=backbone, pretrained=pretrained, weights=weights, img_size=img_size,
                alpha=alpha, beta=beta, gamma=gamma, **kwargs)
