"""The generated CelebA: label statistics, official file layout, torchvision compatibility, speed."""
import re
import time

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from threadpoolctl import threadpool_limits

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data import synthetic

N_IMAGES = 120
A = {a: i for i, a in enumerate(ATTRIBUTES)}


@pytest.fixture(scope="module")
def celeba(tmp_path_factory):
    """(root, seconds of CPU time) of one generated dataset, inside a ``celeba`` folder as torchvision wants."""
    root = tmp_path_factory.mktemp("synth") / "celeba"
    start = time.process_time()
    synthetic.generate(root, N_IMAGES, seed=0, images_per_identity=10, progress=False)
    return root, time.process_time() - start


@pytest.fixture(scope="module")
def table(celeba):
    """The five files read back with pandas: one row per image."""
    root, _ = celeba
    attr = pd.read_csv(root / "list_attr_celeba.txt", sep=r"\s+", skiprows=1)
    part = pd.read_csv(root / "list_eval_partition.txt", sep=r"\s+", header=None, index_col=0)[1]
    ident = pd.read_csv(root / "identity_CelebA.txt", sep=r"\s+", header=None, index_col=0)[1]
    bbox = pd.read_csv(root / "list_bbox_celeba.txt", sep=r"\s+", skiprows=1, index_col=0)
    lm = pd.read_csv(root / "list_landmarks_align_celeba.txt", sep=r"\s+", skiprows=1)
    return {"attr": attr, "partition": part, "identity": ident, "bbox": bbox, "landmarks": lm}


@pytest.fixture(scope="module")
def labels():
    return synthetic.sample_labels(60_000, seed=0)


def test_rates_match_celeba_train(labels):
    rates = synthetic.load_stats()["rates"]
    for name, y in (("labels", labels.labels), ("drawn", labels.drawn)):
        diff = y.mean(0) - rates
        worst = int(np.abs(diff).argmax())
        assert np.abs(diff).max() <= 0.03, f"{name}: {ATTRIBUTES[worst]} rate off by {diff[worst]:+.3f}"


@pytest.mark.parametrize("a, b", [("Male", "Heavy_Makeup"), ("Male", "Wearing_Lipstick"), ("Goatee", "No_Beard"),
                                  ("Mustache", "No_Beard"), ("Smiling", "High_Cheekbones"),
                                  ("Smiling", "Mouth_Slightly_Open")])
def test_strong_correlations_keep_sign_and_size(labels, a, b):
    real = synthetic.load_stats()["phi"][A[a], A[b]]
    synth = np.corrcoef(labels.labels[:, A[a]], labels.labels[:, A[b]])[0, 1]
    assert np.sign(synth) == np.sign(real)
    assert abs(synth - real) < 0.1, f"phi({a}, {b}) = {synth:.2f}, CelebA {real:.2f}"


def test_all_correlations_close(labels):
    real = synthetic.load_stats()["phi"]
    with threadpool_limits(1):
        synth = np.corrcoef(labels.labels.T.astype(np.float64))
    assert np.abs(synth - real).mean() < 0.03


def test_constraints_hold_in_drawn_labels(labels):
    y = labels.drawn
    bald, male = y[:, A["Bald"]] == 1, y[:, A["Male"]] == 1
    assert not y[bald][:, [A["Bangs"], A["Black_Hair"], A["Blond_Hair"], A["Brown_Hair"], A["Wearing_Hat"]]].any()
    beard = y[:, [A["Goatee"], A["Mustache"], A["Sideburns"]]].any(1)
    assert not y[beard, A["No_Beard"]].any()
    assert y[~male, A["No_Beard"]].all() and not y[male, A["Wearing_Lipstick"]].any()
    assert y[:, [A["Black_Hair"], A["Blond_Hair"], A["Brown_Hair"]]].sum(1).max() == 1
    assert not (y[:, A["Straight_Hair"]] & y[:, A["Wavy_Hair"]]).any()


def test_label_noise_is_the_asked_amount(labels):
    rates = synthetic.load_stats()["rates"]
    expected = 2 * 0.02 * np.minimum(rates, 1 - rates)            # minority flips + as many majority flips
    observed = (labels.labels != labels.drawn).mean(0)
    assert np.allclose(observed, expected, atol=0.004)
    clean = synthetic.sample_labels(1000, seed=0, label_noise=0.0)
    assert (clean.labels == clean.drawn).all()


def test_identity_persistent_attributes(labels):
    male = labels.drawn[:, A["Male"]].reshape(-1, 20)             # 20 images per identity
    smiling = labels.drawn[:, A["Smiling"]].reshape(-1, 20)
    mixed = lambda y: ((y.min(1) == 0) & (y.max(1) == 1)).mean()  # noqa: E731
    assert mixed(male) < 0.15 < mixed(smiling)


def test_sample_labels_deterministic():
    a, b = synthetic.sample_labels(500, seed=3), synthetic.sample_labels(500, seed=3)
    assert np.array_equal(a.labels, b.labels) and np.array_equal(a.drawn, b.drawn)
    assert not np.array_equal(a.labels, synthetic.sample_labels(500, seed=4).labels)


