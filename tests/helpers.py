"""Small learnable image caches for tests (no files, no generator)."""
import numpy as np
import torch

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data.loaders import ImageCache


def toy_cache(n: int = 64, size: int = 16, channels: int = 3, attrs: list[str] | None = None,
              seed: int = 0, source: str = "synthetic") -> ImageCache:
    """Images whose brightness in one quadrant encodes each label: a model can learn them."""
    attrs = list(attrs or ATTRIBUTES)
    rng = np.random.default_rng(seed)
    y = (rng.random((n, len(attrs))) < 0.3).astype(np.uint8)
    x = rng.integers(0, 80, (n, channels, size, size), dtype=np.uint8)
    h = size // 2
    x[:, :, :h, :h] += (y[:, :1] * 150).astype(np.uint8)[:, :, None, None]  # label 0 -> top-left
    x[:, :, h:, h:] += (y[:, 1:2] * 150).astype(np.uint8)[:, :, None, None]  # label 1 -> bottom-right
    return ImageCache(x=torch.from_numpy(x), y=torch.from_numpy(y), ids=[f"{i + 1:06d}.jpg" for i in range(n)],
                      identity=np.arange(n) // 4, attrs=attrs, source=source,
                      mean=(0.5,) * channels, std=(0.25,) * channels)
