"""CelebA in one command: download with kagglehub, place as data/celeba, check.

    python -m faceattr_nb.data.download [DEST]

``get_celeba(dest)`` fetches the public Kaggle copy of CelebA (Liu et al.,
"Deep Learning Face Attributes in the Wild", ICCV 2015;
``jessicali9530/celeba-dataset``, anonymous download works) with
``kagglehub.dataset_download``, which keeps it in its own cache
(~/.cache/kagglehub). ``dest`` (default ``data/celeba`` in the repository,
where ``config.resolve`` looks) becomes a link to that folder, or, where a
link cannot be made, the folder is moved there: never a second copy of the
download. ``check_celeba`` then checks what arrived (202,599 labelled images, 40
attributes in -1/1, partitions 162,770 / 19,867 / 19,962, every listed image
present) and the counts are printed. A second run finds the complete copy and
does nothing. Without network the error says so and shows the manual route of
data/README.md. Used in notebook 01.
"""
import argparse
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.config import REPO_ROOT
from faceattr_nb.data import celeba

HANDLE = "jessicali9530/celeba-dataset"
DEFAULT_DEST = REPO_ROOT / "data" / "celeba"


@dataclass(frozen=True)
class Counts:
    """How many images a CelebA copy lists, in all and per official partition."""
    images: int
    train: int
    val: int
    test: int


FULL_CELEBA = Counts(images=202_599, train=162_770, val=19_867, test=19_962)  # the CelebA page's numbers


class DownloadError(RuntimeError):
    """The download failed (no network, Kaggle refused, or it did not bring a complete CelebA)."""


def manual_route(dest: Path) -> str:
    """One sentence: how to get CelebA by hand (the manual route of data/README.md)."""
    return ("The manual route (data/README.md): download CelebA from its page "
            "(https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html: img_align_celeba.zip and the files of Anno/ and "
            f"Eval/) or from https://www.kaggle.com/datasets/{HANDLE}, extract it into {dest} (or into any folder "
            "and set FACEATTR_DATA to it) so that it holds list_attr_celeba.txt, list_eval_partition.txt and "
            "img_align_celeba/ (official layout) or list_attr_celeba.csv, list_eval_partition.csv and "
            "img_align_celeba/img_align_celeba/ (Kaggle layout).")


def check_celeba(root: str | Path, expected: Counts = FULL_CELEBA) -> dict:
    """Check the CelebA copy at ``root`` and return what it holds.

    Checks that the annotation files list ``expected.images`` images with the
    40 attributes in -1/1 and the expected partition sizes, and that every
    listed image is in the image folder. Returns {"layout", "folder",
    "image_dir", "images", "attributes", "train", "val", "test"}; raises
    ValueError (or FileNotFoundError for absent files) naming what is wrong.
    """
    layout = celeba.find_layout(root)
    table = celeba.read_annotations(root)  # also checks the 40 names and every value in -1/1
    found = Counts(len(table), *(int((table["partition"] == code).sum()) for code in celeba.PARTITIONS.values()))
    if found.images != expected.images:
        raise ValueError(f"{layout.files['attr']} lists {found.images:,} images, expected {expected.images:,}: "
                         f"the label file is incomplete (a cut-off download or extraction?); {celeba.HELP}")
    if found != expected:
        raise ValueError(f"{layout.files['partition']}: partitions train {found.train:,} / val {found.val:,} / "
                         f"test {found.test:,}, expected {expected.train:,} / {expected.val:,} / {expected.test:,}; "
                         f"{celeba.HELP}")
    try:
        celeba.verify_images(table, layout.image_dir)
    except FileNotFoundError as e:
        raise ValueError(str(e)) from None
    return {"layout": layout.name, "folder": str(layout.folder), "image_dir": str(layout.image_dir),
            "images": found.images, "attributes": len(ATTRIBUTES),
            "train": found.train, "val": found.val, "test": found.test}


def describe(counts: dict, dest: Path) -> str:
    """What ``check_celeba`` found, in one line."""
    return (f"CelebA at {dest} ({counts['layout']} layout, images in {counts['image_dir']}): "
            f"{counts['images']:,} images, {counts['attributes']} attributes in -1/1, partitions train "
            f"{counts['train']:,} / val {counts['val']:,} / test {counts['test']:,}, every listed image present")


