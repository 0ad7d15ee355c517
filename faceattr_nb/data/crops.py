"""Face crops and x4 augmentation of the FaceNet report.

I. Oussaid, "Face Attributes Detection using Multi-task Deep Learning",
internship report (supervised by E. Marchetto), section I "Facing dataset".
Two crops, each then turned into a 36x36 grayscale image ("surveillance
camera" size), and the x4 augmentation of the same section.

Type A, "face focus" (I.1), nose landmark, ε = 0.5, small = ε − 0.2,
grand = ε + 0.2, as printed::

    x_min = x_nose·small          x_max = x_nose·grand
    y_min = y_nose·(small − 0.2)  y_max = y_nose·(grand − 0.2)

Read literally, an aligned 178x218 face with the nose at (88, 134) gives
x ∈ [26, 62], y ∈ [13, 67]: the upper-left corner (background and hair),
never a face. Read with the nose coordinates doubled (2·x_nose is about the
image width when the nose is central, so "x_nose·small" is a fraction of the
image), the same formulas give x ∈ [0.6, 1.4]·x_nose, y ∈ [0.2, 1.0]·y_nose:
a box centred on the nose horizontally, from the forehead down to the nose,
where it ends. Mouth and chin fall outside, which is exactly why the report
finds that the type-A crop "hides the beards" (its Fig. 5). ``crop_box_a``
implements this reading.

Type B, "larger vision" (I.2), a face box (x_1, y_1, w, h) with centre
(x_c, y_c), β = 0.9, shift = h // 16, as printed::

    y ∈ [y_c − β·h, y_c + β·h + shift],   x ∈ [x_c − β·w, x_c + β·w]

The report also names α = 0.7, but α appears in none of its formulas, so it
is not a parameter here. The report's boxes came from the Quividi face
detector; CelebA's list_bbox_celeba boxes are in the coordinates of the
in-the-wild photos, not the aligned images, so on aligned images the box is
derived from the five aligned landmarks (``face_box_from_landmarks``, a
documented heuristic, not a detector).

Boxes that leave the image are padded: "edge" repeats the border pixels
(default), "zeros" fills black. The crop is converted to grayscale (PIL "L",
ITU-R 601 luma) and resized (antialiased bilinear) to size x size, ignoring
the aspect ratio as the report's reshape does. Augmentation (I, last
paragraph): original, horizontal flip, 2x2 average blur, blur of the flip.
Used in notebook 02 (FaceNet).
"""
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image

from faceattr_nb.data.celeba import BBOX, LANDMARKS
from faceattr_nb.data.loaders import cached_array, files_key, map_images, open_image

KINDS = ("A", "B")
PADS = ("edge", "zeros")
BOX_SOURCES = ("auto", "landmarks", "bbox")
EPSILON = 0.5  # type A
BETA = 0.9     # type B

# Approximate landmark positions on CelebA's aligned 178x218 images (the
# alignment puts every face there within a few pixels); a fallback for aligned
# images whose list_landmarks_align_celeba file is absent. Typical values, not
# a mean measured over the file.
ALIGNED_TEMPLATE: dict[str, int] = {
    "lefteye_x": 69, "lefteye_y": 111, "righteye_x": 107, "righteye_y": 111, "nose_x": 88, "nose_y": 134,
    "leftmouth_x": 72, "leftmouth_y": 152, "rightmouth_x": 106, "rightmouth_y": 152,
}


def crop_box_a(nose_x: np.ndarray, nose_y: np.ndarray, eps: float = EPSILON) -> np.ndarray:
    """Type-A boxes (N, 4) int as (x0, y0, x1, y1), x1/y1 exclusive, from the nose (module docstring)."""
    small, grand = eps - 0.2, eps + 0.2
    nx, ny = 2 * np.asarray(nose_x, float), 2 * np.asarray(nose_y, float)  # the doubled-nose reading
    return _as_box(nx * small, ny * (small - 0.2), nx * grand, ny * (grand - 0.2))