def test_generate_deterministic_bytes(tmp_path):
    paths = [synthetic.generate(tmp_path / name, 12, seed=seed, images_per_identity=4, progress=False)
             for name, seed in (("a", 5), ("b", 5), ("c", 6))]
    files = sorted(p.relative_to(paths[0]) for p in paths[0].rglob("*") if p.is_file())
    assert len(files) == 12 + 6
    for f in files:
        assert (paths[0] / f).read_bytes() == (paths[1] / f).read_bytes(), f
    assert (paths[0] / "img_align_celeba/000001.jpg").read_bytes() != (paths[2] / "img_align_celeba/000001.jpg"
                                                                       ).read_bytes()


def test_official_text_layout(celeba):
    root, _ = celeba
    names = [f"{k:06d}.jpg" for k in range(1, N_IMAGES + 1)]
    raw = {f: (root / f).read_bytes().decode() for f in synthetic.ANNOTATION_FILES}
    assert all(text.endswith("\r\n") and "\n" not in text.replace("\r\n", "") for text in raw.values())
    lines = {f: text.split("\r\n")[:-1] for f, text in raw.items()}
    attr = lines["list_attr_celeba.txt"]
    assert attr[0] == str(N_IMAGES) and attr[1] == " ".join(ATTRIBUTES) + " "
    assert all(re.fullmatch(r"\d{6}\.jpg( (-1| 1)){40}", row) for row in attr[2:])
    assert lines["list_landmarks_align_celeba.txt"][1].split() == synthetic.LANDMARK_NAMES.split()
    assert lines["list_bbox_celeba.txt"][1] == "image_id x_1 y_1 width height"
    for f, skip, cols in (("list_eval_partition.txt", 0, 1), ("identity_CelebA.txt", 0, 1),
                          ("list_bbox_celeba.txt", 2, 4), ("list_landmarks_align_celeba.txt", 2, 10)):
        rows = [row.split() for row in lines[f][skip:]]
        assert [r[0] for r in rows] == names and {len(r) for r in rows} == {cols + 1}, f
    assert sorted(p.name for p in (root / "img_align_celeba").iterdir()) == names
    with Image.open(root / "img_align_celeba" / names[0]) as im:
        assert im.format == "JPEG" and im.mode == "RGB" and im.size == (178, 218)


def test_partitions_by_identity_and_contiguous(table):
    part, ident = table["partition"], table["identity"]
    assert set(part) == {0, 1, 2} and part.is_monotonic_increasing        # train, then val, then test
    assert (ident.groupby(ident).transform(lambda s: part[s.index].nunique()) == 1).all()
    assert part.value_counts(normalize=True)[0] >= 0.6


def test_landmarks_inside_bbox_and_image(table):
    lm, bbox = table["landmarks"].to_numpy(), table["bbox"].to_numpy()
    xs, ys = lm[:, 0::2], lm[:, 1::2]                                     # (N, 5)
    x0, y0, w, h = (bbox[:, [i]] for i in range(4))
    assert ((xs >= x0) & (xs < x0 + w) & (ys >= y0) & (ys < y0 + h)).all()
    assert (bbox[:, :2] >= 0).all() and (x0 + w <= 178).all() and (y0 + h <= 218).all()
    assert (np.abs(ys[:, :2].mean(0) - 111) < 8).all()                    # eyes near y = 111, as aligned CelebA


