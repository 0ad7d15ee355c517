"""thresholds: tuned on validation only, optimal on known cases, equal to a brute-force sklearn search."""
import inspect
import time
from contextlib import nullcontext

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from faceattr_nb import thresholds

SKLEARN = {"f1": lambda t, p: f1_score(t, p, zero_division=0), "accuracy": accuracy_score,
           "balanced_accuracy": balanced_accuracy_score}


def known_optimum(n_rep=20):
    """One attribute whose best threshold is 0.3 for F1, accuracy and balanced accuracy:
    every positive scores >= 0.3, negatives sit at 0.29 and below (plus a few high ones)."""
    pos = np.repeat([0.30, 0.40, 0.45, 0.70, 0.90], n_rep)
    neg = np.concatenate([np.repeat([0.05, 0.15, 0.29], 3 * n_rep), np.repeat([0.60], 4)])
    probs = np.concatenate([pos, neg])[:, None]
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))]).astype(np.uint8)[:, None]
    return y, probs


@pytest.mark.parametrize("metric", thresholds.METRICS)
def test_finds_the_known_best_threshold_and_improves_validation(metric):
    y, probs = known_optimum()
    t = thresholds.tune_thresholds(y, probs, metric)
    assert t.tolist() == pytest.approx([0.3])
    tuned = thresholds.score(y, probs, t, metric)[0]
    default = thresholds.score(y, probs, 0.5, metric)[0]
    assert tuned > default
    assert tuned == pytest.approx(SKLEARN[metric](y[:, 0], (probs[:, 0] >= 0.3).astype(int)))


@pytest.mark.parametrize("metric", thresholds.METRICS)
def test_equals_brute_force_sklearn_search(metric):
    rng = np.random.default_rng(0)
    p_true = rng.beta(0.6, 1.5, size=(300, 3))   # calibrated: y ~ Bernoulli(p)
    y = (rng.random(p_true.shape) < p_true).astype(np.uint8)
    probs = np.round(p_true, 2)                  # many ties with grid points
    grid = thresholds.DEFAULT_GRID
    tuned = thresholds.tune_thresholds(y, probs, metric)
    for a in range(3):
        scores = np.array([SKLEARN[metric](y[:, a], (probs[:, a] >= t).astype(int)) for t in grid])
        best = np.flatnonzero(scores >= scores.max() - 1e-12)
        assert tuned[a] == pytest.approx(grid[best[np.argmin(np.abs(grid[best] - 0.5))]])


def test_score_from_counts_equals_sklearn_with_a_missing_class():
    rng = np.random.default_rng(1)
    y = (rng.random((50, 4)) < 0.3).astype(np.uint8)
    y[:, 2] = 0                                  # no positive in the split
    probs = rng.random(y.shape)
    for metric, fn in SKLEARN.items():
        expected = []
        for a in range(4):
            missing_class = metric == "balanced_accuracy" and a == 2
            with pytest.warns(UserWarning) if missing_class else nullcontext():
                expected.append(fn(y[:, a], (probs[:, a] >= 0.5).astype(int)))
        assert thresholds.score(y, probs, 0.5, metric) == pytest.approx(expected)


def test_tuning_never_reads_test_labels(monkeypatch):
    # the API: tuning takes validation arrays only
    assert list(inspect.signature(thresholds.tune_thresholds).parameters) == ["val_y", "val_probs", "metric", "grid"]
    rng = np.random.default_rng(2)
    val_probs = rng.random((200, 40))
    val_y = (rng.random((200, 40)) < val_probs).astype(np.uint8)
    val_only = thresholds.tune_thresholds(val_y, val_probs, "f1")
    calls = []
    real_tune = thresholds.tune_thresholds
    monkeypatch.setattr(thresholds, "tune_thresholds", lambda *a, **k: calls.append(a) or real_tune(*a, **k))
    for test_y, test_probs in [
        (1 - val_y, val_probs),                                          # adversarial: inverted labels
        (rng.integers(0, 2, (50, 40)), rng.random((50, 40))),           # garbage of another size
    ]:
        table = thresholds.threshold_gain(val_y, val_probs, test_y, test_probs, "f1")
        np.testing.assert_array_equal(table["threshold"].to_numpy(), val_only)
        assert table["gain"].to_numpy() == pytest.approx((table.test_tuned - table.test_default).to_numpy())
    assert all(a[0] is val_y and a[1] is val_probs for a in calls) and len(calls) == 2


