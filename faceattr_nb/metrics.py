"""Multi-label metrics of the course: per attribute, over all labels, and the baselines.

Inputs are numpy arrays (N, A) with labels and predictions in {0,1}; outputs
are pandas tables indexed by attribute, or plain dicts of floats (JSON-ready,
written into run records). scikit-learn computes every metric it has, always
with ``zero_division=0``.

Definitions (the transfer report, section 5, names them; its references 6-7):
- hamming_loss: fraction of the N x A labels that are wrong (sklearn).
- custom_accuracy: the report's CustomAccuracy, (TP + TN) / (TP + TN + FP + FN)
  over all labels; the same number as 1 - hamming_loss.
- hamming_score: mean over samples of |T ∩ P| / |T ∪ P| (T, P: the sets of true
  and predicted positive attributes of one face). The report's table calls it
  "Hamming Score" (0.57 beside a hamming loss of 0.11, so it is not 1 - loss)
  and its "MultiLabelAccuracy" is the same per-sample Jaccard index, so
  jaccard_samples == hamming_score. A face with T ∪ P empty counts as 1.0
  (nothing to find, nothing claimed): sklearn's
  ``jaccard_score(average="samples", zero_division=1.0)``.
- subset_accuracy: all 40 labels of a face right (sklearn ``accuracy_score``).
- precision / recall / f1, micro (pooled counts) and macro (mean over attributes).
- majority_accuracy: accuracy of predicting, per attribute, the majority class
  of the training labels (ties go to 1) — the floor every model must beat.
Used in notebooks 01-07.
"""
import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    hamming_loss,
    jaccard_score,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)

from faceattr_nb.thresholds import apply_thresholds, attr_names, check_labels, score_from_counts

SUMMARY_KEYS = ("mean_accuracy", "mean_balanced_accuracy", "macro_f1", "micro_f1",
                "hamming_loss", "hamming_score", "majority_accuracy")


def majority_predict(train_y: np.ndarray, n: int) -> np.ndarray:
    """(n, A) uint8: each attribute's majority class in ``train_y`` (ties: 1), repeated n times."""
    train_y = check_labels(train_y, "train_y")
    majority = (train_y.mean(axis=0) >= 0.5).astype(np.uint8)  # (A,)
    return np.tile(majority, (n, 1))


def per_attribute(y_true: np.ndarray, y_pred: np.ndarray, attrs: list[str] | None = None,
                  train_y: np.ndarray | None = None) -> pd.DataFrame:
    """One row per attribute: accuracy, balanced_accuracy, precision, recall, f1,
    positive_rate (of y_true), support_pos, majority_accuracy (majority class of
    ``train_y``, else of ``y_true``, scored on ``y_true``)."""
    y_true, y_pred = _pair(y_true, y_pred)
    n = len(y_true)
    (tn, fp), (fn, tp) = multilabel_confusion_matrix(y_true, y_pred).transpose(1, 2, 0)  # each (A,)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, zero_division=0)
    majority = majority_predict(y_true if train_y is None else train_y, 1)  # (1, A)
    if majority.shape[1] != y_true.shape[1]:
        raise ValueError(f"train_y has {majority.shape[1]} columns but y_true has {y_true.shape[1]}")
    return pd.DataFrame({
        "accuracy": (tp + tn) / n,
        "balanced_accuracy": score_from_counts(tp, fp, fn, tn, "balanced_accuracy"),
        "precision": precision, "recall": recall, "f1": f1,
        "positive_rate": y_true.mean(axis=0),
        "support_pos": support.astype(np.int64),
        "majority_accuracy": (y_true == majority).mean(axis=0),
    }, index=pd.Index(attr_names(attrs, y_true.shape[1]), name="attribute"))


