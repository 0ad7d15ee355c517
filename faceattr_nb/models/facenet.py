"""FaceNet: a tiny multi-task CNN for 36x36 grayscale face crops.

I. Oussaid, "Face Attributes Detection using Multi-task Deep Learning",
internship report (second project, supervised by E. Marchetto; unpublished,
no year given; see the README's Papers section).

Section II and the appendix: a shared trunk of two blocks
conv(f1) -> BN -> ReLU -> max-pool 2 and conv(f2) -> BN -> ReLU -> max-pool 2
("same" padding, 3x3 kernels), flatten (1296 = 16·9·9 for f2 = 16), one dense
layer of d units -> BN -> ReLU shared by all tasks, then one 2-way softmax
head per attribute (the flatten fixes the input side: ``img_size``, 36 by default;
another side raises a ValueError saying so). With (f1, f2, d) = (4, 16, 16) and six attributes it has
21,732 parameters in Keras' count: 21,660 trainable plus 72 BatchNorm moving
means/variances, which PyTorch keeps as buffers.

The loss is the report's weighted sum of categorical cross-entropies,
Loss = 10·L_gender + 5·L_eyeglasses + 5·L_beard + 5·L_bald + L_mustache + L_hat;
attributes it does not name weigh 1 (the 40-attribute widening of notebook 02).
Used in notebooks 02 and 07.
"""
import torch
import torch.nn as nn

from faceattr_nb.attributes import FACENET_ATTRIBUTES, check_attrs
from faceattr_nb.models.losses import softmax_ce_per_attr, two_way_to_binary
from faceattr_nb.models.registry import register

REPORT_LOSS_WEIGHTS = {"Male": 10.0, "Eyeglasses": 5.0, "No_Beard": 5.0, "Bald": 5.0,
                       "Mustache": 1.0, "Wearing_Hat": 1.0}


def conv_block(c_in: int, c_out: int, kernel_size: int = 3) -> nn.Sequential:
    """conv ("same") -> BN -> ReLU -> 2x2 max-pool: halves H and W."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size, padding="same"), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class FaceNet(nn.Module):
    """The report's multi-task network: shared trunk, one 2-way head per attribute."""

    def __init__(self, attributes: list[str], f1: int = 4, f2: int = 16, d: int = 16,
                 kernel_size: int = 3, img_size: int = 36, loss_weights: dict[str, float] | None = None):
        super().__init__()
        self.attrs, self.img_size = check_attrs(attributes), img_size
        self.trunk = nn.Sequential(conv_block(1, f1, kernel_size), conv_block(f1, f2, kernel_size))
        flat = f2 * (img_size // 4) ** 2  # 1296 for f2=16 at 36x36
        self.shared = nn.Sequential(nn.Flatten(), nn.Linear(flat, d), nn.BatchNorm1d(d), nn.ReLU(inplace=True))
        self.heads = nn.ModuleList(nn.Linear(d, 2) for _ in self.attrs)
        weights = {**REPORT_LOSS_WEIGHTS, **(loss_weights or {})}
        self.register_buffer("loss_weights", torch.tensor([weights.get(a, 1.0) for a in self.attrs]),
                             persistent=False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if tuple(x.shape[-3:]) != (1, self.img_size, self.img_size):
            raise ValueError(f"FaceNet was built for 1x{self.img_size}x{self.img_size} gray crops (its dense layer "
                             f"flattens the {self.img_size // 4}x{self.img_size // 4} maps), got "
                             f"{tuple(x.shape[-3:])}: pass img_size= to models.create, and gray crops")
        h = self.shared(self.trunk(x))  # (B, 1, 36, 36) -> (B, f2, 9, 9) -> (B, d)
        logits2 = torch.stack([head(h) for head in self.heads], dim=1)  # (B, A, 2)
        return {"logits": two_way_to_binary(logits2), "logits2": logits2}

    def losses(self, out: dict, y: torch.Tensor) -> dict[str, torch.Tensor]:
        ce = softmax_ce_per_attr(out["logits2"], y)  # (A,)
        named = {f"ce_{a}": c for a, c in zip(self.attrs, ce)} if len(self.attrs) <= 8 else {}
        return {**named, "total": (self.loss_weights * ce).sum()}


@register("facenet")
def facenet(attributes: list[str] | None = None, f1: int = 4, f2: int = 16, d: int = 16,
            kernel_size: int = 3, img_size: int = 36, loss_weights: dict[str, float] | None = None) -> FaceNet:
    """The report's FaceNet; default: its six attributes and best grid point (4, 16, 16)."""
    return FaceNet(attributes or FACENET_ATTRIBUTES, f1, f2, d, kernel_size, img_size, loss_weights)
