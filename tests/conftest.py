"""Shared test fixtures: a tiny fake CelebA written in the real file layouts."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.models import backbones


@pytest.fixture(autouse=True)
def _random_warning_due_again():
    """Each test is a new session for the RANDOM-weights warning, which a session says once per backbone."""
    backbones._SAID_RANDOM.clear()

LANDMARK_NAMES = ["lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
                  "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y"]
FAKE_SIZE = (36, 44)  # (W, H) of the fake JPEGs: CelebA's 178x218 aspect, tiny


def _fake_annotations(n: int, seed: int) -> dict[str, np.ndarray]:
    """Raw values as CelebA stores them: attributes in {-1, 1}, partitions, identities, boxes."""
    rng = np.random.default_rng(seed)
    template = np.array([14, 22, 22, 22, 18, 27, 15, 31, 21, 31])  # landmarks on a 36x44 face
    return {
        "ids": np.array([f"{i + 1:06d}.jpg" for i in range(n)]),
        "attr": rng.choice([-1, 1], size=(n, len(ATTRIBUTES))),
        "partition": np.repeat([0, 1, 2], [n - 2 * (n // 4), n // 4, n // 4]),
        "identity": 100 + np.arange(n) // 3,
        "landmarks": template + rng.integers(-2, 3, size=(n, 10)),
        "bbox": np.column_stack([rng.integers(0, 200, n), rng.integers(0, 100, n),
                                 rng.integers(80, 300, n), rng.integers(100, 400, n)]),
    }


def _write_official(folder: Path, a: dict, eol: str) -> None:
    def write(name, lines):
        (folder / name).write_text(eol.join(lines) + eol, newline="")
    n, ids = len(a["ids"]), a["ids"]
    write("list_attr_celeba.txt", [str(n), " ".join(ATTRIBUTES) + " "]
          + [f"{i} " + " ".join(f"{v:2d}" for v in row) for i, row in zip(ids, a["attr"])])
    write("list_eval_partition.txt", [f"{i} {p}" for i, p in zip(ids, a["partition"])])
    write("identity_CelebA.txt", [f"{i} {p}" for i, p in zip(ids, a["identity"])])
    write("list_landmarks_align_celeba.txt", [str(n), " ".join(LANDMARK_NAMES)]
          + [f"{i} " + " ".join(f"{v:4d}" for v in row) for i, row in zip(ids, a["landmarks"])])
    write("list_bbox_celeba.txt", [str(n), "image_id x_1 y_1 width height"]
          + [f"{i} " + " ".join(f"{v:5d}" for v in row) for i, row in zip(ids, a["bbox"])])


def _write_kaggle(folder: Path, a: dict) -> None:
    def write(name, header, values):
        rows = [",".join([i, *map(str, row)]) for i, row in zip(a["ids"], values)]
        (folder / name).write_text("\n".join([",".join(["image_id", *header]), *rows]) + "\n")
    write("list_attr_celeba.csv", ATTRIBUTES, a["attr"])
    write("list_eval_partition.csv", ["partition"], a["partition"][:, None])
    write("list_landmarks_align_celeba.csv", LANDMARK_NAMES, a["landmarks"])
    write("list_bbox_celeba.csv", ["x_1", "y_1", "width", "height"], a["bbox"])


def _write_images(image_dir: Path, ids: np.ndarray, seed: int, size: tuple[int, int] = FAKE_SIZE) -> None:
    image_dir.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in ids:
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(image_dir / i, quality=90)


def fake_celeba(root: str | Path, n: int = 12, layout: str = "official", *, crlf: bool = True,
                images: bool = True, seed: int = 0, size: tuple[int, int] = FAKE_SIZE) -> Path:
    """Write a CelebA with ``n`` images (``size`` = (W, H)) into ``root`` and return the path to read it from.

    layout: "official" (.txt files + img_align_celeba/, CRLF line endings like
    the real files unless ``crlf=False``), "torchvision" (the same under
    root/celeba/) or "kaggle" (.csv files, no identity file, images under
    img_align_celeba/img_align_celeba/). Partitions: n/2 train, n/4 val, n/4 test.
    The same ``seed`` gives the same annotations in every layout.
    """
    root = Path(root)
    if layout not in ("official", "torchvision", "kaggle"):
        raise ValueError(f"unknown layout {layout!r}; choose 'official', 'torchvision' or 'kaggle'")
    folder = root / "celeba" if layout == "torchvision" else root
    folder.mkdir(parents=True, exist_ok=True)
    a = _fake_annotations(n, seed)
    if layout == "kaggle":
        _write_kaggle(folder, a)
        image_dir = folder / "img_align_celeba" / "img_align_celeba"
    else:
        _write_official(folder, a, "\r\n" if crlf else "\n")
        image_dir = folder / "img_align_celeba"
    if images:
        _write_images(image_dir, a["ids"], seed, size)
    return root


@pytest.fixture
def fake_celeba_factory(tmp_path):
    """``fake_celeba`` bound to a fresh tmp_path: factory(layout="kaggle", n=12) -> root."""
    return lambda **kw: fake_celeba(tmp_path / kw.get("layout", "official"), **kw)
