"""Per-attribute decision thresholds, tuned on the validation split only.

A sigmoid output is turned into a label by ``probs >= threshold``. The
transfer report "explored different thresholds for each label to maximize
the F1 score, a critical step given the imbalance across labels"; here the
search is a grid per attribute on the VALIDATION split, the chosen
thresholds are then applied, frozen, to test. ``tune_thresholds`` takes
only validation arrays, so test labels cannot leak into the choice;
``threshold_gain`` scores the frozen choice on test and
``cv_threshold_spread`` shows how much the choice and its gain move under
identity-grouped cross-validation of the (small) validation split.

Metrics come from per-attribute confusion counts with scikit-learn's
definitions and ``zero_division=0`` (tests check equality with sklearn):
F1 = 2TP / (2TP + FP + FN); accuracy = (TP + TN) / N; balanced accuracy =
mean recall over the classes present in y_true (as
``sklearn.metrics.balanced_accuracy_score``). Used in notebooks 03 and 07.
"""
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from faceattr_nb.attributes import ATTRIBUTES

METRICS = ("f1", "accuracy", "balanced_accuracy")
DEFAULT_GRID = np.round(np.linspace(0.02, 0.98, 49), 6)  # 0.02, 0.04 ... 0.98: exact decimals, contains 0.5


def apply_thresholds(probs: np.ndarray, thresholds: float | np.ndarray = 0.5) -> np.ndarray:
    """0/1 labels (N, A) uint8: ``probs >= thresholds`` (scalar or one per attribute)."""
    probs = np.asarray(probs, dtype=np.float64)
    t = np.asarray(thresholds, dtype=np.float64)
    if probs.ndim != 2:
        raise ValueError(f"probs must be (N, A), got shape {probs.shape}")
    if t.ndim > 1 or (t.ndim == 1 and len(t) != probs.shape[1]):
        raise ValueError(f"thresholds must be a scalar or one per attribute ({probs.shape[1]}), got shape {t.shape}")
    return (probs >= t).astype(np.uint8)  # (N, A)


def score_from_counts(tp, fp, fn, tn, metric: str = "f1") -> np.ndarray:
    """``metric`` from confusion counts of any (matching) shape; 0 where undefined."""
    tp, fp, fn, tn = (np.asarray(c, dtype=np.float64) for c in (tp, fp, fn, tn))
    _check_metric(metric)
    if metric == "f1":
        return _safe_div(2 * tp, 2 * tp + fp + fn)
    if metric == "accuracy":
        return _safe_div(tp + tn, tp + fp + fn + tn)
    pos, neg = tp + fn, tn + fp  # classes present in y_true
    present = (pos > 0).astype(np.float64) + (neg > 0)
    return _safe_div(_safe_div(tp, pos) + _safe_div(tn, neg), present)


def score(y: np.ndarray, probs: np.ndarray, thresholds: float | np.ndarray = 0.5,
          metric: str = "f1") -> np.ndarray:
    """Per-attribute ``metric`` (A,) of ``probs >= thresholds`` against labels ``y``."""
    y = check_labels(y, "y")
    pred = apply_thresholds(_probs(probs, y, "probs"), thresholds).astype(bool)
    truth = y.astype(bool)
    tp, fp = (pred & truth).sum(0), (pred & ~truth).sum(0)
    fn, tn = (~pred & truth).sum(0), (~pred & ~truth).sum(0)
    return score_from_counts(tp, fp, fn, tn, metric)


def tune_thresholds(val_y: np.ndarray, val_probs: np.ndarray, metric: str = "f1",
                    grid: np.ndarray | None = None) -> np.ndarray:
    """Per-attribute thresholds (A,) maximising ``metric`` on the validation split.

    Searches ``grid`` (default 0.02, 0.04 ... 0.98); among thresholds that tie
    on the best score the one closest to 0.5 wins, so an attribute whose score
    does not depend on the threshold keeps 0.5. Vectorised with one sort per
    attribute: 20,000 x 40 takes well under a second.
    """
    y = check_labels(val_y, "val_y")
    probs = _probs(val_probs, y, "val_probs")
    grid = _grid(grid)
    scores = _grid_scores(y, probs, grid, metric)  # (T, A)
    best = scores >= scores.max(axis=0, keepdims=True) - 1e-12
    distance = np.where(best, np.abs(grid - 0.5)[:, None], np.inf)  # (T, A)
    return grid[distance.argmin(axis=0)]


def threshold_gain(val_y: np.ndarray, val_probs: np.ndarray, test_y: np.ndarray, test_probs: np.ndarray,
                   metric: str = "f1", grid: np.ndarray | None = None,
                   attrs: list[str] | None = None) -> pd.DataFrame:
    """Tune on validation, freeze, score on test: one row per attribute.

    Columns: threshold, val_default / val_tuned (metric at 0.5 and at the
    threshold on validation), test_default / test_tuned (the same on test),
    gain = test_tuned - test_default. The test arrays are used for scoring only.
    """
    thresholds = tune_thresholds(val_y, val_probs, metric, grid)
    table = pd.DataFrame({
        "threshold": thresholds,
        "val_default": score(val_y, val_probs, 0.5, metric),
        "val_tuned": score(val_y, val_probs, thresholds, metric),
        "test_default": score(test_y, test_probs, 0.5, metric),
        "test_tuned": score(test_y, test_probs, thresholds, metric),
    }, index=pd.Index(attr_names(attrs, len(thresholds)), name="attribute"))
    table["gain"] = table["test_tuned"] - table["test_default"]
    table.attrs["metric"] = metric
    return table


