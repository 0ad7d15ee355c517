"""The FaceNet report's crops and x4 augmentation, on hand-computed examples and a tiny fake CelebA."""
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from faceattr_nb.data import celeba, crops
from tests.conftest import fake_celeba

# A symmetric face: eyes 20 px apart at y=50, mouth corners at y=70, nose at (50, 60).
FACE = {"lefteye_x": 40, "lefteye_y": 50, "righteye_x": 60, "righteye_y": 50, "nose_x": 50, "nose_y": 60,
        "leftmouth_x": 42, "leftmouth_y": 70, "rightmouth_x": 58, "rightmouth_y": 70}


def test_type_a_box_reads_the_nose_doubled():
    # x in [0.6, 1.4] * x_nose, y in [0.2, 1.0] * y_nose: 0.6*88 = 52.8, 1.4*88 = 123.2, 0.2*134 = 26.8
    assert crops.crop_box_a([88, 50], [134, 100]).tolist() == [[53, 27, 123, 134], [30, 20, 70, 100]]


def test_type_b_box_as_printed():
    # centre (90, 140), beta*w = 90, beta*h = 108, shift = 120 // 16 = 7
    assert crops.crop_box_b([40], [80], [100], [120]).tolist() == [[0, 32, 180, 255]]


def test_face_box_from_landmarks():
    # eye centre (50, 50), mouth centre (50, 70): centre (50, 60), width = height = 2.2 * 20 = 44
    box = crops.face_box_from_landmarks(pd.DataFrame([FACE]))
    assert box.to_numpy().tolist() == [[28, 38, 44, 44]] and list(box.columns) == celeba.BBOX


def test_crop_boxes_choose_their_source():
    table = pd.DataFrame([{**FACE, "x_1": 40, "y_1": 80, "width": 100, "height": 120}])
    assert crops.crop_boxes(table, "A").tolist() == crops.crop_box_a([50], [60]).tolist()
    from_landmarks = crops.crop_box_b([28], [38], [44], [44]).tolist()
    assert crops.crop_boxes(table, "B").tolist() == from_landmarks  # auto: landmarks match aligned images
    assert crops.crop_boxes(table, "B", box="landmarks").tolist() == from_landmarks
    assert crops.crop_boxes(table, "B", box="bbox").tolist() == [[0, 32, 180, 255]]
    assert crops.crop_boxes(table[celeba.BBOX + ["nose_x"]], "B").tolist() == [[0, 32, 180, 255]]


def test_cut_pads_with_edge_or_zeros():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    box = np.array([-1, -1, 2, 2])
    assert crops.cut(gray, box, "edge").tolist() == [[0, 0, 1], [0, 0, 1], [4, 4, 5]]
    assert crops.cut(gray, box, "zeros").tolist() == [[0, 0, 0], [0, 0, 1], [0, 4, 5]]
    assert crops.cut(gray, np.array([1, 1, 3, 3])).tolist() == [[5, 6], [9, 10]]
    assert gray.tolist() == np.arange(12).reshape(3, 4).tolist()  # the image itself is untouched


def test_crop_image_of_the_whole_image_is_its_gray_version(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "face.png")
    out = crops.crop_image(tmp_path / "face.png", np.array([0, 0, 40, 40]), size=40)
    assert np.array_equal(out, np.asarray(Image.fromarray(rgb).convert("L")))


@pytest.mark.parametrize("kind", crops.KINDS)
def test_crop_faces_shapes(tmp_path, kind):
    root = fake_celeba(tmp_path, n=8)
    table = celeba.read_celeba(root)
    x = crops.crop_faces(table, celeba.image_dir(root), kind=kind, workers=2)
    assert x.shape == (8, 1, 36, 36) and x.dtype == np.uint8 and x.std() > 0
    assert crops.crop_faces(table.iloc[:3], celeba.image_dir(root), kind=kind, size=20).shape == (3, 1, 20, 20)


