"""Datasets, transforms and the decode-once image cache.

Training never waits for JPEG decoding: every image of a split is decoded
once into a uint8 tensor (N, C, H, W), saved next to the data as ``.npy``
and reused; ``batches`` then samples, flips and normalises on the device
the cache lives on (the GPU in the gpu profile), and can shift each image by
a few pixels (``shift``: random translation, reflect-padded), a cheap
regulariser on small training sets. ``FaceDataset`` is the classic torch
``Dataset`` + torchvision transforms path, for other augmentations.
Used in notebooks 02-07.

A bad image (missing, empty, truncated, not an image, or not the size its
layout fixes, e.g. 178x218 in img_align_celeba/) stops decoding at once with
a ``BadImageError`` that names the file; ``skip_bad=True`` drops such images
instead and lists them. The saved cache is keyed by every file's size and
modification time, so a replaced image is decoded again.
"""
import hashlib
import os
import warnings
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
ALIGNED_SIZE = (178, 218)  # (W, H) of every image of CelebA's img_align_celeba/ (and of the generated data)


class BadImageError(ValueError):
    """An image file that cannot be decoded or has the wrong size; ``path`` names it."""

    def __init__(self, path: str | Path, problem: str, hint: str = "re-extract it from the CelebA archive"):
        self.path = Path(path)
        super().__init__(f"{path}: {problem}; {hint}")


SKIP_HINT = "or pass skip_bad=True to leave out bad images (they are listed)"


@dataclass
class ImageCache:
    """Decoded images of one split, ready for ``batches``.

    x: uint8 (N, C, H, W); y: uint8 (N, A) labels in {0,1}; ids: image file
    names; identity: int64 (N,), -1 where unknown; mean/std: per channel,
    on the 0-1 scale, used by ``batches`` to normalise; targets: None, or
    float (N, A) in [0, 1] that ``batches`` yields instead of the labels
    (soft targets: a teacher's probabilities, ``distill.py``).
    """
    x: torch.Tensor
    y: torch.Tensor
    ids: list[str]
    identity: np.ndarray
    attrs: list[str] = field(default_factory=lambda: list(ATTRIBUTES))
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    source: str = "synthetic"
    targets: torch.Tensor | None = None

    def __post_init__(self):
        if self.x.dtype != torch.uint8 or self.x.ndim != 4:
            raise ValueError(f"ImageCache.x must be uint8 (N, C, H, W), got {self.x.dtype} {tuple(self.x.shape)}")
        if len(self.x) != len(self.y) or len(self.y) != len(self.ids):
            raise ValueError(f"ImageCache sizes differ: x {len(self.x)}, y {len(self.y)}, ids {len(self.ids)}")
        if len(self.mean) != self.x.shape[1] or len(self.std) != self.x.shape[1]:
            raise ValueError(f"ImageCache has {self.x.shape[1]} channel(s) but mean/std for {len(self.mean)}")
        if self.y.shape[1] != len(self.attrs):
            raise ValueError(f"ImageCache.y has {self.y.shape[1]} columns but {len(self.attrs)} attrs")
        if self.targets is not None and (self.targets.shape != self.y.shape or not self.targets.is_floating_point()
                                         or bool((self.targets < 0).any() | (self.targets > 1).any())):
            raise ValueError(f"ImageCache.targets must be float {tuple(self.y.shape)} in [0, 1] like y, got "
                             f"{self.targets.dtype} {tuple(self.targets.shape)}")

    def __len__(self) -> int:
        return len(self.x)

    @property
    def img_size(self) -> int:
        return self.x.shape[-1]

    @property
    def channels(self) -> int:
        return self.x.shape[1]

    def to(self, device: str | torch.device) -> "ImageCache":
        """The same cache with x, y (and targets) on ``device`` (pinned first when going to CUDA)."""
        x, y, t = self.x, self.y, self.targets
        if torch.device(device).type == "cuda" and x.device.type == "cpu":
            x, y, t = x.pin_memory(), y.pin_memory(), t.pin_memory() if t is not None else None
        return self._replace(x=x.to(device, non_blocking=True), y=y.to(device, non_blocking=True),
                             targets=t.to(device, non_blocking=True) if t is not None else None)

    def subset(self, index: np.ndarray | list[int]) -> "ImageCache":
        """Rows ``index`` of the cache (a view of the tensors' data where possible)."""
        index = np.asarray(index, dtype=np.int64)
        t = torch.as_tensor(index, device=self.x.device)
        return self._replace(x=self.x[t], y=self.y[t], ids=[self.ids[i] for i in index],
                             identity=self.identity[index],
                             targets=self.targets[t.to(self.targets.device)] if self.targets is not None else None)

    def mirrored(self) -> "ImageCache":
        """The same faces flipped left to right (labels unchanged): test-time flip, a teacher's mirror view."""
        return self._replace(x=self.x.flip(-1))

    def select_attrs(self, attrs: list[str]) -> "ImageCache":
        """The same images with only the label columns ``attrs``."""
        cols = [self.attrs.index(a) for a in attrs]
        return self._replace(y=self.y[:, cols], attrs=list(attrs),
                             targets=self.targets[:, cols] if self.targets is not None else None)

    def _replace(self, **kw) -> "ImageCache":
        values = {f: getattr(self, f) for f in self.__dataclass_fields__}
        values.update(kw)
        return ImageCache(**values)


