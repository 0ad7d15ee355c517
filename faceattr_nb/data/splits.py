"""From a resolved setup to decoded train / val / test caches.

``load_splits(setup, img_size)`` is the one call a notebook makes to get
its data, whatever the source:

* "celeba" or "synthetic": the official partitions of the folder
  (``read_celeba``); on CelebA, only the course subset's images when the
  profile says so (``Profile.subset``: the ``cpu`` profile; only those
  images need to be there); capped at the profile's ``max_train`` /
  ``max_eval`` by a seeded draw of whole identities;
* "real-subset": the course's real-subset folder under its protocol
  (``celeba.real_subset``): train / val / test = the course subset's aligned
  images by official partition, plus "test_b" = the unaligned official-test crops;
* "lfwa": LFWA (``lfwa.read_lfwa``): its train / test halves, a validation
  split carved from the training people.

Listed images that are absent stop the run with their count; with
``FACEATTR_MISSING=skip`` the images that are there are used instead, and
the counts printed (``celeba.verify_images``).

Used in notebooks 02-07.
"""
import os

import numpy as np
import pandas as pd

from faceattr_nb.config import REPO_ROOT, Setup
from faceattr_nb.data import celeba, lfwa
from faceattr_nb.data.loaders import ALIGNED_SIZE, ImageCache, build_cache, cache_from_table

CACHE_DIR = REPO_ROOT / "data" / "cache"


def cap_by_identity(table: pd.DataFrame, n: int | None, seed: int = 0) -> pd.DataFrame:
    """At most ``n`` rows of ``table``, taking whole identities in a seeded random order."""
    if n is None or len(table) <= n:
        return table
    if "identity" not in table:
        return table.sample(n=n, random_state=seed).sort_index()
    ids = table["identity"].unique()
    np.random.default_rng(seed).shuffle(ids)
    sizes = table.groupby("identity").size().reindex(ids).cumsum()
    keep = set(sizes.index[: max(int(np.searchsorted(sizes.to_numpy(), n, side="right")), 1)])
    return table[table["identity"].isin(keep)].head(n)


def missing_images() -> str:
    """What to do about listed images that are absent: $FACEATTR_MISSING ("error" or "skip"), else "error"."""
    return (os.environ.get("FACEATTR_MISSING") or "error").strip().lower()


def split_tables(setup: Setup) -> dict[str, tuple[pd.DataFrame, object]]:
    """{split: (table, image folder)} for the setup's data: its subset, capped by its profile."""
    p = setup.profile
    if setup.source == "real-subset":
        parts = celeba.real_subset(setup.data_root, missing=missing_images())
    elif setup.source == "lfwa":
        table, folder = lfwa.read_lfwa(setup.data_root, seed=setup.seed), lfwa.image_dir(setup.data_root)
        parts = {name: (celeba.split(table, name), folder) for name in ("train", "val", "test")}
    else:
        folder = celeba.image_dir(setup.data_root)
        table = celeba.read_celeba(setup.data_root, check_images=False)
        if setup.source == "celeba":
            table = celeba.select_subset(table, p.subset)
        table = celeba.verify_images(table, folder, missing_images())
        parts = {name: (celeba.split(table, name), folder) for name in ("train", "val", "test")}
    return {name: (cap_by_identity(t, p.max_train if name == "train" else p.max_eval, setup.seed), folder)
            for name, (t, folder) in parts.items()}


def layout_size(setup: Setup, split: str) -> tuple[int, int] | None:
    """The (W, H) every image of ``split`` must have: CelebA's aligned 178x218, except the real subset's
    unaligned "test_b" crops and LFWA (any size)."""
    return None if split == "test_b" or setup.source == "lfwa" else ALIGNED_SIZE


def load_splits(setup: Setup, img_size: int | None = None, gray: bool = False,
                attrs: list[str] | None = None, skip_bad: bool = False, square: bool = True,
                splits: tuple[str, ...] | None = None) -> dict[str, ImageCache]:
    """Decoded caches {"train", "val", "test"[, "test_b"]} at ``img_size`` (default: the profile's); with
    ``splits``, only those of them that the data have (e.g. the test splits, to score saved models).

    ``square``: the centre square of each image (aligned CelebA: rows 20-197 of 218, losing the top of the hair
    and the neck); ``False``: the whole frame squeezed to a square.

    A bad image (unreadable, or not 178x218 where the layout is aligned) raises
    ``loaders.BadImageError`` naming it; ``skip_bad=True`` leaves such images out, with a warning listing them."""
    size = img_size or setup.profile.img_size
    return {name: build_cache(table, folder, size, gray=gray, square=square, cache_dir=CACHE_DIR,
                              source=setup.source, attrs=attrs, workers=setup.profile.workers,
                              expect_size=layout_size(setup, name), skip_bad=skip_bad)
            for name, (table, folder) in split_tables(setup).items() if splits is None or name in splits}


def load_crops(setup: Setup, kind: str = "A", attrs: list[str] | None = None, size: int = 36,
               augment: bool = True) -> dict[str, ImageCache]:
    """The FaceNet report's gray face crops (type "A" or "B") of every split, as caches.

    The training split gets the ×4 augmentation (flip, 2x2 blur, both) when
    ``augment``. Aligned images without a landmark file (the real subset) use
    the aligned-CelebA landmark template; the unaligned "test_b" crops are
    already faces and are only resized.
    """
    from faceattr_nb.attributes import ATTRIBUTES
    from faceattr_nb.data import crops

    attrs = list(attrs or ATTRIBUTES)
    out = {}
    for name, (table, folder) in split_tables(setup).items():
        if name == "test_b":
            out[name] = build_cache(table, folder, size, gray=True, cache_dir=CACHE_DIR, source=setup.source,
                                    attrs=attrs, workers=setup.profile.workers)
            continue
        if "nose_x" not in table:
            table = crops.with_template_landmarks(table)
        x = crops.crop_faces(table, folder, kind=kind, size=size, workers=setup.profile.workers,
                             cache_dir=CACHE_DIR, expect_size=layout_size(setup, name))
        cache = cache_from_table(x, table, attrs, gray=True, source=setup.source)
        out[name] = augment_cache(cache) if name == "train" and augment else cache
    return out


def augment_cache(cache: ImageCache) -> ImageCache:
    """The ×4 augmentation of a gray crop cache (rows repeated in augment_x4's block order)."""
    from faceattr_nb.data import crops
    return cache._replace(x=crops.augment_x4(cache.x), y=crops.repeat_x4(cache.y), ids=cache.ids * 4,
                          identity=np.tile(cache.identity, 4))
