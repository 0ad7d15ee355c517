"""The CelebA reader on tiny fakes in every real layout, against torchvision, and on the real files."""
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torchvision.datasets import CelebA

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data import celeba
from tests.conftest import fake_celeba

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LAYOUTS = ("official", "torchvision", "kaggle")


@pytest.fixture
def official(tmp_path) -> Path:
    return fake_celeba(tmp_path / "celeba_official", layout="official")


def set_field(path: Path, line: int, field: int, value: str) -> None:
    """Set the whitespace-separated field ``field`` of line ``line`` (0-based), keeping CRLF endings."""
    lines = path.read_bytes().decode().split("\r\n")
    fields = lines[line].split()
    fields[field] = value
    lines[line] = " ".join(fields)
    path.write_bytes("\r\n".join(lines).encode())


def edit_line(path: Path, line: int, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` once in line ``line`` (0-based) of a file, keeping its line endings."""
    lines = path.read_bytes().decode().split("\n")
    assert old in lines[line], (old, lines[line])
    lines[line] = lines[line].replace(old, new, 1)
    path.write_bytes("\n".join(lines).encode())


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_the_same_table(tmp_path, layout):
    root = fake_celeba(tmp_path / layout, layout=layout)
    table = celeba.read_celeba(root)
    reference = celeba.read_celeba(fake_celeba(tmp_path / "reference", layout="official", crlf=False))
    assert celeba.find_layout(root).name == layout
    assert list(table.columns[:41]) == ["image_id", *ATTRIBUTES]
    assert table["image_id"].iloc[0] == "000001.jpg" and len(table) == 12
    assert (table[ATTRIBUTES].dtypes == np.uint8).all() and table[ATTRIBUTES].isin([0, 1]).all().all()
    assert table["partition"].dtype == np.int8 and table["partition"].tolist() == [0] * 6 + [1] * 3 + [2] * 3
    assert ("identity" in table) == (layout != "kaggle")
    for col in [*celeba.LANDMARKS, *celeba.BBOX]:
        assert table[col].dtype == np.int32
    pd.testing.assert_frame_equal(table, reference[table.columns])
    assert celeba.image_dir(root).is_dir() and len(list(celeba.image_dir(root).glob("*.jpg"))) == 12


def test_read_annotations_needs_no_images(tmp_path):
    root = fake_celeba(tmp_path, layout="official", images=False)
    assert len(celeba.read_annotations(root)) == 12
    with pytest.raises(FileNotFoundError, match="image folder .*img_align_celeba does not exist"):
        celeba.read_celeba(root)
    assert len(celeba.read_celeba(root, check_images=False)) == 12


def test_split_names(official):
    table = celeba.read_celeba(official)
    assert [len(celeba.split(table, s)) for s in ("train", "valid", "val", "test", "all")] == [6, 3, 3, 3, 12]
    assert (celeba.split(table, "test")["partition"] == celeba.PARTITIONS["test"]).all()
    with pytest.raises(ValueError, match="unknown split 'validation'; choose one of 'train', 'valid'"):
        celeba.split(table, "validation")


def test_files_in_another_order_are_aligned(official):
    path = official / "list_eval_partition.txt"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[::-1]) + "\n")
    assert celeba.read_celeba(official)["partition"].tolist() == [0] * 6 + [1] * 3 + [2] * 3


@pytest.mark.parametrize("split", ["all", "train", "valid", "test"])
@pytest.mark.parametrize("target_type", ["attr", "identity", "bbox", "landmarks"])
def test_agrees_with_torchvision(tmp_path, monkeypatch, split, target_type):
    root = fake_celeba(tmp_path, layout="torchvision")
    monkeypatch.setattr(CelebA, "_check_integrity", lambda self: True)  # the only bypass: md5 of real files
    ds = CelebA(root, split=split, target_type=target_type)
    table = celeba.split(celeba.read_celeba(root), split)
    columns = {"attr": ATTRIBUTES, "identity": ["identity"], "bbox": celeba.BBOX, "landmarks": celeba.LANDMARKS}
    assert list(ds.filename) == table["image_id"].tolist()
    assert ds.attr_names[:40] == ATTRIBUTES
    targets = torch.stack([torch.as_tensor(ds[i][1]) for i in range(len(ds))])
    expected = torch.tensor(table[columns[target_type]].to_numpy(np.int64))
    assert torch.equal(targets.reshape(expected.shape).long(), expected)


# ---- every documented bad input raises a message a person can act on ----

def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CelebA folder .*nowhere does not exist.*data/README.md"):
        celeba.read_celeba(tmp_path / "nowhere")


def test_empty_folder_names_both_layouts(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        celeba.read_celeba(tmp_path)
    message = str(e.value)
    for text in (str(tmp_path), "list_attr_celeba.txt", "list_eval_partition.txt", "list_attr_celeba.csv",
                 "list_eval_partition.csv", "img_align_celeba/img_align_celeba/", "data/README.md"):
        assert text in message


def test_missing_files_are_all_named(official):
    (official / "list_attr_celeba.txt").unlink()
    (official / "list_eval_partition.txt").unlink()
    with pytest.raises(FileNotFoundError,
                       match=r"official layout\) at .* is missing list_attr_celeba.txt, list_eval_partition.txt"):
        celeba.read_celeba(official)


def test_missing_kaggle_file(tmp_path):
    root = fake_celeba(tmp_path, layout="kaggle")
    (root / "list_eval_partition.csv").unlink()
    with pytest.raises(FileNotFoundError, match=r"kaggle layout\) at .* is missing list_eval_partition.csv"):
        celeba.read_celeba(root)


def test_wrong_header_says_which_names_differ(official):
    edit_line(official / "list_attr_celeba.txt", 1, "Bald", "Bold")
    with pytest.raises(ValueError, match=r"column 5: expected 'Bald', found 'Bold'"):
        celeba.read_celeba(official)


def test_wrong_csv_header(tmp_path):
    root = fake_celeba(tmp_path, layout="kaggle")
    edit_line(root / "list_eval_partition.csv", 0, "partition", "split")
    with pytest.raises(ValueError, match=r"list_eval_partition.csv: header .*expected 'partition', found 'split'"):
        celeba.read_celeba(root)


def test_count_line_differs_from_rows(official):
    edit_line(official / "list_landmarks_align_celeba.txt", 0, "12", "13")
    with pytest.raises(ValueError, match=r"list_landmarks_align_celeba.txt: the count line says '13' but .* 12 rows"):
        celeba.read_celeba(official)


def test_files_with_different_row_counts(official):
    path = official / "list_eval_partition.txt"
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"row-count mismatch: list_attr_celeba.txt has 12 rows but "
                                         r"list_eval_partition.txt has 11"):
        celeba.read_celeba(official)


def test_files_listing_other_images(official):
    edit_line(official / "identity_CelebA.txt", 4, "000005.jpg", "999999.jpg")
    with pytest.raises(ValueError, match="identity_CelebA.txt does not list 000005.jpg"):
        celeba.read_celeba(official)


def test_label_outside_minus_one_one(official):
    set_field(official / "list_attr_celeba.txt", 4, 5, "0")  # row 3 = 000003.jpg, column 5 = Bald
    with pytest.raises(ValueError, match=r"list_attr_celeba.txt: row 3 \(image 000003.jpg\), column Bald: "
                                         r"found '0', expected -1 or 1"):
        celeba.read_celeba(official)


def test_partition_outside_0_1_2(official):
    set_field(official / "list_eval_partition.txt", 1, 1, "7")
    with pytest.raises(ValueError, match=r"row 2 \(image 000002.jpg\), column partition: found '7', expected 0 or 1"):
        celeba.read_celeba(official)


def test_non_numeric_value(official):
    set_field(official / "list_bbox_celeba.txt", 3, 2, "x")
    with pytest.raises(ValueError, match=r"list_bbox_celeba.txt: row 2 \(image 000002.jpg\), column y_1: "
                                         r"found 'x', expected an integer"):
        celeba.read_celeba(official)


@pytest.mark.parametrize("line", [0, 3])  # the first row (a pandas warning) and a later one (a parser error)
def test_row_with_too_many_values(official, line):
    set_field(official / "list_eval_partition.txt", line, 1, "0 5")
    with pytest.raises(ValueError, match=r"list_eval_partition.txt: a row has more values than the 2 columns"):
        celeba.read_celeba(official)


def test_missing_images_are_counted_and_named(official):
    for name in ("000002.jpg", "000007.jpg"):
        (official / "img_align_celeba" / name).unlink()
    with pytest.raises(FileNotFoundError, match=r"2 of 12 listed images are missing .* 000002.jpg, 000007.jpg"):
        celeba.read_celeba(official)


# ---- the real annotation files and the real subset (skipped where ../shared/data is absent) ----

@pytest.mark.skipif(not (SHARED_DATA / "celeba_annotations").is_dir(), reason="no ../shared/data/celeba_annotations")
def test_real_annotations_fast_and_complete():
    start, cpu = time.perf_counter(), time.process_time()
    table = celeba.read_annotations(SHARED_DATA / "celeba_annotations")
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(table) == 202_599 and table["identity"].nunique() == 10_177
    assert table["partition"].value_counts().sort_index().tolist() == [162_770, 19_867, 19_962]
    assert table["image_id"].iloc[[0, -1]].tolist() == ["000001.jpg", "202599.jpg"]
    assert table.loc[0, ["Arched_Eyebrows", "Attractive", "Male"]].tolist() == [1, 1, 0]
    # CPU seconds of this process (all threads): on an idle machine the wall time is about the same
    # (~1 s); on a CI box shared by other jobs the wall time measures the neighbours too.
    assert cpu < 5, f"reading the real annotations took {cpu:.1f} s of CPU ({wall:.1f} s wall)"


@pytest.mark.skipif(not (SHARED_DATA / "celeba_images").is_dir(), reason="no ../shared/data/celeba_images")
def test_real_subset_protocol():
    parts = celeba.real_subset(SHARED_DATA)
    assert {k: len(t) for k, (t, _) in parts.items()} == {"train": 4560, "val": 780, "test": 660, "test_b": 6000}
    assert [t["partition"].unique().tolist() for t, _ in parts.values()] == [[0], [1], [2], [2]]
    train = set(parts["train"][0]["identity"])
    assert not train & set(parts["test"][0]["identity"]) and not train & set(parts["test_b"][0]["identity"])
    for table, folder in parts.values():
        assert (folder / table["image_id"].iloc[0]).is_file()


# ---- half the images there: missing="skip" uses those that are, and says how many ----

def test_missing_images_can_be_skipped_explicitly(official, capsys):
    for name in ("000002.jpg", "000007.jpg", "000012.jpg"):
        (official / "img_align_celeba" / name).unlink()
    with pytest.raises(FileNotFoundError, match=r"use the 9 images that are there with missing='skip'.*"
                                                r"FACEATTR_MISSING=skip"):
        celeba.read_celeba(official)
    table = celeba.read_celeba(official, missing="skip")
    assert len(table) == 9 and "000007.jpg" not in set(table["image_id"])
    assert table["partition"].tolist() == [0] * 5 + [1] * 2 + [2] * 2
    out = capsys.readouterr().out
    assert "using the 9 of 12 listed images" in out and "3 missing, e.g. 000002.jpg, 000007.jpg, 000012.jpg" in out
    assert "kept by partition: train 5 / valid 2 / test 2" in out
    with pytest.raises(ValueError, match="missing='ignore'; choose one of 'error', 'skip'"):
        celeba.read_celeba(official, missing="ignore")


def test_skip_with_no_image_at_all_is_still_an_error(official):
    for path in (official / "img_align_celeba").iterdir():
        path.unlink()
    with pytest.raises(FileNotFoundError, match=r"12 of 12 listed images are missing .*re-extract img_align_celeba;"):
        celeba.read_celeba(official, missing="skip")


# ---- the course subset: a shipped manifest of ids, the same on a full CelebA and on the real-subset folder ----

def test_course_subset_manifest():
    ids = celeba.course_subset_ids()
    assert len(ids) == 6000 and len(set(ids)) == 6000 and list(ids) == sorted(ids)
    assert all(len(i) == 10 and i[:6].isdigit() and i.endswith(".jpg") for i in ids)
    assert 1 <= int(ids[0][:6]) and int(ids[-1][:6]) <= 202_599


@pytest.mark.skipif(not (SHARED_DATA / "celeba_annotations").is_dir(), reason="no ../shared/data/celeba_annotations")
def test_course_subset_on_the_real_annotations():
    subset = celeba.select_subset(celeba.read_annotations(SHARED_DATA / "celeba_annotations"), "course")
    assert subset["image_id"].tolist() == list(celeba.course_subset_ids())
    assert subset["partition"].value_counts().sort_index().tolist() == [4560, 780, 660]
    assert subset["identity"].nunique() == 200 and set(subset.groupby("identity").size()) == {30}
    assert subset[subset["partition"] == 2]["identity"].nunique() == 22


def test_course_subset_needs_complete_annotations(official):
    table = celeba.read_celeba(official)
    assert celeba.select_subset(table, None) is table and celeba.select_subset(table, "all") is table
    with pytest.raises(ValueError, match=r"lists 6,000 CelebA images but these annotation files list only 1 of "
                                         r"them .* complete annotation files; .* FACEATTR_SUBSET=all"):
        celeba.select_subset(table, "course")  # the fake lists 000001..000012, of which the manifest has 000002
    with pytest.raises(ValueError, match="unknown subset 'half'"):
        celeba.select_subset(table, "half")


def fake_real_subset(root: Path, manifest: tuple[str, ...]) -> Path:
    """A real-subset folder: complete (fake) annotations, aligned images of ``manifest`` plus one more, 2 crops."""
    fake_celeba(root / "annotations_source", layout="official", images=False)
    (root / "annotations_source").rename(root / "celeba_annotations")
    aligned = root / "celeba_images" / celeba.REAL_SUBSET["train"][0]
    crops = root / "celeba_images" / celeba.REAL_SUBSET["test_b"][0]
    aligned.mkdir(parents=True)
    crops.mkdir()
    for name in [*manifest, "000001.jpg"]:  # an image outside the subset is not used
        (aligned / name).write_bytes(b"jpeg")
    for name in ("000010.jpg", "000011.jpg"):
        (crops / name).write_bytes(b"jpeg")
    return root


def test_real_subset_folder_goes_through_the_manifest(tmp_path, monkeypatch):
    manifest = ("000002.jpg", "000004.jpg", "000007.jpg", "000008.jpg", "000010.jpg", "000012.jpg")
    monkeypatch.setattr(celeba, "course_subset_ids", lambda: manifest)
    parts = celeba.real_subset(fake_real_subset(tmp_path, manifest))
    ids = {name: table["image_id"].tolist() for name, (table, _) in parts.items()}
    assert ids == {"train": ["000002.jpg", "000004.jpg"], "val": ["000007.jpg", "000008.jpg"],
                   "test": ["000010.jpg", "000012.jpg"], "test_b": ["000010.jpg", "000011.jpg"]}
    (tmp_path / "celeba_images" / celeba.REAL_SUBSET["train"][0] / "000008.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"1 of 6 listed images are missing .* 000008.jpg"):
        celeba.real_subset(tmp_path)
    assert len(celeba.real_subset(tmp_path, missing="skip")["val"][0]) == 1


def test_real_subset_without_crops_warns_and_keeps_the_aligned_splits(tmp_path, monkeypatch):
    manifest = ("000002.jpg", "000004.jpg", "000007.jpg", "000008.jpg", "000010.jpg", "000012.jpg")
    monkeypatch.setattr(celeba, "course_subset_ids", lambda: manifest)
    root = fake_real_subset(tmp_path, manifest)
    crops = root / "celeba_images" / celeba.REAL_SUBSET["test_b"][0]
    for f in crops.iterdir():
        f.unlink()
    crops.rmdir()
    with pytest.warns(UserWarning, match="no unaligned test crops.*aligned test faces \\(a\\) only"):
        parts = celeba.real_subset(root)
    assert sorted(parts) == ["test", "train", "val"] and len(parts["test"][0]) == 2
    aligned = root / "celeba_images" / celeba.REAL_SUBSET["train"][0]
    aligned.rename(root / "elsewhere")  # the aligned faces are required
    with pytest.raises(FileNotFoundError, match="real-subset image folder .*Nikhil4902_CelebA_Dataset does not"):
        celeba.real_subset(root)


@pytest.mark.skipif(not (SHARED_DATA / "celeba_images").is_dir(), reason="no ../shared/data/celeba_images")
def test_real_subset_tables_are_the_manifest():
    parts = celeba.real_subset(SHARED_DATA)
    aligned = [i for name in ("train", "val", "test") for i in parts[name][0]["image_id"]]
    assert sorted(aligned) == list(celeba.course_subset_ids())