@pytest.mark.parametrize("split", ["train", "valid", "test", "all"])
def test_torchvision_celeba_reads_it(celeba, table, monkeypatch, split):
    from torchvision.datasets import CelebA
    monkeypatch.setattr(CelebA, "_check_integrity", lambda self: True)     # md5s of the real files
    root, _ = celeba
    ds = CelebA(root.parent, split=split, target_type=["attr", "identity", "bbox", "landmarks"])
    keep = table["partition"].to_numpy() == {"train": 0, "valid": 1, "test": 2, "all": None}.get(split)
    if split == "all":
        keep[:] = True
    assert ds.filename == list(table["partition"].index[keep]) and ds.attr_names[:40] == ATTRIBUTES
    assert torch.equal(ds.attr, torch.tensor((table["attr"].to_numpy()[keep] + 1) // 2))
    assert torch.equal(ds.identity[:, 0], torch.tensor(table["identity"].to_numpy()[keep]))
    assert torch.equal(ds.bbox, torch.tensor(table["bbox"].to_numpy()[keep]))
    assert torch.equal(ds.landmarks_align, torch.tensor(table["landmarks"].to_numpy()[keep]))
    image, (attr, identity, bbox, landmarks) = ds[0]
    assert image.size == (178, 218) and attr.shape == (40,) and bbox.shape == (4,) and landmarks.shape == (10,)


def test_second_call_returns_at_once_and_foreign_folder_refused(celeba, tmp_path):
    root, _ = celeba
    before = (root / "list_attr_celeba.txt").stat().st_mtime_ns
    start = time.perf_counter()
    assert synthetic.generate(root, N_IMAGES, seed=0, images_per_identity=10, progress=False) == root
    assert time.perf_counter() - start < 1.0 and (root / "list_attr_celeba.txt").stat().st_mtime_ns == before
    (tmp_path / "list_attr_celeba.txt").write_text("202599\r\n")
    with pytest.raises(FileExistsError, match="did not write"):
        synthetic.generate(tmp_path, 5, progress=False)


def test_speed_at_least_100_images_per_second(celeba):
    _, cpu_seconds = celeba
    rate = N_IMAGES / cpu_seconds
    print(f"synthetic CelebA: {rate:.0f} images/s (CPU time of one process, 178x218)")
    assert rate >= 100, f"only {rate:.0f} images/s"


@pytest.mark.parametrize("split", ["train", "valid", "test"])
def test_our_reader_agrees_with_torchvision_on_a_generated_folder(celeba, monkeypatch, split):
    from torchvision.datasets import CelebA

    from faceattr_nb.data import celeba as reader
    monkeypatch.setattr(CelebA, "_check_integrity", lambda self: True)     # only the md5 check is bypassed
    root, _ = celeba
    ds = CelebA(root.parent, split=split, target_type=["attr", "identity", "bbox", "landmarks"])
    ours = reader.split(reader.read_celeba(root.parent), split)            # torchvision's nesting, read by us
    assert ours["image_id"].tolist() == ds.filename
    assert torch.equal(torch.tensor(ours[ATTRIBUTES].to_numpy(np.int64)), ds.attr)
    assert torch.equal(torch.tensor(ours["identity"].to_numpy(np.int64)), ds.identity[:, 0])
    assert torch.equal(torch.tensor(ours[reader.BBOX].to_numpy(np.int64)), ds.bbox)
    assert torch.equal(torch.tensor(ours[reader.LANDMARKS].to_numpy(np.int64)), ds.landmarks_align)


@pytest.fixture(scope="module")
def domain_b(tmp_path_factory):
    """The same dataset settings as ``celeba``, drawn as domain b."""
    root = tmp_path_factory.mktemp("synth_b")
    return synthetic.generate(root, N_IMAGES, seed=0, images_per_identity=10, progress=False, domain="b")


def _eyes(root):
    lm = pd.read_csv(root / "list_landmarks_align_celeba.txt", sep=r"\s+", skiprows=1).to_numpy(float)
    left, right = lm[:, 0:2], lm[:, 2:4]
    dist = np.linalg.norm(right - left, axis=1)                                         # inter-ocular distance
    tilt = np.degrees(np.arctan2(right[:, 1] - left[:, 1], right[:, 0] - left[:, 0]))  # head roll
    return (left + right) / 2, dist, tilt


def test_domain_b_differs_in_crop_and_pose(celeba, domain_b):
    (mid_a, dist_a, tilt_a), (mid_b, dist_b, tilt_b) = _eyes(celeba[0]), _eyes(domain_b)
    assert dist_b.mean() < 0.85 * dist_a.mean()                   # a looser crop: a smaller face
    assert mid_b[:, 1].mean() > mid_a[:, 1].mean() + 8            # eyes lower in the frame
    assert mid_b.std(0).min() > 2 * mid_a.std(0).max()            # not aligned: eyes wander
    assert tilt_b.std() > 2 * tilt_a.std()                        # heads turned more
    pix_a = np.stack([np.asarray(Image.open(p)) for p in sorted((celeba[0] / "img_align_celeba").glob("*.jpg"))])
    pix_b = np.stack([np.asarray(Image.open(p)) for p in sorted((domain_b / "img_align_celeba").glob("*.jpg"))])
    assert np.abs(pix_a.mean(0) - pix_b.mean(0)).mean() > 5      # the mean images differ too


def test_domain_b_keeps_the_label_statistics(celeba, domain_b):
    rates = synthetic.load_stats()["rates"]
    read = lambda root: pd.read_csv(root / "list_attr_celeba.txt", sep=r"\s+", skiprows=1)[ATTRIBUTES]  # noqa: E731
    y_a, y_b = (read(r).to_numpy() > 0 for r in (celeba[0], domain_b))
    assert not np.array_equal(y_a, y_b)                           # another seed: other people
    drawn_b = synthetic.sample_labels(N_IMAGES, synthetic.domain_seed(0, "b"), images_per_identity=10).labels
    sort = lambda y: y[np.lexsort(y.T)]  # noqa: E731  (rows in any file order)
    np.testing.assert_array_equal(sort(y_b.astype(np.uint8)), sort(drawn_b.astype(np.uint8)))  # domain a's model
    big = synthetic.sample_labels(20_000, seed=synthetic.domain_seed(0, "b")).labels
    assert np.abs(big.mean(0) - rates).max() < 0.03               # the label model is domain a's
    with pytest.raises(ValueError, match="domain"):
        synthetic.domain_seed(0, "c")
