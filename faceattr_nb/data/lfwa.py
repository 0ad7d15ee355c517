"""Read LFWA, the attribute labels of Labeled Faces in the Wild (Liu et al., ICCV 2015).

LFWA is distributed for attribute work as two MATLAB files beside the LFW
image tree (Huang et al., "Labeled Faces in the Wild", 2007;
http://vis-www.cs.umass.edu/lfw/)::

    root/lfw_att_40.mat          label (13,143 x 40), name (13,143 image paths), AttrName (40 names)
    root/indices_train_test.mat  indices_img_train, indices_img_test (1-based rows of label),
                                 indices_identity_train, indices_identity_test (not needed here)
    root/lfw/Aaron_Eckhart/Aaron_Eckhart_0001.jpg ...   (or lfw-deepfunneled/, lfw_funneled/)

The field names are those the public loaders of these files read
(``label``, ``name``, ``AttrName``, ``indices_img_train``,
``indices_img_test``); a few common spellings are accepted too (``LABEL_KEYS``
...). What we assume, since the files are not here: ``name`` holds paths
relative to the image folder with Windows separators
("Aaron_Eckhart\\Aaron_Eckhart_0001.jpg"; a bare file name is put under its
person's folder); labels are 0/1 or -1/1; ``AttrName``, when present, names the
columns (matched to CelebA's names ignoring case, spaces and underscores),
else the columns are in CelebA's order; the indices are MATLAB's, counted
from 1 (``one_based=False`` for files re-saved from Python). Files saved by
MATLAB as v7.3 are HDF5, which scipy cannot read: they need h5py.

``read_lfwa`` returns the table ``celeba.read_celeba`` returns: ``image_id``
(the path relative to the image folder, "Aaron_Eckhart/Aaron_Eckhart_0001.jpg"),
the 40 attributes in ``ATTRIBUTES`` order as uint8 0/1, ``partition`` (int8:
0 train, 1 validation, 2 test) and ``identity`` (int32, the person, numbered
in name order). LFWA has no validation split: a seeded ``val_fraction`` of the
training *people* (whole identities, so no person is in both) becomes
partition 1; the test half stays as published. Rows in neither index list are
left out. Used in notebooks 04-06 when LFWA is found.
"""
import os
from pathlib import Path

import numpy as np
import pandas as pd

from faceattr_nb.attributes import ATTRIBUTES

ATTR_FILE, SPLIT_FILE = "lfw_att_40.mat", "indices_train_test.mat"
IMAGE_DIRS = ("lfw", "lfw-deepfunneled", "lfw_funneled", "lfw-funneled", "images")
LABEL_KEYS = ("label", "labels", "attr", "attribute", "attributes")
NAME_KEYS = ("name", "names", "image_name", "img_name", "filename", "filenames")
ATTR_NAME_KEYS = ("AttrName", "attr_name", "attrname", "AttributeName", "attribute_names")
TRAIN_KEYS = ("indices_img_train", "indices_train", "train_indices", "idx_train", "train_idx", "train")
TEST_KEYS = ("indices_img_test", "indices_test", "test_indices", "idx_test", "test_idx", "test")
HELP = ("LFWA comes as lfw_att_40.mat + indices_train_test.mat beside the LFW image tree lfw/<Person>/"
        "<Person>_0001.jpg; see data/README.md")


def load_mat(path: Path) -> dict:
    """The variables of a .mat file (scipy for v4-v7.2, h5py for v7.3 / HDF5)."""
    from scipy.io import loadmat
    try:
        return {k: v for k, v in loadmat(path, squeeze_me=True).items() if not k.startswith("__")}
    except NotImplementedError:  # scipy: "Please use HDF reader for matlab v7.3 files"
        return _load_hdf5(path)
    except ValueError as e:
        raise ValueError(f"{path} is not a readable MATLAB file ({e}); {HELP}") from None


def _load_hdf5(path: Path) -> dict:
    try:
        import h5py
    except ImportError:
        raise ImportError(f"{path} is a MATLAB v7.3 (HDF5) file, which scipy cannot read: pip install h5py, "
                          "or re-save it in MATLAB with save(..., '-v7')") from None
    with h5py.File(path, "r") as f:
        return {k: _hdf5_value(f, f[k]) for k in f if not k.startswith("#")}