def crop_box_b(x_1: np.ndarray, y_1: np.ndarray, width: np.ndarray, height: np.ndarray,
               beta: float = BETA) -> np.ndarray:
    """Type-B boxes (N, 4) int as (x0, y0, x1, y1) from face boxes, as printed in the report."""
    w, h = np.asarray(width, float), np.asarray(height, float)
    xc, yc = np.asarray(x_1) + w / 2, np.asarray(y_1) + h / 2
    shift = np.asarray(height) // 16
    return _as_box(xc - beta * w, yc - beta * h, xc + beta * w, yc + beta * h + shift)


def _as_box(x0, y0, x1, y1) -> np.ndarray:
    box = np.round(np.stack([x0, y0, x1, y1], axis=-1)).astype(np.int64)
    box[..., 2:] = np.maximum(box[..., 2:], box[..., :2] + 1)  # at least one pixel
    return box


def face_box_from_landmarks(table: pd.DataFrame) -> pd.DataFrame:
    """A face box (x_1, y_1, width, height) int per row, from the five landmarks.

    Heuristic: centred midway between the eye centre and the mouth centre;
    width = 2.2 x the eye distance, height = 2.2 x the eye-to-mouth distance.
    On aligned CelebA (eyes ~38 px apart, mouth ~41 px below) that is an
    ~84x90 box from the eyebrows to the chin, like a face detector's.
    """
    _require(table, LANDMARKS, "a face box from landmarks")
    p = {c: table[c].to_numpy(float) for c in LANDMARKS}
    eye = np.stack([(p["lefteye_x"] + p["righteye_x"]) / 2, (p["lefteye_y"] + p["righteye_y"]) / 2])
    mouth = np.stack([(p["leftmouth_x"] + p["rightmouth_x"]) / 2, (p["leftmouth_y"] + p["rightmouth_y"]) / 2])
    d_eye = np.hypot(p["righteye_x"] - p["lefteye_x"], p["righteye_y"] - p["lefteye_y"])
    d_mouth = np.hypot(*(mouth - eye))
    (xc, yc), w, h = (eye + mouth) / 2, 2.2 * d_eye, 2.2 * d_mouth
    box = np.round(np.stack([xc - w / 2, yc - h / 2, w, h], axis=1)).astype(np.int32)
    return pd.DataFrame(box, columns=BBOX, index=table.index)


def with_template_landmarks(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with ALIGNED_TEMPLATE's landmark columns (only for aligned 178x218 images)."""
    return table.assign(**{c: np.int32(v) for c, v in ALIGNED_TEMPLATE.items()})


def _require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table]
    if missing:
        raise ValueError(
            f"{what} needs the columns {missing}, which this table lacks; read CelebA with "
            "list_landmarks_align_celeba.* (or list_bbox_celeba.* for type B on in-the-wild photos), or, for "
            "aligned 178x218 images without them, use crops.with_template_landmarks(table)")


def crop_boxes(table: pd.DataFrame, kind: str = "A", box: str = "auto") -> np.ndarray:
    """The crop box (N, 4) int (x0, y0, x1, y1) of every row of a ``read_celeba`` table.

    ``box`` (type B only): "landmarks" derives the face box from the aligned
    landmarks, "bbox" uses the x_1, y_1, width, height columns, "auto" the
    landmarks when present (they match the aligned images) else the bbox.
    """
    _check_choice("kind", kind, KINDS)
    _check_choice("box", box, BOX_SOURCES)
    if kind == "A":
        _require(table, ["nose_x", "nose_y"], "a type-A crop")
        return crop_box_a(table["nose_x"], table["nose_y"])
    if box == "landmarks" or (box == "auto" and all(c in table for c in LANDMARKS)):
        faces = face_box_from_landmarks(table)
    else:
        _require(table, BBOX, "a type-B crop")
        faces = table[BBOX]
    return crop_box_b(*(faces[c] for c in BBOX))


def _check_choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"unknown {name} {value!r}; choose one of {', '.join(map(repr, valid))}")


