"""The one-command CelebA download, offline: the failure message, placing the download, the checks."""
from pathlib import Path

import kagglehub
import pytest
import requests

from faceattr_nb import config
from faceattr_nb.data import celeba, download
from tests.conftest import fake_celeba

SMALL = download.Counts(images=12, train=6, val=3, test=3)  # fake_celeba's n=12: half train, a quarter each


@pytest.fixture
def downloaded(tmp_path) -> Path:
    """A fake kagglehub download: a 12-image CelebA in the Kaggle layout, where kagglehub's cache keeps it."""
    return fake_celeba(tmp_path / "kagglehub" / "datasets" / "celeba-dataset" / "versions" / "2", layout="kaggle")


@pytest.fixture
def kaggle(monkeypatch, downloaded):
    """kagglehub.dataset_download replaced by one that returns ``downloaded``; the list records each call."""
    calls = []

    def fake(handle, path=None, *, force_download=False, output_dir=None):
        calls.append(handle)
        return str(downloaded)
    monkeypatch.setattr(kagglehub, "dataset_download", fake)
    monkeypatch.setattr(download, "FULL_CELEBA", SMALL)
    return calls


def offline(*args, **kwargs):
    """What kagglehub raises without network (measured: a requests ConnectionError naming api.kaggle.com)."""
    raise requests.exceptions.ConnectionError("HTTPSConnectionPool(host='api.kaggle.com', port=443): Max retries "
                                              "exceeded\n(Caused by NameResolutionError: Failed to resolve)")


def test_offline_says_so_in_one_paragraph_with_the_manual_route(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(kagglehub, "dataset_download", offline)
    dest = tmp_path / "data" / "celeba"
    with pytest.raises(download.DownloadError, match="kagglehub failed: ConnectionError") as err:
        download.get_celeba(dest)
    message = str(err.value)
    assert isinstance(err.value, RuntimeError) and "\n" not in message
    assert "internet connection" in message and "api.kaggle.com" in message
    for manual in ("data/README.md", str(dest), "FACEATTR_DATA", "list_attr_celeba.csv",
                   "img_align_celeba/img_align_celeba/", "list_attr_celeba.txt"):
        assert manual in message
    assert not dest.exists()
    capsys.readouterr()
    assert download.main([str(dest)]) == 1
    assert "kagglehub failed: ConnectionError" in capsys.readouterr().err


def test_download_is_linked_checked_and_a_second_run_does_nothing(tmp_path, kaggle, downloaded, capsys):
    dest = tmp_path / "repo" / "data" / "celeba"
    assert download.get_celeba(dest) == dest
    out = capsys.readouterr().out
    assert kaggle == ["jessicali9530/celeba-dataset"]
    assert dest.is_symlink() and dest.resolve() == downloaded.resolve()  # a link: no second copy
    assert f"linked {downloaded} -> {dest}" in out
    assert "kaggle layout" in out and "12 images" in out and "train 6 / val 3 / test 3" in out
    assert config.detect_source(dest) == "celeba" and len(celeba.read_celeba(dest)) == 12

    assert download.get_celeba(dest) == dest  # second run: no download, says so
    assert kaggle == ["jessicali9530/celeba-dataset"]
    assert "already complete, nothing to do" in capsys.readouterr().out


def test_download_is_moved_where_no_link_can_be_made(tmp_path, kaggle, downloaded, monkeypatch):
    def no_links(self, *args, **kwargs):
        raise OSError("symbolic links are not allowed here")
    monkeypatch.setattr(Path, "symlink_to", no_links)
    dest = tmp_path / "celeba"
    download.get_celeba(dest)
    assert not dest.is_symlink() and not downloaded.exists()  # moved, not copied
    assert download.check_celeba(dest, SMALL)["images"] == 12


def test_an_occupied_destination_is_never_deleted_nor_downloaded_over(tmp_path, kaggle):
    dest = tmp_path / "celeba"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"already holds files .* left as they are"):
        download.get_celeba(dest)
    assert kaggle == [] and (dest / "notes.txt").read_text() == "mine"


def test_an_incomplete_download_is_an_error(kaggle, downloaded):
    (downloaded / "img_align_celeba" / "img_align_celeba" / "000003.jpg").unlink()
    with pytest.raises(download.DownloadError, match=r"not a complete CelebA: 1 of 12 listed images are missing"):
        download.get_celeba(downloaded.parent / "celeba")


# ---- check_celeba on a generated Kaggle-layout folder (the counts of a full CelebA made small) ----

def test_check_complete(tmp_path):
    root = fake_celeba(tmp_path, layout="kaggle")
    counts = download.check_celeba(root, SMALL)
    assert counts == {"layout": "kaggle", "folder": str(root), "image_dir": str(root / "img_align_celeba" /
                      "img_align_celeba"), "images": 12, "attributes": 40, "train": 6, "val": 3, "test": 3}


def test_check_expects_the_full_celeba_by_default(tmp_path):
    assert download.FULL_CELEBA == download.Counts(202_599, 162_770, 19_867, 19_962)
    with pytest.raises(ValueError, match=r"list_attr_celeba.csv lists 12 images, expected 202,599"):
        download.check_celeba(fake_celeba(tmp_path, layout="kaggle"))


def test_check_missing_images_are_counted_and_named(tmp_path):
    root = fake_celeba(tmp_path, layout="kaggle")
    for name in ("000004.jpg", "000009.jpg"):
        (root / "img_align_celeba" / "img_align_celeba" / name).unlink()
    with pytest.raises(ValueError, match=r"2 of 12 listed images are missing .* e.g. 000004.jpg, 000009.jpg"):
        download.check_celeba(root, SMALL)


def test_check_short_label_file(tmp_path):
    root = fake_celeba(tmp_path, layout="kaggle")
    path = root / "list_attr_celeba.csv"
    path.write_text("".join(path.read_text().splitlines(keepends=True)[:-3]))  # a cut-off file: 9 of 12 rows
    with pytest.raises(ValueError, match=r"list_attr_celeba.csv has 9 rows but list_eval_partition.csv has 12"):
        download.check_celeba(root, SMALL)
    for name in ("list_eval_partition.csv", "list_landmarks_align_celeba.csv", "list_bbox_celeba.csv"):
        (root / name).write_text("".join((root / name).read_text().splitlines(keepends=True)[:-3]))
    with pytest.raises(ValueError, match=r"lists 9 images, expected 12: the label file is incomplete"):
        download.check_celeba(root, SMALL)


def test_check_wrong_partition_counts(tmp_path):
    root = fake_celeba(tmp_path, layout="kaggle")
    with pytest.raises(ValueError, match=r"partitions train 6 / val 3 / test 3, expected 7 / 2 / 3"):
        download.check_celeba(root, download.Counts(12, 7, 2, 3))


def test_check_labels_outside_minus_one_one(tmp_path):
    root = fake_celeba(tmp_path, layout="kaggle")
    path = root / "list_attr_celeba.csv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].rsplit(",", 1)[0] + ",0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"row 2 \(image 000002.jpg\), column Young: found '0', expected -1 or 1"):
        download.check_celeba(root, SMALL)
