"""Read CelebA (Liu et al., "Deep Learning Face Attributes in the Wild", ICCV 2015).

One reader for the two layouts people download, one table out:

official (Google Drive / MMLAB; torchvision's ``root/celeba/`` nesting too)::

    root/img_align_celeba/000001.jpg ...          aligned 178x218 JPEGs
    root/list_attr_celeba.txt                     count line, 40 names, "000001.jpg -1  1 ..."
    root/list_eval_partition.txt                  "000001.jpg 0"     (0 train, 1 val, 2 test)
    root/identity_CelebA.txt                      "000001.jpg 2880"  optional
    root/list_landmarks_align_celeba.txt          count, header, 10 ints   optional
    root/list_bbox_celeba.txt                     count, header, 4 ints    optional

Kaggle (jessicali9530/celeba-dataset)::

    root/img_align_celeba/img_align_celeba/000001.jpg ...
    root/list_attr_celeba.csv                     "image_id,5_o_Clock_Shadow,..."  (-1/1)
    root/list_eval_partition.csv                  "image_id,partition"
    root/list_landmarks_align_celeba.csv          "image_id,lefteye_x,..."    optional
    root/list_bbox_celeba.csv                     "image_id,x_1,y_1,width,height"  optional

Kaggle ships no identity file; an ``identity_CelebA.txt`` put beside the
CSVs is read. Like torchvision's ``file_list``, one table of expected files
(``EXPECTED_FILES``) drives everything: every file is checked before any is
parsed, and each error names what was expected, where, and points to
data/README.md. Files are parsed with pandas' C engine (the real 202,599-row
files, CRLF line endings included, take about a second each).

The course subset (``course_subset.txt``, shipped with the package: file
names only) is 6,000 aligned images of 200 identities x 30, official train
4,560 / val 780 / test 660; ``select_subset(table, "course")`` keeps them.
The course's real-subset folder holds complete annotations but only these
images (and unaligned test crops)::

    root/celeba_annotations/list_attr_celeba.txt, list_eval_partition.txt, identity_CelebA.txt
    root/celeba_images/Nikhil4902_CelebA_Dataset/000002.jpg ...      the course subset, aligned
    root/celeba_images/Trung-Jeager-2019_validation/...              unaligned official-test crops

``real_subset`` applies its protocol. Used in notebook 01 and, through
``data.splits`` and ``config.resolve``, in every notebook that reads real faces.
"""
import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from faceattr_nb.attributes import ATTRIBUTES

LAYOUTS = ("official", "torchvision", "kaggle")
LANDMARKS: list[str] = ["lefteye_x", "lefteye_y", "righteye_x", "righteye_y", "nose_x", "nose_y",
                        "leftmouth_x", "leftmouth_y", "rightmouth_x", "rightmouth_y"]
BBOX: list[str] = ["x_1", "y_1", "width", "height"]
PARTITIONS: dict[str, int] = {"train": 0, "valid": 1, "test": 2}
HELP = "see data/README.md"

# The table of expected files (torchvision's file_list, for both layouts).
EXPECTED_FILES: dict[str, tuple[str, str, bool]] = {
    # kind:       official / torchvision name,        Kaggle name,                        required
    "attr":      ("list_attr_celeba.txt",            "list_attr_celeba.csv",            True),
    "partition": ("list_eval_partition.txt",         "list_eval_partition.csv",         True),
    "identity":  ("identity_CelebA.txt",             "identity_CelebA.txt",             False),
    "landmarks": ("list_landmarks_align_celeba.txt", "list_landmarks_align_celeba.csv", False),
    "bbox":      ("list_bbox_celeba.txt",            "list_bbox_celeba.csv",            False),
}
COLUMNS: dict[str, list[str]] = {"attr": ATTRIBUTES, "partition": ["partition"], "identity": ["identity"],
                                 "landmarks": LANDMARKS, "bbox": BBOX}
COUNTED = ("attr", "landmarks", "bbox")  # .txt files that start with a count line and a header line
ALLOWED = {"attr": (-1, 1), "partition": (0, 1, 2)}  # value sets that are checked (others: any integer)
MISSING = ("error", "skip")  # what verify_images does about listed images that are absent
COURSE_SUBSET_FILE = Path(__file__).with_name("course_subset.txt")  # the course subset's ids, one a line


