"""Tables for the exploratory analysis of notebook 01: partitions, identities, imbalance.

Each function takes a ``read_celeba`` / ``read_annotations`` table and
returns a pandas table; the plots live in ``plots.py``. Used in notebook 01.
"""
import numpy as np
import pandas as pd

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