def cut(gray: np.ndarray, box: np.ndarray, pad: str = "edge") -> np.ndarray:
    """The pixels of ``box`` (x0, y0, x1, y1) in a (H, W) image, padded where the box leaves it."""
    _check_choice("pad", pad, PADS)
    H, W = gray.shape
    x0, y0, x1, y1 = (int(v) for v in box)
    rows, cols = np.arange(y0, y1), np.arange(x0, x1)
    out = gray[np.ix_(rows.clip(0, H - 1), cols.clip(0, W - 1))]  # (h, w), edge pixels repeated
    if pad == "zeros":
        out[(rows < 0) | (rows >= H)] = 0
        out[:, (cols < 0) | (cols >= W)] = 0
    return out


def crop_image(path: str | Path, box: np.ndarray, size: int = 36, pad: str = "edge",
               expect_size: tuple[int, int] | None = None) -> np.ndarray:
    """One image file -> its crop as grayscale uint8 (size, size); ``expect_size``: the (W, H) the
    file must have for its landmarks to hold (``loaders.BadImageError`` otherwise)."""
    gray = np.asarray(open_image(path, "L", expect_size))  # (H, W)
    patch = Image.fromarray(cut(gray, box, pad))
    return np.asarray(patch.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def crop_faces(table: pd.DataFrame, image_dir: str | Path, kind: str = "A", size: int = 36,
               workers: int = 4, pad: str = "edge", box: str = "auto",
               cache_dir: str | Path | None = None, expect_size: tuple[int, int] | None = None) -> np.ndarray:
    """Type-A or type-B crops of every image of ``table``: uint8 (N, 1, size, size).

    ``table`` is a ``read_celeba`` table with landmarks (or face boxes); see
    ``crop_boxes`` for ``box``. Images are read in ``workers`` threads. With
    ``cache_dir`` the crops are saved as ``.npy`` (keyed by the images with their
    sizes and modification times, boxes and settings) and the next call only loads
    them. ``expect_size`` (W, H): the size every image must have (aligned: 178x218).
    """
    boxes = crop_boxes(table, kind, box)
    paths = [Path(image_dir) / i for i in table["image_id"]]

    def crop_all() -> np.ndarray:
        return map_images(lambda pb: crop_image(pb[0], pb[1], size, pad, expect_size), list(zip(paths, boxes)),
                          (1, size, size), workers, f"crop {kind}")

    boxes_hash = hashlib.sha1(np.ascontiguousarray(boxes).tobytes()).hexdigest()
    key = f"{Path(image_dir).resolve()}|{size}|{pad}|{expect_size}|{files_key(paths)}|{boxes_hash}"
    return cached_array(cache_dir, f"crops_{kind}{size}", key, crop_all)


def blur_2x2(x: torch.Tensor) -> torch.Tensor:
    """2x2 average filter, same size: out[i, j] = mean(x[i-1:i+1, j-1:j+1]) on (N, C, H, W).

    The anchor and the mirrored border (row -1 reads row 1) follow OpenCV's
    ``cv2.blur(img, (2, 2))``; uint8 input is rounded back to uint8.
    """
    y = F.avg_pool2d(F.pad(x.float(), (1, 0, 1, 0), mode="reflect"), 2, stride=1)  # (N, C, H, W)
    return y.round().to(x.dtype) if x.dtype == torch.uint8 else y


def augment_x4(x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """The report's x4 augmentation: (N, C, H, W) -> (4N, C, H, W) as blocks
    [original; horizontal flip; 2x2 blur; 2x2 blur of the flip]. Labels: ``repeat_x4``."""
    t = torch.as_tensor(x)
    flip = t.flip(-1)
    out = torch.cat([t, flip, blur_2x2(t), blur_2x2(flip)])  # (4N, C, H, W)
    return out.numpy() if isinstance(x, np.ndarray) else out


def repeat_x4(y: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Labels (N, ...) -> (4N, ...) in the block order of ``augment_x4``."""
    return torch.cat([y] * 4) if isinstance(y, torch.Tensor) else np.concatenate([y] * 4)
