"""Datasets, transforms and the decode-once image cache.

Training never waits for JPEG decoding: every image of a split is decoded
once into a uint8 tensor (N, C, H, W), saved next to the data as ``.npy``
and reused; ``batches`` then samples, flips and normalises on the device
the cache lives on (the GPU in the gpu profile). ``FaceDataset`` is the
classic torch ``Dataset`` + torchvision transforms path, for augmentations
beyond flipping. Used in notebooks 02-07.
"""
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision.transforms import v2
from tqdm.auto import tqdm

from faceattr_nb.attributes import ATTRIBUTES

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
GRAY_MEAN, GRAY_STD = (0.5,), (0.25,)


@dataclass
class ImageCache:
    """Decoded images of one split, ready for ``batches``.

    x: uint8 (N, C, H, W); y: uint8 (N, A) labels in {0,1}; ids: image file
    names; identity: int64 (N,), -1 where unknown; mean/std: per channel,
    on the 0-1 scale, used by ``batches`` to normalise.
    """
    x: torch.Tensor
    y: torch.Tensor
    ids: list[str]
    identity: np.ndarray
    attrs: list[str] = field(default_factory=lambda: list(ATTRIBUTES))
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    source: str = "synthetic"

    def __post_init__(self):
        if self.x.dtype != torch.uint8 or self.x.ndim != 4:
            raise ValueError(f"ImageCache.x must be uint8 (N, C, H, W), got {self.x.dtype} {tuple(self.x.shape)}")
        if len(self.x) != len(self.y) or len(self.y) != len(self.ids):
            raise ValueError(f"ImageCache sizes differ: x {len(self.x)}, y {len(self.y)}, ids {len(self.ids)}")
        if len(self.mean) != self.x.shape[1] or len(self.std) != self.x.shape[1]:
            raise ValueError(f"ImageCache has {self.x.shape[1]} channel(s) but mean/std for {len(self.mean)}")
        if self.y.shape[1] != len(self.attrs):
            raise ValueError(f"ImageCache.y has {self.y.shape[1]} columns but {len(self.attrs)} attrs")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def img_size(self) -> int:
        return self.x.shape[-1]

    @property
    def channels(self) -> int:
        return self.x.shape[1]

    def to(self, device: str | torch.device) -> "ImageCache":
        """The same cache with x and y on ``device`` (pinned first when going to CUDA)."""
        x, y = self.x, self.y
        if torch.device(device).type == "cuda" and x.device.type == "cpu":
            x, y = x.pin_memory(), y.pin_memory()
        return self._replace(x=x.to(device, non_blocking=True), y=y.to(device, non_blocking=True))

    def subset(self, index: np.ndarray | list[int]) -> "ImageCache":
        """Rows ``index`` of the cache (a view of the tensors' data where possible)."""
        index = np.asarray(index, dtype=np.int64)
        t = torch.as_tensor(index, device=self.x.device)
        return self._replace(x=self.x[t], y=self.y[t], ids=[self.ids[i] for i in index],
                             identity=self.identity[index])

    def select_attrs(self, attrs: list[str]) -> "ImageCache":
        """The same images with only the label columns ``attrs``."""
        cols = [self.attrs.index(a) for a in attrs]
        return self._replace(y=self.y[:, cols], attrs=list(attrs))

    def _replace(self, **kw) -> "ImageCache":
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update(kw)
        return ImageCache(**values)