def test_threshold_gain_columns_and_test_scoring():
    y, probs = known_optimum()
    table = thresholds.threshold_gain(y, probs, y, probs, "f1", attrs=["Mustache"])
    assert list(table.columns) == ["threshold", "val_default", "val_tuned", "test_default", "test_tuned", "gain"]
    assert table.loc["Mustache", "gain"] > 0 and table.attrs["metric"] == "f1"


def test_grid_edge_cases():
    y, probs = known_optimum()
    with pytest.raises(ValueError, match="at least one threshold"):
        thresholds.tune_thresholds(y, probs, grid=[])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        thresholds.tune_thresholds(y, probs, grid=[0.2, 1.5])
    with pytest.raises(ValueError, match="unknown metric"):
        thresholds.tune_thresholds(y, probs, metric="auc")
    assert thresholds.tune_thresholds(y, probs, grid=[0.7]).tolist() == [0.7]
    # unsorted, duplicated custom grid; a threshold equal to a score counts it as positive (>=)
    assert thresholds.tune_thresholds(y, probs, grid=[0.9, 0.3, 0.3, 0.1]).tolist() == [0.3]
    # nothing to gain (no positives, or constant scores): ties keep 0.5
    flat = np.full((20, 2), 0.4)
    labels = np.zeros((20, 2), dtype=np.uint8)
    labels[:5, 1] = 1
    assert thresholds.tune_thresholds(labels, flat, "accuracy").tolist() == [0.5, 0.5]
    with pytest.raises(ValueError, match="NaN"):
        thresholds.tune_thresholds(y, np.full_like(probs, np.nan))
    with pytest.raises(ValueError, match="shape"):
        thresholds.tune_thresholds(y, probs[:-1])
    with pytest.raises(ValueError, match="one per attribute"):
        thresholds.apply_thresholds(probs, [0.5, 0.5])


def test_vectorised_is_fast():
    rng = np.random.default_rng(3)
    probs = rng.random((20000, 40)).astype(np.float32)
    y = (rng.random((20000, 40)) < probs).astype(np.uint8)
    start = time.perf_counter()
    thresholds.tune_thresholds(y, probs, "f1")
    assert time.perf_counter() - start < 3.0   # about 0.1 s alone; loose for a shared 2-core machine


def test_cv_threshold_spread():
    y, probs = known_optimum(n_rep=12)
    groups = np.arange(len(y)) % 10           # 10 identities
    table = thresholds.cv_threshold_spread(y, probs, groups, n_splits=5, metric="f1", seed=0, attrs=["Bald"])
    assert list(table.columns) == ["threshold_mean", "threshold_std", "gain_mean", "gain_std", "gain_min"]
    assert table.loc["Bald", "threshold_mean"] == pytest.approx(0.3) and table.loc["Bald", "threshold_std"] == 0
    assert table.loc["Bald", "gain_mean"] > 0
    rng = np.random.default_rng(4)
    noisy = rng.random((120, 40))
    labels = (rng.random((120, 40)) < noisy).astype(np.uint8)
    ids = rng.integers(0, 30, 120)
    a = thresholds.cv_threshold_spread(labels, noisy, ids, n_splits=3, seed=1)
    b = thresholds.cv_threshold_spread(labels, noisy, ids, n_splits=3, seed=1)
    assert a.equals(b) and len(a) == 40 and (a["threshold_std"] >= 0).all()
    with pytest.raises(ValueError, match="number of groups"):
        thresholds.cv_threshold_spread(labels, noisy, np.zeros(120), n_splits=3)