def _hdf5_value(f, ds) -> np.ndarray:
    """A v7.3 dataset as scipy would give it: transposed back to MATLAB's order; cells of strings as str."""
    a = ds[()]
    if a.dtype == object:  # a cell array: references to char arrays (uint16 codes)
        return np.array([_hdf5_value(f, f[ref]) for ref in a.T.ravel()], dtype=object)
    if ds.attrs.get("MATLAB_class", b"") in (b"char", "char"):
        return "".join(map(chr, a.ravel()))
    return np.squeeze(a.T)


def _field(mat: dict, keys: tuple[str, ...], what: str, path: Path, required: bool = True):
    for key in keys:
        if key in mat:
            return mat[key]
    if required:
        raise KeyError(f"{path} has no {what}: looked for {', '.join(keys)}, found {', '.join(sorted(mat))}; {HELP}")
    return None


def _strings(value) -> list[str]:
    """A cell array or char matrix of strings as a list of str."""
    a = np.atleast_1d(np.asarray(value, dtype=object))
    out = []
    for v in a.ravel():
        while isinstance(v, np.ndarray):  # nested cells: [['x.jpg']]
            v = v.ravel()[0] if v.size else ""
        out.append(str(v).strip())
    return out


LFWA_ENV = "FACEATTR_LFWA"  # where notebooks 04-06 look for LFWA, else data/lfwa in the repository


def find_root(default: str | Path | None = None) -> Path | None:
    """The LFWA folder for notebooks 04-06: $FACEATTR_LFWA, else ``default`` (the repository's
    ``data/lfwa``) when it holds lfw_att_40.mat, else None (LFWA is optional). A folder named
    in $FACEATTR_LFWA that is not a complete LFWA raises ``FileNotFoundError`` saying what is missing."""
    named = os.environ.get(LFWA_ENV, "").strip()
    if named:
        root = Path(named).expanduser()
        find_files(root)
        return root
    root = Path(default) if default is not None else Path(__file__).resolve().parents[2] / "data" / "lfwa"
    if (root / ATTR_FILE).is_file():
        find_files(root)
        return root
    return None


def find_files(root: str | Path) -> tuple[Path, Path, Path]:
    """(lfw_att_40.mat, indices_train_test.mat, image folder) at ``root``; every missing one named."""
    root = Path(root).expanduser()
    attr, split = root / ATTR_FILE, root / SPLIT_FILE
    images = next((root / d for d in IMAGE_DIRS if (root / d).is_dir()), None)
    missing = [p.name for p in (attr, split) if not p.is_file()]
    if images is None:
        missing.append(f"an image folder ({' or '.join(IMAGE_DIRS)})")
    if missing:
        raise FileNotFoundError(f"LFWA at {root} is missing {', '.join(missing)}; {HELP}")
    return attr, split, images


def _column_order(names: list[str] | None, path: Path) -> list[int]:
    """Column of each CelebA attribute in the file (its AttrName, else CelebA's order)."""
    if names is None:
        return list(range(len(ATTRIBUTES)))
    key = [n.lower().replace(" ", "").replace("_", "") for n in names]
    wanted = [a.lower().replace("_", "") for a in ATTRIBUTES]
    unknown = [a for a, k in zip(ATTRIBUTES, wanted) if k not in key]
    if unknown:
        raise ValueError(f"{path}: AttrName lacks {', '.join(unknown[:5])} (has {', '.join(names[:5])} ...); "
                         f"LFWA labels must be CelebA's 40 attributes; {HELP}")
    return [key.index(k) for k in wanted]