def majority_baseline(train_y: np.ndarray, eval_y: np.ndarray, attrs: list[str] | None = None) -> pd.DataFrame:
    """The majority predictor of ``train_y`` scored on ``eval_y``: majority_class,
    accuracy, balanced_accuracy (0.5 wherever both classes occur), f1."""
    eval_y = check_labels(eval_y, "eval_y")
    pred = majority_predict(train_y, len(eval_y))
    table = per_attribute(eval_y, pred, attrs, train_y=train_y)
    table.insert(0, "majority_class", pred[0].astype(np.int64))
    return table[["majority_class", "accuracy", "balanced_accuracy", "f1"]]


def majority_summary(train_y: np.ndarray, eval_y: np.ndarray) -> dict[str, float]:
    """``summary`` of the majority predictor of ``train_y`` scored on ``eval_y``: the floor row of
    every comparison table (its balanced accuracy is 0.5 wherever both classes occur)."""
    eval_y = check_labels(eval_y, "eval_y")
    return summary(eval_y, majority_predict(train_y, len(eval_y)), train_y)


def multilabel(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """The report's table over all labels: hamming_loss, hamming_score,
    jaccard_samples, custom_accuracy, subset_accuracy, precision/recall/f1 micro and macro."""
    y_true, y_pred = _pair(y_true, y_pred)
    loss = hamming_loss(y_true, y_pred)
    jaccard = jaccard_score(y_true, y_pred, average="samples", zero_division=1.0)
    out = {"hamming_loss": loss, "hamming_score": jaccard, "jaccard_samples": jaccard,
           "custom_accuracy": 1.0 - loss, "subset_accuracy": accuracy_score(y_true, y_pred)}
    for average in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        out.update({f"precision_{average}": p, f"recall_{average}": r, f"f1_{average}": f})
    return {k: float(v) for k, v in out.items()}


def summary(y_true: np.ndarray, y_pred: np.ndarray, train_y: np.ndarray | None = None,
            table: pd.DataFrame | None = None) -> dict[str, float]:
    """The run record's summary: mean_accuracy, mean_balanced_accuracy, macro_f1,
    micro_f1, hamming_loss, hamming_score, majority_accuracy (means over attributes).
    Pass ``table`` (from ``per_attribute``) to skip recomputing it."""
    if table is None:
        attrs = [str(i) for i in range(np.shape(y_true)[1])]
        table = per_attribute(y_true, y_pred, attrs, train_y)
    overall = multilabel(y_true, y_pred)
    return {
        "mean_accuracy": float(table["accuracy"].mean()),
        "mean_balanced_accuracy": float(table["balanced_accuracy"].mean()),
        "macro_f1": overall["f1_macro"], "micro_f1": overall["f1_micro"],
        "hamming_loss": overall["hamming_loss"], "hamming_score": overall["hamming_score"],
        "majority_accuracy": float(table["majority_accuracy"].mean()),
    }


def evaluate(y_true: np.ndarray, probs: np.ndarray, attrs: list[str] | None = None,
             thresholds: float | np.ndarray = 0.5,
             train_y: np.ndarray | None = None) -> tuple[pd.DataFrame, dict[str, float]]:
    """Probabilities -> (per-attribute table, summary dict) at ``probs >= thresholds``.
    Called by ``train.fit`` for the validation and test splits."""
    y_pred = apply_thresholds(probs, thresholds)
    table = per_attribute(y_true, y_pred, attrs, train_y)
    return table, summary(y_true, y_pred, train_y, table=table)


def minority_reference(y: np.ndarray, attrs: list[str] | None = None,
                       accuracy_for: tuple[str, ...] = ("Male",)) -> pd.DataFrame:
    """The FaceNet report's reference scores (its page 3) per attribute.

    It takes the minority class as the positive label and scores the
    "minority estimator" (always predict the minority class): its F1 is
    2m / (1 + m) for a minority rate m (Mustache: 0.080, No_Beard: 0.283).
    For gender, which it scores by accuracy (``accuracy_for``), it quotes the
    accuracy of the majority predictor, 1 - m, instead. Columns:
    positive_rate, minority_class, minority_rate, minority_f1,
    majority_accuracy, reference_metric ('f1' or 'accuracy'), reference.
    """
    y = check_labels(y, "y")
    rate = y.mean(axis=0)
    minority_class = (rate < 0.5).astype(np.int64)  # 1 when positives are rarer
    m = np.minimum(rate, 1 - rate)
    names = attr_names(attrs, y.shape[1])
    by_accuracy = np.isin(names, list(accuracy_for))
    table = pd.DataFrame({
        "positive_rate": rate, "minority_class": minority_class, "minority_rate": m,
        "minority_f1": 2 * m / (1 + m), "majority_accuracy": 1 - m,
        "reference_metric": np.where(by_accuracy, "accuracy", "f1"),
    }, index=pd.Index(names, name="attribute"))
    table["reference"] = np.where(by_accuracy, table["majority_accuracy"], table["minority_f1"])
    return table


def minority_f1(table: pd.DataFrame) -> pd.Series:
    """F1 with each attribute's minority class as the positive one (the FaceNet report's convention).

    ``table`` is a ``per_attribute`` table. The minority class is the rarer one
    in its labels (positive_rate < 0.5: the 1s; else the 0s, e.g. a beard for
    No_Beard). The counts, as shares of the images, follow from its accuracy,
    recall and positive rate; NaN where no image holds the minority class
    (the score is undefined there, not 0).
    """
    p = table["positive_rate"]
    tp = table["recall"] * p
    tn = table["accuracy"] - tp
    fp, fn = (1 - p) - tn, p - tp
    f1_pos = table["f1"]
    f1_neg = (2 * tn / (2 * tn + fp + fn)).where(2 * tn + fp + fn > 0, 0.0)
    minority_is_pos = p < 0.5
    f1 = f1_pos.where(minority_is_pos, f1_neg).astype(float)
    has_minority = np.where(minority_is_pos, p > 0, p < 1)
    return f1.where(has_minority).rename("minority_f1")


def compare_table(results: dict[str, dict], baseline: dict | None = None,
                  baseline_name: str = "majority baseline") -> pd.DataFrame:
    """Summaries side by side, one row per run, the baseline (a summary of the
    majority predictor on the same data) as the first row."""
    rows = ({baseline_name: baseline} if baseline is not None else {}) | dict(results)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "run"
    return table


def label_correlation(labels: pd.DataFrame | np.ndarray, attrs: list[str] | None = None) -> pd.DataFrame:
    """Phi coefficients (Pearson on 0/1 labels), A x A; 0 for a constant attribute."""
    if not isinstance(labels, pd.DataFrame):
        labels = check_labels(labels, "labels")
        labels = pd.DataFrame(labels, columns=attr_names(attrs, labels.shape[1]))
    elif attrs is not None:
        labels = labels[list(attrs)]
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(labels.to_numpy(dtype=np.float64), rowvar=False)  # (A, A)
    corr = np.nan_to_num(corr, nan=0.0)
    np.fill_diagonal(corr, 1.0)
    return pd.DataFrame(corr, index=labels.columns, columns=labels.columns)


def strongest_pairs(labels: pd.DataFrame | np.ndarray, k: int = 10, attrs: list[str] | None = None) -> pd.DataFrame:
    """The k most positively and k most negatively correlated attribute pairs.
    Columns: attr_a, attr_b, phi, sign ('positive' rows first, then 'negative').
    Lives here (a table, not a figure); plotted by ``plots.correlation_heatmap``. Used in notebook 01."""
    corr = label_correlation(labels, attrs)
    upper = np.triu(np.ones(corr.shape, dtype=bool), k=1)
    pairs = corr.where(upper).stack().rename("phi").reset_index()
    pairs.columns = ["attr_a", "attr_b", "phi"]
    pos = pairs[pairs.phi > 0].nlargest(k, "phi").assign(sign="positive")
    neg = pairs[pairs.phi < 0].nsmallest(k, "phi").assign(sign="negative")
    return pd.concat([pos, neg], ignore_index=True)


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = check_labels(y_true, "y_true"), check_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must have the same shape")
    return y_true, y_pred


# ---------------------------------------------------------------- how much of a difference is noise

def bootstrap_mean(values: np.ndarray, groups: np.ndarray, n_boot: int = 2000, level: float = 0.95,
                   seed: int = 0) -> dict[str, float]:
    """Mean of per-image ``values`` with a percentile bootstrap interval over ``groups``.

    ``values``: (N,) or (N, A) per-image scores (A columns are averaged, so a
    0/1 "correct" matrix gives mean accuracy); ``groups``: (N,) identities. The
    faces of one person are not independent, so each bootstrap draw resamples
    whole identities with replacement and keeps all their images (a group id
    of -1 counts as its own identity per image). Returns {"mean", "low",
    "high", "n_groups"}. Used in notebook 07 and benchmarks/real_subset.py.
    """
    values = np.asarray(values, dtype=np.float64)
    per_image = values.mean(axis=1) if values.ndim == 2 else values  # (N,)
    groups = np.asarray(groups)
    if len(groups) != len(per_image):
        raise ValueError(f"values has {len(per_image)} rows but groups has {len(groups)}")
    if not 0 < level < 1:
        raise ValueError(f"level={level}: give the interval's coverage as a fraction, e.g. 0.95")
    groups = np.where(groups == -1, -1 - np.arange(len(groups)), groups)  # unknown identity: its own group
    _, inverse = np.unique(groups, return_inverse=True)
    sums = np.bincount(inverse, weights=per_image)          # (G,) score sum per identity
    counts = np.bincount(inverse).astype(np.float64)        # (G,) images per identity
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(len(sums), np.full(len(sums), 1 / len(sums)), size=n_boot)  # (n_boot, G)
    boot = (draws @ sums) / (draws @ counts)                # (n_boot,) mean per resample
    alpha = (1 - level) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return {"mean": float(per_image.mean()), "low": float(low), "high": float(high), "n_groups": int(len(sums))}


def mean_accuracy(y_true: np.ndarray, probs: np.ndarray, threshold: float = 0.5) -> float:
    """Mean accuracy over images and attributes of ``probs >= threshold`` against the 0/1 labels ``y_true``."""
    return float(((np.asarray(probs) >= threshold) == np.asarray(y_true).astype(bool)).mean())


def accuracy_ci(y_true: np.ndarray, probs: np.ndarray, groups: np.ndarray, threshold: float | np.ndarray = 0.5,
                **kw) -> dict[str, float]:
    """Mean accuracy over images and attributes, with its identity-bootstrap interval (``bootstrap_mean``)."""
    y_true, y_pred = _pair(y_true, apply_thresholds(probs, threshold))
    return bootstrap_mean(y_true == y_pred, groups, **kw)


def paired_difference_ci(y_true: np.ndarray, probs_a: np.ndarray, probs_b: np.ndarray, groups: np.ndarray,
                         threshold: float | np.ndarray = 0.5, **kw) -> dict[str, float]:
    """Mean accuracy of model A minus model B on the same images, with a paired identity-bootstrap interval.

    Both models are scored on the same resampled identities in every draw, so
    the interval is that of the difference, much narrower than the two
    separate intervals suggest. "A beats B" holds only when ``low > 0``.
    """
    y_true, pred_a = _pair(y_true, apply_thresholds(probs_a, threshold))
    _, pred_b = _pair(y_true, apply_thresholds(probs_b, threshold))
    diff = (pred_a == y_true).astype(np.float64) - (pred_b == y_true)
    return bootstrap_mean(diff, groups, **kw)


def paired_verdict(d: dict[str, float], min_groups: int = 20) -> str:
    """How A compares with B from ``paired_difference_ci``'s result, as a sentence fragment:
    "better than" / "worse than" only when the interval excludes 0, else "not distinguishable from";
    "too few identities to compare with" under ``min_groups`` test identities (a bootstrap over a
    handful of people says nothing). Used in notebooks 04-06."""
    if d["n_groups"] < min_groups:
        return "too few identities to compare with"
    return "better than" if d["low"] > 0 else "worse than" if d["high"] < 0 else "not distinguishable from"
