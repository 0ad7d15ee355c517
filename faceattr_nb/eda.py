"""Tables for the exploratory analysis of notebook 01: partitions, identities, imbalance, and
how consistently one person's photos are labelled.

Each function takes a ``read_celeba`` / ``read_annotations`` table and
returns a pandas table; the plots live in ``plots.py``. Used in notebook 01 (and
``label_consistency`` in the Errors sections of 04-06).
"""
import numpy as np
import pandas as pd
from scipy.stats import binom

from faceattr_nb.attributes import ATTRIBUTES, DISPLAY_NAMES, group_of
from faceattr_nb.metrics import majority_baseline

PARTITION_NAMES = {0: "train", 1: "val", 2: "test"}


def partition_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Images, share, identities and images per identity for each partition."""
    parts = table["partition"].map(PARTITION_NAMES)
    out = pd.DataFrame({"images": parts.value_counts().reindex(PARTITION_NAMES.values())})
    out["share"] = out["images"] / len(table)
    out["first_id"] = table.groupby(parts)["image_id"].min()
    out["last_id"] = table.groupby(parts)["image_id"].max()
    if "identity" in table:
        out["identities"] = table.groupby(parts)["identity"].nunique()
        out["images_per_identity"] = out["images"] / out["identities"]
    return out


def identities_crossing_partitions(table: pd.DataFrame) -> int:
    """How many identities have images in more than one partition (0 for CelebA)."""
    if "identity" not in table:
        return 0
    return int((table.groupby("identity")["partition"].nunique() > 1).sum())


def imbalance_table(table: pd.DataFrame, attrs: list[str] | None = None) -> pd.DataFrame:
    """Per attribute: positive rate, majority share, imbalance ratio (majority / minority), group."""
    attrs = list(attrs or ATTRIBUTES)
    rate = table[attrs].mean()
    minority = np.minimum(rate, 1 - rate)
    out = pd.DataFrame({"display": [DISPLAY_NAMES[a] for a in attrs], "group": [group_of(a) for a in attrs],
                        "positive_rate": rate, "majority_share": 1 - minority,
                        "imbalance_ratio": (1 - minority) / minority.clip(lower=1e-9)}, index=attrs)
    out.index.name = "attribute"
    return out.sort_values("imbalance_ratio", ascending=False)


def majority_on_partition(table: pd.DataFrame, eval_partition: int = 2,
                          attrs: list[str] | None = None) -> pd.DataFrame:
    """The majority-class predictor fitted on the train partition, scored on ``eval_partition``."""
    attrs = list(attrs or ATTRIBUTES)
    train_y = table.loc[table["partition"] == 0, attrs].to_numpy()
    eval_y = table.loc[table["partition"] == eval_partition, attrs].to_numpy()
    return majority_baseline(train_y, eval_y, attrs)


def label_consistency(labels: pd.DataFrame | np.ndarray, identity: np.ndarray,
                      attrs: list[str] | None = None) -> pd.DataFrame:
    """Per attribute, how alike one person's photos are labelled.

    ``labels``: a table with attribute columns, or an (N, A) 0/1 array with ``attrs``
    naming its columns (default CelebA's 40); ``identity``: (N,) the person of each
    image (-1: unknown, as the loaders mark Kaggle's copy, which has no identities; left
    out). Only people with two or more images count. Columns: ``people``, ``both
    labels`` (people with photos labelled 1 and photos labelled 0), ``share with both``
    and ``agreement`` (the mean share of a person's photos that carry that person's
    more frequent label; 1.0: every person labelled alike), ``share with both by chance`` and
    ``agreement by chance`` (what the two would be if the labels ignored the person: each
    person's photos labelled 1 at random at the attribute's rate, K ~ Binomial(n, p) for a
    person with n photos), ``agreement beyond chance`` (the share of the gap from chance to 1.0
    that the agreement closes: 0 when the labels ignore the person, 1 when every person is
    labelled alike), and ``positive_rate``.
    A nose or a jaw is the same in every photo of a person: where such an attribute has
    both labels, the same face was called differently (by two annotators, or from two
    angles), or a photo is mislabelled; a smile, glasses or a hat may really change. Read
    ``agreement`` against its chance value: both grow towards 1 as an attribute gets rarer,
    and ``share with both`` grows with the number of photos per person."""
    if isinstance(labels, pd.DataFrame):
        attrs = list(attrs or [a for a in ATTRIBUTES if a in labels.columns])
        values = labels[attrs].to_numpy()
    else:
        values = np.asarray(labels)
        attrs = list(attrs or ATTRIBUTES)
        if values.ndim != 2 or values.shape[1] != len(attrs):
            raise ValueError(f"labels {values.shape} need one name per column: pass attrs= ({len(attrs)} given)")
    identity = np.asarray(identity)
    if len(identity) != len(values):
        raise ValueError(f"{len(values)} label rows but {len(identity)} identities")
    frame = pd.DataFrame(values.astype(np.float64), columns=attrs)
    known = identity >= 0 if np.issubdtype(identity.dtype, np.integer) else np.ones(len(identity), bool)
    grouped = frame[known].groupby(identity[known])
    counts = grouped.size()
    several = counts.to_numpy() >= 2
    rate = grouped.mean()[several]  # (people, A): each person's share of positive photos
    photos = counts[several].to_numpy()  # (people,)
    both_by_chance, agreement_by_chance = _chance(photos, (rate * photos[:, None]).sum() / photos.sum())
    out = pd.DataFrame({"people": len(rate), "both labels": ((rate > 0) & (rate < 1)).sum(),
                        "share with both": ((rate > 0) & (rate < 1)).mean(),
                        "agreement": np.maximum(rate, 1 - rate).mean(),
                        "share with both by chance": both_by_chance, "agreement by chance": agreement_by_chance,
                        "positive_rate": frame.mean()}, index=pd.Index(attrs, name="attribute"))
    out.insert(out.columns.get_loc("positive_rate"), "agreement beyond chance",
               (out["agreement"] - out["agreement by chance"]) / (1 - out["agreement by chance"]))
    return out.astype({"people": int, "both labels": int})


def _chance(photos: np.ndarray, p: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per attribute, the mean over people (``photos``: each one's photo count) of the share
    with both labels and of the agreement, when a person's K of n photos are labelled 1 with
    K ~ Binomial(n, p): 1 - p^n - (1 - p)^n and E[max(K, n - K)] / n."""
    p = np.asarray(p, dtype=np.float64)  # (A,)
    if not len(photos):  # nobody with two photos: nothing to compare
        return np.full_like(p, np.nan), np.full_like(p, np.nan)
    both, agreement = np.zeros_like(p), np.zeros_like(p)
    for n, people in zip(*np.unique(photos, return_counts=True)):
        k = np.arange(n + 1)[:, None]  # (n + 1, 1)
        both += people * (1 - p ** n - (1 - p) ** n)
        agreement += people * (binom.pmf(k, n, p) * np.maximum(k, n - k) / n).sum(0)
    return both / len(photos), agreement / len(photos)