def _one_paragraph(text: str, limit: int = 400) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _download(dest: Path, force: bool) -> Path:
    """kagglehub's folder of the dataset (downloaded, or from its cache); DownloadError on failure."""
    try:
        import kagglehub
    except ImportError:
        raise DownloadError(f"kagglehub is not installed (pip install kagglehub), so CelebA cannot be downloaded. "
                            f"{manual_route(dest)}") from None
    print(f"downloading {HANDLE} with kagglehub (over 1 GB; kept in kagglehub's cache) ...")
    try:
        path = Path(kagglehub.dataset_download(HANDLE, force_download=force))
    except Exception as e:  # any failure of the download (network, Kaggle, disk) is reported the same way
        raise DownloadError(f"Downloading CelebA from Kaggle ({HANDLE}) with kagglehub failed: {type(e).__name__}: "
                            f"{_one_paragraph(e)}. Check the internet connection (where Kaggle asks for a login, "
                            "an API token in ~/.kaggle/kaggle.json or KAGGLE_USERNAME / KAGGLE_KEY), then run "
                            f"`python -m faceattr_nb.data.download` again. {manual_route(dest)}") from e
    # the files sit at the top of the download, or in its one sub-folder
    subs = [p for p in path.iterdir() if p.is_dir() and (p / "list_attr_celeba.csv").is_file()]
    return subs[0] if not (path / "list_attr_celeba.csv").is_file() and len(subs) == 1 else path


def _clear_for(dest: Path) -> None:
    """Make room at ``dest`` for the link: only a link or an empty folder is removed, never data."""
    if dest.is_symlink():
        dest.unlink()
    elif dest.is_dir() and not any(dest.iterdir()):
        dest.rmdir()
    elif dest.exists():
        raise FileExistsError(f"{dest} already holds files (not a complete CelebA, or --force was given); they are "
                              "left as they are: move that folder away (or delete it) and run the download again, "
                              "or download into another folder (python -m faceattr_nb.data.download DEST, then "
                              "FACEATTR_DATA=DEST)")


def place(source: Path, dest: Path) -> str:
    """Put the downloaded folder ``source`` at ``dest``: a link to it, else moved there. Returns "link" or "move"."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        dest.symlink_to(source.resolve(), target_is_directory=True)
        return "link"
    except OSError:  # e.g. Windows without the right to make links
        shutil.move(str(source), str(dest))
        return "move"


def _complete(dest: Path) -> dict | None:
    """check_celeba's counts when ``dest`` holds a complete CelebA, else None (and why, printed)."""
    if not (dest.exists() or dest.is_symlink()):
        return None
    try:
        return check_celeba(dest, FULL_CELEBA)
    except (ValueError, FileNotFoundError) as e:
        print(f"{dest} is not a complete CelebA yet: {_one_paragraph(e)}")
        return None


def get_celeba(dest: str | Path | None = None, *, force: bool = False) -> Path:
    """Download CelebA (Kaggle layout) to ``dest`` (default data/celeba), check it, return the path.

    A complete copy already at ``dest`` is kept as it is (no download) unless
    ``force``, which downloads again. Raises DownloadError when the download
    fails or brings an incomplete copy; FileExistsError when ``dest`` holds
    something else (it is never deleted).
    """
    dest = Path(dest if dest is not None else DEFAULT_DEST).expanduser().absolute()
    if not force and (counts := _complete(dest)) is not None:
        print(f"{describe(counts, dest)}; already complete, nothing to do")
        return dest
    if dest.exists() and not dest.is_symlink() and any(dest.iterdir()):
        _clear_for(dest)  # raises before a long download that could not be placed
    source = _download(dest, force)
    try:
        check_celeba(source, FULL_CELEBA)
    except (ValueError, FileNotFoundError) as e:
        raise DownloadError(f"The download at {source} is not a complete CelebA: {_one_paragraph(e)}. Run "
                            "`python -m faceattr_nb.data.download --force` to download it again. "
                            f"{manual_route(dest)}") from e
    if dest.resolve() != source.resolve():
        _clear_for(dest)
        how = place(source, dest)
        print(f"{'linked' if how == 'link' else 'moved'} {source} -> {dest}")
    counts = check_celeba(dest, FULL_CELEBA)
    print(describe(counts, dest))
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faceattr_nb.data.download",
                                     description="Download CelebA (Kaggle copy) with kagglehub into DEST and check it.")
    parser.add_argument("dest", nargs="?", default=None,
                        help=f"where to put it (default {DEFAULT_DEST}; elsewhere, set FACEATTR_DATA to it)")
    parser.add_argument("--force", action="store_true", help="download again even if DEST holds a complete copy")
    args = parser.parse_args(argv)
    try:
        get_celeba(args.dest, force=args.force)
    except (DownloadError, FileExistsError) as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