def batches(cache: ImageCache, batch_size: int, *, shuffle: bool = False, flip: bool = False,
            seed: int = 0, device: str | torch.device | None = None, drop_last: bool = False,
            part: tuple[int, int] = (0, 1)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) batches: x float (B, C, H, W) normalised, y float (B, A).

    Indexing, the random horizontal flip and normalisation run on ``device``
    (default: where the cache is). The same ``seed`` gives the same order and
    flips, which is what makes a resumed run exact. ``part=(rank, world_size)``
    yields only that process's contiguous share of each batch (data-parallel
    training, see distributed.py).
    """
    device = torch.device(device) if device is not None else cache.x.device
    g = torch.Generator().manual_seed(seed)
    n = len(cache)
    order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    flips = torch.rand(n, generator=g) < 0.5 if flip else None
    mean = torch.tensor(cache.mean, device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor(cache.std, device=device).view(1, -1, 1, 1) * 255
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size].tensor_split(part[1])[part[0]]
        x = cache.x[idx.to(cache.x.device)].to(device, non_blocking=True)  # (B, C, H, W) uint8
        y = cache.y[idx.to(cache.y.device)].to(device, non_blocking=True).float()  # (B, A)
        x = x.float()
        if flips is not None:
            f = flips[idx].to(device)
            x = torch.where(f.view(-1, 1, 1, 1), x.flip(-1), x)
        yield (x - mean) / std, y


def decode_image(path: str | Path, img_size: int, gray: bool = False,
                 square: bool = True) -> np.ndarray:
    """One JPEG -> uint8 (C, img_size, img_size): centre square crop, then resize."""
    with Image.open(path) as im:
        im = im.convert("L" if gray else "RGB")
        if square:
            w, h = im.size
            s = min(w, h)
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s))
        im = im.resize((img_size, img_size), Image.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
    return a[None] if gray else a.transpose(2, 0, 1)


def decode_all(paths: list[Path], img_size: int, gray: bool = False, square: bool = True,
               workers: int = 4, desc: str = "decode") -> np.ndarray:
    """Decode many images in threads (PIL releases the GIL): uint8 (N, C, S, S)."""
    return map_images(lambda p: decode_image(p, img_size, gray, square), paths,
                      (1 if gray else 3, img_size, img_size), workers, desc)


def map_images(fn, items: list, shape: tuple[int, ...], workers: int = 4, desc: str = "decode") -> np.ndarray:
    """``fn(item)`` for every item, in ``workers`` threads with a progress bar, into one uint8 (N, *shape) array."""
    out = np.empty((len(items), *shape), np.uint8)
    chunk = 64 * workers  # items in flight: the memory beyond ``out`` does not grow with len(items)
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(items), desc=desc, leave=False) as bar:
        for start in range(0, len(items), chunk):
            for i, a in enumerate(pool.map(fn, items[start:start + chunk]), start):
                out[i] = a
                bar.update()
    return out


def build_cache(table: pd.DataFrame, image_dir: str | Path, img_size: int, *, gray: bool = False,
                square: bool = True, cache_dir: str | Path | None = None, source: str = "synthetic",
                attrs: list[str] | None = None, workers: int = 4) -> ImageCache:
    """Decode the images of ``table`` (a ``read_celeba`` table) into an ImageCache.

    With ``cache_dir`` the decoded array is saved as ``.npy`` under a name that
    hashes the image list and settings, so the second call only loads it.
    """
    attrs = list(attrs or ATTRIBUTES)
    ids = table["image_id"].tolist()
    x = cached_array(cache_dir, f"cache_{img_size}{'g' if gray else ''}",
                     f"{Path(image_dir).resolve()}|{img_size}|{gray}|{square}|{','.join(ids)}",
                     lambda: decode_all([Path(image_dir) / i for i in ids], img_size, gray, square, workers))
    return cache_from_table(x, table, attrs, gray, source)


def cached_array(cache_dir: str | Path | None, prefix: str, key: str, compute) -> np.ndarray:
    """``compute()``, saved as ``<cache_dir>/<prefix>_<hash of key>.npy`` (written atomically)
    and loaded from there next time; no cache_dir: just ``compute()``."""
    if cache_dir is None:
        return compute()
    npy = Path(cache_dir) / f"{prefix}_{hashlib.sha1(key.encode()).hexdigest()[:16]}.npy"
    if npy.exists():
        return np.load(npy)
    x = compute()
    npy.parent.mkdir(parents=True, exist_ok=True)
    tmp = npy.with_suffix(f".{os.getpid()}.tmp.npy")  # one per process: data-parallel ranks may all write it
    np.save(tmp, x)
    tmp.replace(npy)
    return x


def cache_from_table(x: np.ndarray, table: pd.DataFrame, attrs: list[str], gray: bool, source: str) -> ImageCache:
    """An ImageCache of decoded images ``x`` (N, C, S, S) uint8 with the label rows of ``table``."""
    identity = table["identity"].to_numpy(np.int64) if "identity" in table else np.full(len(table), -1)
    return ImageCache(
        x=torch.from_numpy(np.ascontiguousarray(x)), y=torch.from_numpy(table[list(attrs)].to_numpy(np.uint8).copy()),
        ids=table["image_id"].tolist(), identity=identity, attrs=list(attrs),
        mean=GRAY_MEAN if gray else IMAGENET_MEAN, std=GRAY_STD if gray else IMAGENET_STD, source=source)


def train_transform(img_size: int) -> v2.Compose:
    """torchvision transforms for training from files: square crop, resize, flip, normalise."""
    return v2.Compose([
        v2.ToImage(), v2.RandomResizedCrop(img_size, scale=(0.8, 1.0), ratio=(0.9, 1.1), antialias=True),
        v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def eval_transform(img_size: int) -> v2.Compose:
    """Evaluation transforms: centre square crop, resize, normalise."""
    return v2.Compose([
        v2.ToImage(), v2.Resize(img_size, antialias=True), v2.CenterCrop(img_size),
        v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


class FaceDataset(Dataset):
    """Images of a ``read_celeba`` table read from files: (x float (C,H,W), y float (A,))."""

    def __init__(self, table: pd.DataFrame, image_dir: str | Path, transform=None,
                 attrs: list[str] | None = None):
        self.paths = [Path(image_dir) / i for i in table["image_id"]]
        self.y = torch.from_numpy(table[list(attrs or ATTRIBUTES)].to_numpy(np.float32).copy())
        self.transform = transform or eval_transform(64)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        with Image.open(self.paths[i]) as im:
            x = self.transform(im.convert("RGB"))
        return x, self.y[i]