def batches(cache: ImageCache, batch_size: int, *, shuffle: bool = False, flip: bool = False,
            shift: int = 0, seed: int = 0, device: str | torch.device | None = None, drop_last: bool = False,
            part: tuple[int, int] = (0, 1)) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (x, y) batches: x float (B, C, H, W) normalised, y float (B, A): the labels, or the cache's
    soft ``targets`` when it has them.

    Indexing, the random horizontal flip, the random shift by up to ``shift``
    pixels each way (see ``translate``) and normalisation run on ``device``
    (default: where the cache is). The same ``seed`` gives the same order,
    flips and shifts, which is what makes a resumed run exact. ``part=(rank, world_size)``
    yields only that process's contiguous share of each batch (data-parallel
    training, see distributed.py).
    """
    device = torch.device(device) if device is not None else cache.x.device
    g = torch.Generator().manual_seed(seed)
    n = len(cache)
    order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    flips = torch.rand(n, generator=g) < 0.5 if flip else None
    if shift < 0 or (shift and 2 * shift >= min(cache.x.shape[-2:])):
        raise ValueError(f"shift={shift}: use 0 (off) or a pixel count below half the image side "
                         f"({min(cache.x.shape[-2:])} px here)")
    offsets = torch.randint(0, 2 * shift + 1, (n, 2), generator=g) if shift else None  # (dy, dx) into the padding
    mean = torch.tensor(cache.mean, device=device).view(1, -1, 1, 1) * 255
    std = torch.tensor(cache.std, device=device).view(1, -1, 1, 1) * 255
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        idx = order[start:start + batch_size].tensor_split(part[1])[part[0]]
        x = cache.x[idx.to(cache.x.device)].to(device, non_blocking=True)  # (B, C, H, W) uint8
        labels = cache.y if cache.targets is None else cache.targets
        y = labels[idx.to(labels.device)].to(device, non_blocking=True).float()  # (B, A)
        x = x.float()
        if flips is not None:
            f = flips[idx].to(device)
            x = torch.where(f.view(-1, 1, 1, 1), x.flip(-1), x)
        if offsets is not None:
            x = translate(x, offsets[idx].to(device), shift)
        yield (x - mean) / std, y


def translate(x: torch.Tensor, offsets: torch.Tensor, pad: int) -> torch.Tensor:
    """Each image of ``x`` (B, C, H, W) moved by its own offset: reflect-pad by ``pad`` on every side,
    then cut the (H, W) window whose top-left corner is ``offsets`` (B, 2) = (dy, dx) in [0, 2 * pad];
    (pad, pad) gives the image back unchanged."""
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), mode="reflect").permute(0, 2, 3, 1)  # (B, H+2p, W+2p, C)
    rows = offsets[:, 0, None] + torch.arange(h, device=x.device)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(w, device=x.device)  # (B, W)
    picked = padded[torch.arange(b, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return picked.permute(0, 3, 1, 2).contiguous()


def open_image(path: str | Path, mode: str, expect_size: tuple[int, int] | None = None,
               hint: str = "re-extract it from the CelebA archive") -> Image.Image:
    """The image at ``path`` fully decoded in PIL ``mode`` ("RGB", "L"); ``BadImageError`` naming the file
    when it is missing, empty, truncated, not an image, or not ``expect_size`` (W, H)."""
    try:
        with Image.open(path) as im:
            if expect_size is not None and im.size != tuple(expect_size):
                raise BadImageError(path, f"{im.size[0]}x{im.size[1]} pixels where this layout has "
                                    f"{expect_size[0]}x{expect_size[1]} (landmarks and crops would miss the face)",
                                    hint)
            return im.convert(mode)  # decodes every pixel: a truncated file fails here
    except BadImageError:
        raise
    except FileNotFoundError as err:
        raise BadImageError(path, "file not found", hint) from err
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        size = os.path.getsize(path) if os.path.exists(path) else 0
        raise BadImageError(path, f"cannot be decoded ({size} bytes; {err})", hint) from err


def decode_image(path: str | Path, img_size: int, gray: bool = False, square: bool = True,
                 expect_size: tuple[int, int] | None = None) -> np.ndarray:
    """One JPEG -> uint8 (C, img_size, img_size): centre square crop, then resize.
    ``expect_size``: the (W, H) the file must have (``BadImageError`` otherwise)."""
    im = open_image(path, "L" if gray else "RGB", expect_size, f"re-extract it from the CelebA archive, {SKIP_HINT}")
    if square:
        w, h = im.size
        s = min(w, h)
        left, top = (w - s) // 2, (h - s) // 2
        im = im.crop((left, top, left + s, top + s))
    im = im.resize((img_size, img_size), Image.BILINEAR)
    a = np.asarray(im, dtype=np.uint8)
    return a[None] if gray else a.transpose(2, 0, 1)


def decode_all(paths: list[Path], img_size: int, gray: bool = False, square: bool = True,
               workers: int = 4, desc: str = "decode", expect_size: tuple[int, int] | None = None,
               bad: list[int] | None = None) -> np.ndarray:
    """Decode many images in threads (PIL releases the GIL): uint8 (N, C, S, S).

    The first bad image raises ``BadImageError``; with a list ``bad`` its index
    is appended there instead and its row stays zero."""
    return map_images(lambda p: decode_image(p, img_size, gray, square, expect_size), paths,
                      (1 if gray else 3, img_size, img_size), workers, desc, bad)


def map_images(fn, items: list, shape: tuple[int, ...], workers: int = 4, desc: str = "decode",
               bad: list[int] | None = None) -> np.ndarray:
    """``fn(item)`` for every item, in ``workers`` threads with a progress bar, into one uint8 (N, *shape) array.

    At most 64 items per thread are in flight, so the memory beyond the array does not grow with
    len(items). A ``BadImageError`` stops at once, unless ``bad`` is a list: then the item's index is
    appended to it and its row stays zero."""
    def run(item):
        try:
            return fn(item)
        except BadImageError as err:
            if bad is None:
                raise
            return err

    out = np.zeros((len(items), *shape), np.uint8)
    chunk = 64 * workers
    with ThreadPoolExecutor(workers) as pool, tqdm(total=len(items), desc=desc, leave=False) as bar:
        for start in range(0, len(items), chunk):
            for i, a in enumerate(pool.map(run, items[start:start + chunk]), start):
                if isinstance(a, BadImageError):
                    bad.append(i)
                else:
                    out[i] = a
                bar.update()
    return out


def build_cache(table: pd.DataFrame, image_dir: str | Path, img_size: int, *, gray: bool = False,
                square: bool = True, cache_dir: str | Path | None = None, source: str = "synthetic",
                attrs: list[str] | None = None, workers: int = 4, expect_size: tuple[int, int] | None = None,
                skip_bad: bool = False) -> ImageCache:
    """Decode the images of ``table`` (a ``read_celeba`` table) into an ImageCache.

    With ``cache_dir`` the decoded array is saved as ``.npy`` under a name that
    hashes the image list, every file's size and modification time and the
    settings, so the second call only loads it. ``expect_size`` (W, H): the
    size every image must have. A bad image raises ``BadImageError``; with
    ``skip_bad`` its row is left out and a warning lists it (nothing is saved then).
    """
    attrs = list(attrs or ATTRIBUTES)
    paths = [Path(image_dir) / i for i in table["image_id"]]
    key = f"{Path(image_dir).resolve()}|{img_size}|{gray}|{square}|{expect_size}|{files_key(paths)}"
    bad: list[int] = []
    x = cached_array(cache_dir, f"cache_{img_size}{'g' if gray else ''}", key,
                     lambda: decode_all(paths, img_size, gray, square, workers, expect_size=expect_size,
                                        bad=bad if skip_bad else None), save_if=lambda: not bad)
    if bad:
        warnings.warn(f"skipped {len(bad)} of {len(paths)} bad images in {image_dir} (skip_bad=True): "
                      f"{', '.join(paths[i].name for i in bad[:20])}{' ...' if len(bad) > 20 else ''}; "
                      "re-extract them to use them (the decoded cache is not saved meanwhile)", stacklevel=2)
        keep = np.setdiff1d(np.arange(len(paths)), bad)
        x, table = x[keep], table.iloc[keep]
    return cache_from_table(x, table, attrs, gray, source)


def files_key(paths: list[Path]) -> str:
    """A hash of every file's name, size and modification time (one ``stat`` each, no read): changes when
    an image is replaced, rewritten or removed."""
    h = hashlib.sha1()
    for p in paths:
        try:
            st = os.stat(p)
            h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}|".encode())
        except OSError:  # missing: decoding will name it
            h.update(f"{p.name}:missing|".encode())
    return h.hexdigest()


def cached_array(cache_dir: str | Path | None, prefix: str, key: str, compute, save_if=None) -> np.ndarray:
    """``compute()``, saved as ``<cache_dir>/<prefix>_<hash of key>.npy`` (written atomically)
    and loaded from there next time; no cache_dir: just ``compute()``. A folder that cannot be
    written warns and the array is only returned; ``save_if()`` false: not saved."""
    if cache_dir is None:
        return compute()
    npy = Path(cache_dir) / f"{prefix}_{hashlib.sha1(key.encode()).hexdigest()[:16]}.npy"
    if npy.exists():
        return np.load(npy)
    writable = _writable(npy.parent)
    x = compute()
    if writable and (save_if is None or save_if()):
        tmp = npy.with_suffix(f".{os.getpid()}.tmp.npy")  # one per process: data-parallel ranks may all write it
        try:
            np.save(tmp, x)
            tmp.replace(npy)
        except OSError as err:  # a full disk: the run goes on without the cache
            tmp.unlink(missing_ok=True)
            warnings.warn(f"could not save the decoded images to {npy} ({err}); continuing without the cache",
                          stacklevel=3)
    return x


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (created if absent); warns when not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_test_{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError as err:
        warnings.warn(f"the cache folder {folder} is not writable ({err}): decoding without saving the cache, "
                      "so every run decodes the images again; make the folder writable to decode only once",
                      stacklevel=4)
        return False


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
        return self.transform(open_image(self.paths[i], "RGB")), self.y[i]