@dataclass(frozen=True)
class Layout:
    """Where one CelebA copy keeps its files.

    name: "official", "torchvision" or "kaggle"; folder: the folder holding
    the annotation files; files: kind ("attr", "partition", "identity",
    "landmarks", "bbox") -> path, for the files present; image_dir: where the
    JPEGs should be (it may not exist: ``read_annotations`` does not need it).
    """
    name: str
    folder: Path
    files: dict[str, Path]
    image_dir: Path


def _expected_names(layout: str) -> dict[str, str]:
    col = 1 if layout == "kaggle" else 0
    return {kind: row[col] for kind, row in EXPECTED_FILES.items()}


def _both_layouts_text() -> str:
    official = ", ".join(n for n, _, req in EXPECTED_FILES.values() if req)
    kaggle = ", ".join(n for _, n, req in EXPECTED_FILES.values() if req)
    return (f"official layout: img_align_celeba/ + {official} (or all of it under celeba/, torchvision's "
            f"nesting); Kaggle layout: img_align_celeba/img_align_celeba/ + {kaggle}")


def _image_dir(name: str, folder: Path) -> Path:
    flat = folder / "img_align_celeba"
    nested = flat / "img_align_celeba"
    if name == "kaggle" and (nested.is_dir() or not flat.is_dir()):
        return nested
    return flat


