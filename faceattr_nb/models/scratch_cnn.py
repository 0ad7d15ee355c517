"""The report's from-scratch CNN: ten convolutions, five max-pools, three dense layers.

Lee and Sike, "Unveiling Facial Attributes with Convolutional Neural
Networks", student project report of an introductory deep-learning course
(unpublished, no institution or year given), section 4.1: "1,711,624
(6.53 MB) trainable parameters, with ten conv2D layers, five maxpool2D
layers, and three dense layers (including the output layer). It included
no drop-out layers"; binary cross entropy on 40 sigmoid outputs; early
stopping with min_delta 0.01 and patience 5.

The report gives only those counts, not the layout. This file is one layout
that has exactly 1,711,624 trainable parameters at the report's 150x150x3
input (many others do too; the report's own may differ):

* five blocks of [3x3 conv "same" -> ReLU] x 2 -> 2x2 max-pool, widths
  32, 32, 64, 64, 128 (379,360 parameters); 150 -> 75 -> 37 -> 18 -> 9 -> 4;
* flatten 4 x 4 x 128 = 2048 -> dense 512 -> ReLU -> dense 512 -> ReLU
  -> dense 40 (1,049,088 + 262,656 + 20,520 parameters).

Keras' Flatten fixes the dense layer to the 4x4 map of a 150-pixel input; an
adaptive average pool to 4x4 before it (the identity at 150 pixels) keeps
the same 1,711,624 parameters at any input size. At the smoke profile's 48
pixels the last map is 1x1 and the pool repeats it, so the first dense layer
sees 128 distinct numbers there. No BatchNorm, no dropout, as in the report.
Weights start as Keras starts them (Glorot uniform, zero biases): with
PyTorch's default initialisation this ten-layer ReLU stack without
BatchNorm stayed at the label frequencies (2,400 generated faces at 64 px,
Adam 1e-3, seed 0, 4 epochs: validation loss 0.422, balanced accuracy 0.54),
with Keras' it learned (0.357 and 0.59).
Inputs are ImageNet-normalised (the course's contract) where the report
scaled pixels to 0-1. Used in notebook 03.
"""
import torch
import torch.nn as nn

from faceattr_nb.models.losses import bce_per_attr
from faceattr_nb.models.registry import register

REPORT_PARAMS = 1_711_624  # section 4.1


def conv_block(c_in: int, c_out: int) -> nn.Sequential:
    """Two 3x3 "same" convolutions with ReLU, then a 2x2 max-pool: halves H and W (floor)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(c_out, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2))


class ScratchCNN(nn.Module):
    """Section 4.1: 10 conv, 5 max-pool, 3 dense layers; 1,711,624 parameters with the defaults."""

    def __init__(self, widths: tuple[int, ...] = (32, 32, 64, 64, 128), dense: tuple[int, ...] = (512, 512),
                 grid: int = 4, num_attrs: int = 40):
        super().__init__()
        chans = (3, *widths)
        self.features = nn.Sequential(*(conv_block(a, b) for a, b in zip(chans[:-1], chans[1:])))
        self.pool = nn.AdaptiveAvgPool2d(grid)  # the identity for a 150-pixel input (4x4 maps)
        sizes = (widths[-1] * grid * grid, *dense)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(a, b), nn.ReLU(inplace=True)]
        self.dense = nn.Sequential(nn.Flatten(), *layers)
        self.fc = nn.Linear(sizes[-1], num_attrs)
        for m in self.modules():  # Keras' defaults, the report's framework: Glorot uniform, zero bias
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.pool(self.features(x))  # (B, 3, 150, 150) -> (B, 128, 4, 4)
        h = self.dense(h)                # (B, 2048) -> (B, 512)
        return {"logits": self.fc(h)}    # (B, A)

    def losses(self, out: dict, y: torch.Tensor) -> dict[str, torch.Tensor]:
        bce = bce_per_attr(out["logits"], y).mean()
        return {"bce": bce, "total": bce}


@register("scratch_cnn")
def scratch_cnn(widths: tuple[int, ...] = (32, 32, 64, 64, 128), dense: tuple[int, ...] = (512, 512),
                grid: int = 4, num_attrs: int = 40) -> ScratchCNN:
    """The report's from-scratch CNN (this course's layout of its counts)."""
    return ScratchCNN(tuple(widths), tuple(dense), grid, num_attrs)