def cv_threshold_spread(val_y: np.ndarray, val_probs: np.ndarray, groups: np.ndarray, n_splits: int = 5,
                        metric: str = "f1", seed: int = 0, grid: np.ndarray | None = None,
                        attrs: list[str] | None = None) -> pd.DataFrame:
    """How stable is a threshold tuned on a small split? Identity-grouped k-fold.

    The validation split is cut by ``groups`` (identities: no person on both
    sides) with sklearn's ``GroupKFold(shuffle=True, random_state=seed)``;
    thresholds are tuned on k-1 folds and the gain over 0.5 is scored on the
    held-out fold. One row per attribute: threshold_mean, threshold_std,
    gain_mean, gain_std, gain_min (std with ddof=0 over the k folds).
    """
    y = check_labels(val_y, "val_y")
    probs = _probs(val_probs, y, "val_probs")
    groups = np.asarray(groups)
    if len(groups) != len(y):
        raise ValueError(f"groups has {len(groups)} entries but val_y has {len(y)} rows")
    n_groups = len(np.unique(groups))
    if not 2 <= n_splits <= n_groups:
        raise ValueError(f"n_splits={n_splits} needs 2 <= n_splits <= number of groups ({n_groups}); "
                         "lower n_splits or pass finer groups")
    folds = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed).split(probs, y, groups)
    chosen, gains = [], []
    for fit_idx, held_idx in folds:
        t = tune_thresholds(y[fit_idx], probs[fit_idx], metric, grid)
        chosen.append(t)
        gains.append(score(y[held_idx], probs[held_idx], t, metric)
                     - score(y[held_idx], probs[held_idx], 0.5, metric))
    chosen, gains = np.stack(chosen), np.stack(gains)  # (k, A)
    table = pd.DataFrame({
        "threshold_mean": chosen.mean(0), "threshold_std": chosen.std(0),
        "gain_mean": gains.mean(0), "gain_std": gains.std(0), "gain_min": gains.min(0),
    }, index=pd.Index(attr_names(attrs, y.shape[1]), name="attribute"))
    table.attrs.update(metric=metric, n_splits=n_splits)
    return table


def check_labels(y: np.ndarray, name: str = "y") -> np.ndarray:
    """``y`` as uint8 (N, A), or a ValueError saying what is wrong with it."""
    y = np.asarray(y)
    if y.ndim != 2:
        raise ValueError(f"{name} must be (N, A) labels in {{0,1}}, got shape {y.shape}")
    if len(y) == 0:
        raise ValueError(f"{name} is empty: nothing to score")
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 and 1 (map CelebA's -1 to 0; turn probabilities into "
                         "labels with thresholds.apply_thresholds)")
    return y.astype(np.uint8)


def attr_names(attrs: list[str] | None, num_attrs: int) -> list[str]:
    """The names of ``num_attrs`` label columns: ``attrs``, or the 40 CelebA names when None."""
    if attrs is None:
        if num_attrs != len(ATTRIBUTES):
            raise ValueError(f"{num_attrs} attribute columns: pass attrs= (the names of the columns)")
        return list(ATTRIBUTES)
    if len(attrs) != num_attrs:
        raise ValueError(f"attrs has {len(attrs)} names but the arrays have {num_attrs} columns")
    return list(attrs)


def _grid_scores(y: np.ndarray, probs: np.ndarray, grid: np.ndarray, metric: str) -> np.ndarray:
    """``metric`` for every grid threshold and attribute, (T, A), from sorted scores."""
    num_attrs = y.shape[1]
    out = np.empty((len(grid), num_attrs))  # (T, A)
    for a in range(num_attrs):
        pos = np.sort(probs[y[:, a] == 1, a])
        neg = np.sort(probs[y[:, a] == 0, a])
        tp = len(pos) - np.searchsorted(pos, grid, side="left")  # positives with p >= t
        fp = len(neg) - np.searchsorted(neg, grid, side="left")
        out[:, a] = score_from_counts(tp, fp, len(pos) - tp, len(neg) - fp, metric)
    return out


def _grid(grid: np.ndarray | None) -> np.ndarray:
    grid = DEFAULT_GRID if grid is None else np.unique(np.asarray(grid, dtype=np.float64).ravel())
    if grid.size == 0 or not np.isfinite(grid).all() or grid.min() < 0 or grid.max() > 1:
        raise ValueError(f"grid must hold at least one threshold, all in [0, 1]; got {grid}")
    return grid


def _probs(probs: np.ndarray, y: np.ndarray, name: str) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != y.shape:
        raise ValueError(f"{name} has shape {probs.shape} but its labels have {y.shape}")
    if not np.isfinite(probs).all():
        raise ValueError(f"{name} contains NaN or inf: check the model's outputs before tuning")
    return probs


def _check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return np.divide(a, b, out=np.zeros_like(a), where=b != 0)