def find_layout(root: str | Path) -> Layout:
    """Which layout ``root`` holds, with the paths of its annotation files.

    Raises FileNotFoundError naming every missing required file, the folder
    searched and both layouts' expected names. Used in notebook 01.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"CelebA folder {root} does not exist; expected a folder with the "
                                f"{_both_layouts_text()}; {HELP}")
    for name, folder in (("official", root), ("torchvision", root / "celeba"), ("kaggle", root)):
        names = _expected_names(name)
        found = {kind: folder / n for kind, n in names.items() if (folder / n).is_file()}
        if set(found) - {"identity"}:  # some file of this layout is here: it is the one
            missing = [names[k] for k, (*_, req) in EXPECTED_FILES.items() if req and k not in found]
            if missing:
                raise FileNotFoundError(
                    f"CelebA ({name} layout) at {folder} is missing {', '.join(missing)}; expected the "
                    f"{_both_layouts_text()}; {HELP}")
            return Layout(name, folder, found, _image_dir(name, folder))
    raise FileNotFoundError(f"CelebA not found at {root}: none of its annotation files is there; expected the "
                            f"{_both_layouts_text()}; {HELP}")


def image_dir(root: str | Path) -> Path:
    """The folder of aligned JPEGs of the CelebA copy at ``root`` (FileNotFoundError if absent)."""
    layout = find_layout(root)
    if not layout.image_dir.is_dir():
        raise FileNotFoundError(f"CelebA images not found: expected the folder {layout.image_dir} "
                                f"({layout.name} layout at {layout.folder}); {HELP}")
    return layout.image_dir


def _first_lines(path: Path, n: int) -> list[str]:
    with open(path, encoding="utf-8", newline=None) as f:
        return [f.readline().strip() for _ in range(n)]


def _check_header(path: Path, found: list[str], expected: list[str]) -> None:
    if found == expected:
        return
    diffs = [f"column {i + 1}: expected {e!r}, found {f!r}"
             for i, (e, f) in enumerate(zip(expected, found)) if e != f][:5]
    if len(found) != len(expected):
        diffs.append(f"{len(found)} names instead of {len(expected)}")
    extra = sorted(set(found) - set(expected))[:5]
    missing = sorted(set(expected) - set(found))[:5]
    raise ValueError(f"{path}: header names differ from CelebA's ({'; '.join(diffs)}; missing {missing}, "
                     f"unexpected {extra}); the file must use CelebA's own column names; {HELP}")


def _parse(path: Path, names: list[str], **kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)
        try:
            return pd.read_csv(path, header=None, names=["image_id", *names], dtype={"image_id": str},
                               index_col=False, engine="c", **kw)
        except (pd.errors.ParserError, pd.errors.ParserWarning) as e:
            raise ValueError(f"{path}: a row has more values than the {len(names) + 1} columns "
                             f"image_id + {names[0]}..{names[-1]} ({e}); {HELP}") from None


def _check_values(path: Path, df: pd.DataFrame, kind: str) -> None:
    """Every value an integer (in ALLOWED[kind] where given); else name the first bad one."""
    vals = df[COLUMNS[kind]]
    if all(pd.api.types.is_integer_dtype(t) for t in vals.dtypes):  # the usual case: parsed as integers
        a = vals.to_numpy()
        ok = np.isin(a, ALLOWED[kind]) if kind in ALLOWED else np.ones(a.shape, bool)
    else:  # text or decimals somewhere: NaN where a value is not a number
        a = vals.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(a) & (a == np.round(a)) & (np.isin(a, ALLOWED[kind]) if kind in ALLOWED else True)
    if not ok.all():
        r, c = np.argwhere(~ok)[0]
        want = " or ".join(map(str, ALLOWED.get(kind, ("an integer",))))
        raise ValueError(f"{path}: row {r + 1} (image {df['image_id'].iloc[r]}), column {COLUMNS[kind][c]}: "
                         f"found '{df.iloc[r, c + 1]}', expected {want}; {HELP}")


def read_file(path: str | Path, kind: str) -> pd.DataFrame:
    """One annotation file -> image_id + its columns (raw values, checked).

    ``kind`` is a key of EXPECTED_FILES; .txt files are whitespace separated
    (count and header lines for attr, landmarks, bbox), .csv files are Kaggle's.
    """
    path, names = Path(path), COLUMNS[kind]
    if path.suffix == ".csv":
        _check_header(path, _first_lines(path, 1)[0].split(","), ["image_id", *names])
        df = _parse(path, names, skiprows=1)
    elif kind in COUNTED:
        count, header = _first_lines(path, 2)
        header = header.split()
        _check_header(path, header[1:] if header[:1] == ["image_id"] else header, names)
        df = _parse(path, names, sep=r"\s+", skiprows=2)
        if not count.isdigit() or int(count) != len(df):
            raise ValueError(f"{path}: the count line says {count!r} but the file has {len(df):,} rows; "
                             f"the file is truncated or edited; {HELP}")
    else:
        df = _parse(path, names, sep=r"\s+")
    _check_values(path, df, kind)
    return df


def _align(frames: dict[str, pd.DataFrame], files: dict[str, Path]) -> dict[str, pd.DataFrame]:
    """Every frame in the row order of the attribute file; error if the files list other images."""
    ids = frames["attr"]["image_id"]
    for kind, df in frames.items():
        if len(df) != len(ids):
            raise ValueError(f"row-count mismatch: {files['attr'].name} has {len(ids):,} rows but "
                             f"{files[kind].name} has {len(df):,}; all files must list the same images; {HELP}")
        if not np.array_equal(df["image_id"].to_numpy(), ids.to_numpy()):
            rows = pd.Index(df["image_id"]).get_indexer(ids)
            if (rows < 0).any():
                raise ValueError(f"{files[kind].name} does not list {ids[rows < 0].iloc[0]} (listed in "
                                 f"{files['attr'].name}); all files must list the same images; {HELP}")
            frames[kind] = df.iloc[rows].reset_index(drop=True)
    return frames


def _read_layout(layout: Layout) -> pd.DataFrame:
    frames = _align({kind: read_file(p, kind) for kind, p in layout.files.items()}, layout.files)
    attr = frames["attr"][ATTRIBUTES].to_numpy()
    labels = ((attr + 1) // 2).astype(np.uint8)  # -1/1 -> 0/1: the only place the mapping happens
    table = pd.concat([frames["attr"][["image_id"]], pd.DataFrame(labels, columns=ATTRIBUTES)], axis=1)
    table["partition"] = frames["partition"]["partition"].to_numpy(np.int8)
    for kind in ("identity", "landmarks", "bbox"):
        if kind in frames:
            table[COLUMNS[kind]] = frames[kind][COLUMNS[kind]].to_numpy(np.int32)
    return table


def read_annotations(folder: str | Path) -> pd.DataFrame:
    """The CelebA table from annotation files alone (no image folder needed).

    Same columns as ``read_celeba``. Used on the real-subset folder's
    celeba_annotations/ (attributes, partition and identity only) and by ``real_subset``.
    """
    return _read_layout(find_layout(folder))


def _partition_counts(table: pd.DataFrame) -> str:
    counts = table["partition"].value_counts() if "partition" in table else pd.Series(dtype=int)
    return " / ".join(f"{name} {counts.get(code, 0):,}" for name, code in PARTITIONS.items())


def verify_images(table: pd.DataFrame, image_dir: str | Path, missing: str = "error") -> pd.DataFrame:
    """The rows of ``table`` whose image is in ``image_dir``.

    missing="error": FileNotFoundError if any listed image is absent (count
    and first names); missing="skip": keep the images that are there and
    print how many were kept, per partition (e.g. after extracting half the
    zip). An absent folder, or no image at all, is an error either way.
    """
    if missing not in MISSING:
        raise ValueError(f"missing={missing!r}; choose one of {', '.join(map(repr, MISSING))}")
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"CelebA image folder {image_dir} does not exist; {_both_layouts_text()}; {HELP}")
    present = table["image_id"].isin(set(os.listdir(image_dir)))
    if present.all():
        return table
    absent = table["image_id"][~present]
    example = ", ".join(absent.iloc[:5])
    if missing == "error" or not present.any():
        use = (f", or use the {int(present.sum()):,} images that are there with missing='skip' "
               f"(read_celeba(..., missing='skip'); in the notebooks FACEATTR_MISSING=skip)" if present.any() else "")
        raise FileNotFoundError(f"{len(absent):,} of {len(table):,} listed images are missing from {image_dir}, "
                                f"e.g. {example}; re-extract img_align_celeba{use}; {HELP}")
    kept = table[present].reset_index(drop=True)
    print(f"missing='skip': using the {len(kept):,} of {len(table):,} listed images that are in {image_dir} "
          f"({len(absent):,} missing, e.g. {example}); kept by partition: {_partition_counts(kept)}")
    return kept


@functools.lru_cache(maxsize=1)
def course_subset_ids() -> tuple[str, ...]:
    """The course subset's 6,000 image ids ("000002.jpg" ...), sorted, from the shipped manifest."""
    lines = COURSE_SUBSET_FILE.read_text().splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def select_subset(table: pd.DataFrame, subset: str | None) -> pd.DataFrame:
    """The rows of ``table`` in ``subset``: None or "all" -> every row; "course" -> the course subset.

    The course subset needs CelebA's complete annotation files (ValueError
    naming what is not listed otherwise); its images are checked separately
    (``verify_images``). Rows keep the table's order.
    """
    if subset in (None, "all"):
        return table
    if subset != "course":
        raise ValueError(f"unknown subset {subset!r}; choose 'course' or 'all'")
    ids = course_subset_ids()
    keep = table["image_id"].isin(ids)
    if keep.sum() != len(ids):
        unlisted = sorted(set(ids) - set(table["image_id"]))
        raise ValueError(f"the course subset lists {len(ids):,} CelebA images but these annotation files list "
                         f"only {int(keep.sum()):,} of them (not listed: {', '.join(unlisted[:3])} ...): the course "
                         "subset needs CelebA's complete annotation files; to use every image of this folder "
                         f"instead set FACEATTR_SUBSET=all (or config.resolve(subset='all')); {HELP}")
    return table[keep].reset_index(drop=True)


