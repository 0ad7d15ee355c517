"""LFWA reader (data/lfwa.py) on tiny .mat files written here in LFWA's layout."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.io import savemat

from faceattr_nb import config
from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data import lfwa, splits

PEOPLE = {"Aaron_Eckhart": 1, "Abel_Pacheco": 3, "Ana_Guevara": 2, "Bill_Clinton": 4, "Zico": 2, "Yao_Ming": 3}


def fake_lfwa(root, *, minus_one=True, attr_names=True, transpose=False, label_key="label", train_key=None,
              images=True, seed=0):
    """LFWA's two .mat files (1-based MATLAB indices, Windows separators) and its image tree; returns
    (names, labels 0/1 in ATTRIBUTES order, train rows, test rows), rows 0-based."""
    rng = np.random.default_rng(seed)
    names = [f"{p}\\{p}_{k:04d}.jpg" for p, n in PEOPLE.items() for k in range(1, n + 1)]
    y = (rng.random((len(names), 40)) < 0.4).astype(np.uint8)
    perm = rng.permutation(40)  # the file's columns in another order, named by AttrName
    stored = (2 * y.astype(float) - 1 if minus_one else y.astype(float))[:, perm]
    mat = {label_key: stored.T if transpose else stored, "name": np.array(names, dtype=object)}
    if attr_names:
        mat["AttrName"] = np.array([ATTRIBUTES[i].replace("_", " ") for i in perm], dtype=object)
    savemat(root / "lfw_att_40.mat", mat)
    people = list(PEOPLE)
    test_people = {people[1], people[4]}
    test = [i for i, n in enumerate(names) if n.split("\\")[0] in test_people]
    train = [i for i in range(len(names)) if i not in test]
    savemat(root / "indices_train_test.mat", {train_key or "indices_img_train": np.array(train, float)[:, None] + 1,
                                              "indices_img_test": np.array(test, float)[:, None] + 1})
    if images:
        for n in names:
            path = root / "lfw" / n.replace("\\", "/")
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(path)
    return names, y, np.array(train), np.array(test)


def test_reads_the_celeba_table(tmp_path):
    names, y, train, test = fake_lfwa(tmp_path)
    table = lfwa.read_lfwa(tmp_path, val_fraction=0.25)
    assert list(table.columns) == ["image_id", *ATTRIBUTES, "partition", "identity"]
    assert table["image_id"].tolist() == [n.replace("\\", "/") for n in names]  # relative paths, / separators
    assert all(table[a].dtype == np.uint8 for a in ATTRIBUTES)
    np.testing.assert_array_equal(table[ATTRIBUTES].to_numpy(), y)  # -1/1 -> 0/1, AttrName order undone
    assert table["partition"].dtype == np.int8 and table["identity"].dtype == np.int32
    np.testing.assert_array_equal(np.flatnonzero(table["partition"] == 2), test)  # the published test half
    np.testing.assert_array_equal(np.flatnonzero(table["partition"] != 2), train)
    person = table["image_id"].str.split("/").str[0]
    assert (table.groupby("identity").apply(lambda g: person[g.index].nunique(), include_groups=False) == 1).all()
    val_people = set(person[table["partition"] == 1])
    assert len(val_people) == 1  # 25 % of the 4 training people, whole people
    assert not val_people & set(person[table["partition"] == 0])


def test_validation_people_are_a_seeded_draw(tmp_path):
    fake_lfwa(tmp_path)
    a, b = (lfwa.read_lfwa(tmp_path, val_fraction=0.5, seed=s)["partition"] for s in (0, 0))
    pd.testing.assert_series_equal(a, b)
    assert (lfwa.read_lfwa(tmp_path, val_fraction=0.0)["partition"] != 1).all()


def test_variants_0_1_labels_transposed_no_attr_names_other_keys(tmp_path):
    _, y, train, _ = fake_lfwa(tmp_path, minus_one=False, transpose=True, attr_names=False, label_key="labels",
                               train_key="train_idx")
    table = lfwa.read_lfwa(tmp_path, val_fraction=0.0)
    # without AttrName the columns are taken in CelebA's order (here the file's permuted ones)
    assert table[ATTRIBUTES].to_numpy().sum() == y.sum()
    np.testing.assert_array_equal(np.flatnonzero(table["partition"] == 0), train)


def test_missing_files_are_all_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="lfw_att_40.mat, indices_train_test.mat, an image folder"):
        lfwa.read_lfwa(tmp_path)
    fake_lfwa(tmp_path)
    (tmp_path / "lfw" / "Zico" / "Zico_0002.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 of 15 LFWA images are missing.*Zico/Zico_0002.jpg"):
        lfwa.read_lfwa(tmp_path)


def test_wrong_shapes_and_values_say_what_is_wrong(tmp_path):
    fake_lfwa(tmp_path)
    good = lfwa.load_mat(tmp_path / "lfw_att_40.mat")
    savemat(tmp_path / "lfw_att_40.mat", {**good, "label": good["label"][:, :39]})
    with pytest.raises(ValueError, match=r"shape \(15, 39\), expected \(images, 40\)"):
        lfwa.read_lfwa(tmp_path)
    savemat(tmp_path / "lfw_att_40.mat", {**good, "name": good["name"][:-1]})
    with pytest.raises(ValueError, match="15 label rows but 14 image names"):
        lfwa.read_lfwa(tmp_path)
    savemat(tmp_path / "lfw_att_40.mat", {**good, "label": good["label"] * 2})
    with pytest.raises(ValueError, match="expected 0/1 or -1/1"):
        lfwa.read_lfwa(tmp_path)
    savemat(tmp_path / "lfw_att_40.mat", {k: v for k, v in good.items() if k != "label"})
    with pytest.raises(KeyError, match="no label matrix: looked for label, labels"):
        lfwa.read_lfwa(tmp_path)


def test_indices_are_matlab_1_based_and_checked(tmp_path):
    _, _, train, test = fake_lfwa(tmp_path)
    rows = lfwa.read_indices(tmp_path / "indices_train_test.mat", 15)
    np.testing.assert_array_equal(rows["train"], train)  # 1-based in the file, 0-based here
    path = tmp_path / "indices_train_test.mat"
    savemat(path, {"indices_img_train": np.array([1, 16.0]), "indices_img_test": np.array([2.0])})
    with pytest.raises(ValueError, match=r"train index 16 is outside 1\.\.15"):
        lfwa.read_indices(path, 15)
    savemat(path, {"indices_img_train": np.array([0, 1.0]), "indices_img_test": np.array([2.0])})
    with pytest.raises(ValueError, match="one_based=False"):
        lfwa.read_indices(path, 15)
    np.testing.assert_array_equal(lfwa.read_indices(path, 15, one_based=False)["train"], [0, 1])
    savemat(path, {"indices_img_train": np.array([1, 2.0]), "indices_img_test": np.array([2.0])})
    with pytest.raises(ValueError, match="in both train and test"):
        lfwa.read_indices(path, 15)


def test_config_and_splits_load_lfwa(tmp_path, monkeypatch):
    fake_lfwa(tmp_path)
    monkeypatch.setattr(splits, "CACHE_DIR", tmp_path / "cache")
    setup = config.resolve(profile="smoke", data=tmp_path, runs_dir=tmp_path / "runs")
    assert setup.source == "lfwa"
    caches = splits.load_splits(setup, img_size=16)
    assert set(caches) == {"train", "val", "test"}
    assert sum(len(c) for c in caches.values()) == 15
    assert caches["test"].x.shape[1:] == (3, 16, 16) and caches["test"].y.shape[1] == 40
    assert not set(caches["train"].identity) & set(caches["test"].identity)


def test_find_root_env_default_and_absent(tmp_path, monkeypatch):
    monkeypatch.delenv(lfwa.LFWA_ENV, raising=False)
    assert lfwa.find_root(tmp_path / "nothing") is None  # LFWA is optional: absent is not an error
    root = tmp_path / "lfwa"
    root.mkdir()
    fake_lfwa(root)
    assert lfwa.find_root(root) == root
    monkeypatch.setenv(lfwa.LFWA_ENV, str(root))
    assert lfwa.find_root(tmp_path / "nothing") == root
    monkeypatch.setenv(lfwa.LFWA_ENV, str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError, match="lfw_att_40.mat.*indices_train_test.mat"):
        lfwa.find_root()  # named but wrong: say what is missing instead of silently skipping