def test_crops_are_cached_per_kind_and_boxes(tmp_path, monkeypatch):
    root = fake_celeba(tmp_path, n=6)
    table, folder, cache = celeba.read_celeba(root), celeba.image_dir(root), tmp_path / "cache"
    a = crops.crop_faces(table, folder, kind="A", workers=1, cache_dir=cache)
    b = crops.crop_faces(table, folder, kind="B", workers=1, cache_dir=cache)
    assert len(list(cache.glob("crops_*.npy"))) == 2 and not np.array_equal(a, b)
    monkeypatch.setattr(crops, "crop_image", lambda *a, **k: pytest.fail("decoded again"))
    assert np.array_equal(crops.crop_faces(table, folder, kind="A", workers=1, cache_dir=cache), a)
    moved = table.assign(nose_x=table["nose_x"] + 4)  # other boxes: other crops, not the cached ones
    with pytest.raises(pytest.fail.Exception, match="decoded again"):
        crops.crop_faces(moved, folder, kind="A", workers=1, cache_dir=cache)


def test_template_landmarks_make_aligned_crops_possible(tmp_path):
    root = fake_celeba(tmp_path, n=4)
    table = celeba.read_celeba(root).drop(columns=celeba.LANDMARKS)
    with pytest.raises(ValueError, match=r"needs the columns \['nose_x', 'nose_y'\].*with_template_landmarks"):
        crops.crop_faces(table, celeba.image_dir(root), kind="A")
    filled = crops.with_template_landmarks(table)
    assert filled["nose_x"].tolist() == [88] * 4 and "nose_x" not in table
    assert crops.crop_boxes(filled, "A")[0].tolist() == [53, 27, 123, 134]


def test_blur_is_a_2x2_mean():
    x = torch.arange(0, 36, 4, dtype=torch.uint8).reshape(1, 1, 3, 3)  # [[0, 4, 8], [12, 16, 20], [24, 28, 32]]
    out = crops.blur_2x2(x)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert out[0, 0, 1, 1] == (0 + 4 + 12 + 16) / 4  # out[i, j] = mean(x[i-1:i+1, j-1:j+1])
    assert out[0, 0, 0, 0] == (16 + 12 + 4 + 0) / 4  # border: row/column -1 mirror row/column 1
    assert torch.equal(out[..., 1:, 1:], F.avg_pool2d(x.float(), 2, stride=1).round().byte())


def test_augment_x4_blocks_and_labels():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (3, 1, 36, 36), dtype=np.uint8)
    y = rng.integers(0, 2, (3, 40), dtype=np.uint8)
    ax, ay = crops.augment_x4(x), crops.repeat_x4(y)
    assert isinstance(ax, np.ndarray) and ax.shape == (12, 1, 36, 36) and ax.dtype == np.uint8 and ay.shape == (12, 40)
    blur = crops.blur_2x2(torch.from_numpy(x)).numpy()
    flip_blur = crops.blur_2x2(torch.from_numpy(x[..., ::-1].copy())).numpy()
    for k, block in enumerate([x, x[..., ::-1], blur, flip_blur]):
        assert np.array_equal(ax[3 * k:3 * k + 3], block)  # image i of block k comes from x[i] ...
        assert np.array_equal(ay[3 * k:3 * k + 3], y)      # ... and keeps y[i]
    tx = crops.augment_x4(torch.from_numpy(x))
    assert isinstance(tx, torch.Tensor) and np.array_equal(tx.numpy(), ax)
    assert torch.equal(crops.repeat_x4(torch.from_numpy(y)), torch.from_numpy(ay))


@pytest.mark.parametrize("call, message", [
    (lambda t: crops.crop_boxes(t, kind="C"), "unknown kind 'C'; choose one of 'A', 'B'"),
    (lambda t: crops.crop_boxes(t, kind="B", box="detector"), "unknown box 'detector'; choose one of 'auto'"),
    (lambda t: crops.cut(np.zeros((4, 4), np.uint8), np.array([0, 0, 2, 2]), pad="mirror"), "unknown pad 'mirror'"),
    (lambda t: crops.crop_boxes(t[["nose_x", "nose_y"]], kind="B", box="bbox"), r"needs the columns \['x_1'"),
])
def test_bad_options_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call(pd.DataFrame([FACE]))