def read_celeba(root: str | Path, *, check_images: bool = True, missing: str = "error") -> pd.DataFrame:
    """Read the CelebA copy at ``root`` (official, torchvision or Kaggle layout).

    Returns one row per image, in the files' order, with columns:

    - ``image_id`` (str): file name in the image folder, e.g. "000001.jpg";
    - the 40 attributes, named and ordered as ``attributes.ATTRIBUTES``
      ("5_o_Clock_Shadow" ... "Young"): uint8 labels in {0, 1} (the files'
      -1 becomes 0);
    - ``partition`` (int8): 0 train, 1 validation, 2 test (``PARTITIONS``);
    - ``identity`` (int32, optional): the person, 1..10,177; only when
      identity_CelebA.txt is present (never in the Kaggle download);
    - ``lefteye_x, lefteye_y, righteye_x, righteye_y, nose_x, nose_y,
      leftmouth_x, leftmouth_y, rightmouth_x, rightmouth_y`` (int32, optional):
      five landmarks in pixels of the aligned 178x218 image; only when
      list_landmarks_align_celeba.* is present;
    - ``x_1, y_1, width, height`` (int32, optional): the face box; only when
      list_bbox_celeba.* is present. Careful: CelebA's boxes are in the
      coordinates of the in-the-wild photos (img_celeba), not of the aligned
      images (torchvision issue #9008); ``crops.face_box_from_landmarks``
      gives a box on the aligned image.

    With ``check_images`` the image folder must exist and hold every listed
    image; with ``missing="skip"`` too, the rows of absent images are dropped
    instead, and the counts printed (``verify_images``). Used in notebook 01.
    """
    layout = find_layout(root)
    table = _read_layout(layout)
    if check_images:
        table = verify_images(table, layout.image_dir, missing)
    return table