def read_labels(path: str | Path) -> pd.DataFrame:
    """lfw_att_40.mat -> image_id + the 40 attributes (uint8 0/1), in the file's row order."""
    path = Path(path)
    mat = load_mat(path)
    label = np.asarray(_field(mat, LABEL_KEYS, "label matrix", path), dtype=float)
    names = [n.replace("\\", "/") for n in _strings(_field(mat, NAME_KEYS, "image names", path))]
    attr_names = _field(mat, ATTR_NAME_KEYS, "attribute names", path, required=False)
    if label.ndim != 2 or len(ATTRIBUTES) not in label.shape:
        raise ValueError(f"{path}: label has shape {label.shape}, expected (images, 40); {HELP}")
    if label.shape[1] != len(ATTRIBUTES) or label.shape[0] == len(ATTRIBUTES) != len(names):
        label = label.T  # saved as 40 x images
    if label.shape[0] != len(names):
        raise ValueError(f"{path}: {label.shape[0]:,} label rows but {len(names):,} image names; {HELP}")
    values = set(np.unique(label).tolist())
    if not values <= {0.0, 1.0} and not values <= {-1.0, 1.0}:
        raise ValueError(f"{path}: labels take the values {sorted(values)[:6]}, expected 0/1 or -1/1; {HELP}")
    label = label[:, _column_order(_strings(attr_names) if attr_names is not None else None, path)]
    names = [n if "/" in n else f"{n.rsplit('_', 1)[0]}/{n}" for n in names]  # bare name: its person's folder
    table = pd.DataFrame((label > 0).astype(np.uint8), columns=ATTRIBUTES)  # -1/0 -> 0, 1 -> 1
    table.insert(0, "image_id", names)
    return table


def read_indices(path: str | Path, n_rows: int, one_based: bool = True) -> dict[str, np.ndarray]:
    """indices_train_test.mat -> {"train", "test"}: 0-based rows of the label table, checked."""
    path = Path(path)
    mat = load_mat(path)
    out = {}
    for split, keys in (("train", TRAIN_KEYS), ("test", TEST_KEYS)):
        idx = np.asarray(_field(mat, keys, f"{split} indices", path), dtype=float).ravel()
        if not np.all(idx == np.round(idx)):
            raise ValueError(f"{path}: {split} indices are not whole numbers; {HELP}")
        idx = idx.astype(np.int64) - (1 if one_based else 0)
        low, high = (1, n_rows) if one_based else (0, n_rows - 1)
        bad = idx[(idx < 0) | (idx >= n_rows)]
        if len(bad):
            hint = " (a 0 means the file counts from 0: pass one_based=False)" if one_based and (bad == -1).any() \
                else ""
            raise ValueError(f"{path}: {split} index {bad[0] + (1 if one_based else 0)} is outside {low}..{high} "
                             f"(the {n_rows:,} rows of {ATTR_FILE}){hint}; {HELP}")
        out[split] = idx
    both = np.intersect1d(out["train"], out["test"])
    if len(both):
        raise ValueError(f"{path}: {len(both):,} rows are in both train and test (e.g. row {both[0] + 1}); {HELP}")
    return out


def read_lfwa(root: str | Path, *, val_fraction: float = 0.1, seed: int = 0, one_based: bool = True,
              check_images: bool = True) -> pd.DataFrame:
    """The LFWA table at ``root``, with ``read_celeba``'s columns (see the module docstring).

    ``val_fraction`` of the training people (seeded) form partition 1; with
    ``check_images`` every listed image must be in the image folder.
    """
    attr, split, images = find_files(root)
    table = read_labels(attr)
    idx = read_indices(split, len(table), one_based)
    table["partition"] = np.int8(-1)
    table.loc[idx["train"], "partition"] = 0
    table.loc[idx["test"], "partition"] = 2
    table = table[table["partition"] >= 0].copy()
    people = table["image_id"].str.split("/").str[0]
    table["identity"] = pd.factorize(people, sort=True)[0].astype(np.int32)
    train_ids = np.unique(table.loc[table["partition"] == 0, "identity"])
    n_val = int(round(val_fraction * len(train_ids)))
    val_ids = np.random.default_rng(seed).choice(train_ids, size=n_val, replace=False)
    table.loc[(table["partition"] == 0) & table["identity"].isin(val_ids), "partition"] = 1
    table["partition"] = table["partition"].astype(np.int8)
    if check_images:
        verify_images(table, images)
    return table.reset_index(drop=True)


def image_dir(root: str | Path) -> Path:
    """The LFW image folder at ``root`` (lfw/, lfw-deepfunneled/ ...)."""
    return find_files(root)[2]


def verify_images(table: pd.DataFrame, images: Path) -> None:
    """FileNotFoundError naming how many listed images are missing, and the first few."""
    present = {f"{d}/{f}" for d in os.listdir(images) if (images / d).is_dir() for f in os.listdir(images / d)}
    missing = table["image_id"][~table["image_id"].isin(present)]
    if len(missing):
        raise FileNotFoundError(f"{len(missing):,} of {len(table):,} LFWA images are missing from {images}, "
                                f"e.g. {', '.join(missing.iloc[:3])}; {HELP}")