def split(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The rows of one official partition: "train", "valid" (or "val"), "test", or "all"."""
    if name == "all":
        return table
    key = "valid" if name == "val" else name
    if key not in PARTITIONS:
        raise ValueError(f"unknown split {name!r}; choose one of 'train', 'valid' (or 'val'), 'test', 'all'")
    return table[table["partition"] == PARTITIONS[key]].reset_index(drop=True)


# The real-subset protocol (the course's real-subset folder): split -> (image folder, official partition).
REAL_SUBSET: dict[str, tuple[str, int | None]] = {
    "train": ("Nikhil4902_CelebA_Dataset", 0),      # aligned course subset, official train (4,560)
    "val": ("Nikhil4902_CelebA_Dataset", 1),        # aligned course subset, official val (780): early stopping
    "test": ("Nikhil4902_CelebA_Dataset", 2),       # aligned course subset, official test (660, 22 identities)
    "test_b": ("Trung-Jeager-2019_validation", None),  # unaligned official-test crops (6,000)
}


def real_subset(shared_data_root: str | Path, missing: str = "error") -> dict[str, tuple[pd.DataFrame, Path]]:
    """The course's real faces: split -> (table of ``read_celeba`` columns, image folder).

    ``shared_data_root`` is the real-subset folder (celeba_annotations/ and
    celeba_images/, see the module docstring). Labels come from
    list_attr_celeba.txt; "train", "val", "test" are the course subset
    (``select_subset(table, "course")``, the same ids as on a full CelebA) by
    official partition, checked in its aligned image folder (``missing`` as
    in ``verify_images``); "test_b" is every unaligned crop. The crops are an
    extra test set: a folder without them gives no "test_b" and a warning
    (the aligned images are required). Used in notebooks that report
    real-subset results.
    """
    root = Path(shared_data_root).expanduser()
    table = read_annotations(root / "celeba_annotations")
    index = pd.Index(table["image_id"])
    checked: dict[str, pd.DataFrame] = {}
    out = {}
    for name, (folder, partition) in REAL_SUBSET.items():
        image_dir = root / "celeba_images" / folder
        if partition is None and not image_dir.is_dir():
            warnings.warn(f"no unaligned test crops: {image_dir} does not exist, so results are on the aligned "
                          f"test faces (a) only; put the crops in celeba_images/{folder}/ for (b); {HELP}",
                          stacklevel=2)
            continue
        if not image_dir.is_dir():
            raise FileNotFoundError(f"real-subset image folder {image_dir} does not exist; expected "
                                    f"celeba_images/{folder}/ beside celeba_annotations/; {HELP}")
        if partition is not None:  # the aligned course subset
            if folder not in checked:
                checked[folder] = verify_images(select_subset(table, "course"), image_dir, missing)
            part = checked[folder][checked[folder]["partition"] == partition]
        else:  # every crop in the folder
            listed = sorted(f for f in os.listdir(image_dir) if f.endswith(".jpg"))
            rows = index.get_indexer(listed)
            if (rows < 0).any():
                raise ValueError(f"{image_dir} holds images that list_attr_celeba.txt does not list, e.g. "
                                 f"{np.array(listed)[rows < 0][:5].tolist()}; {HELP}")
            part = table.iloc[rows]
        out[name] = (part.reset_index(drop=True), image_dir)
    return out
