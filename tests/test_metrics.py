"""metrics: equal to scikit-learn on random data, baselines and the hamming score by hand."""
import json
from contextlib import nullcontext

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    hamming_loss,
    precision_score,
    recall_score,
)

from faceattr_nb import metrics
from faceattr_nb.attributes import ATTRIBUTES


def random_labels(seed=0, n=200, num_attrs=40):
    rng = np.random.default_rng(seed)
    y_true = (rng.random((n, num_attrs)) < rng.uniform(0.05, 0.7, num_attrs)).astype(np.uint8)
    y_pred = np.where(rng.random((n, num_attrs)) < 0.8, y_true, 1 - y_true).astype(np.uint8)
    y_true[:, 4] = 0   # an attribute absent from the split (Bald in a small split)
    y_pred[:, 7] = 0   # an attribute never predicted
    return y_true, y_pred


def test_per_attribute_equals_sklearn():
    y_true, y_pred = random_labels()
    table = metrics.per_attribute(y_true, y_pred)
    assert list(table.index) == ATTRIBUTES
    assert list(table.columns) == ["accuracy", "balanced_accuracy", "precision", "recall", "f1",
                                   "positive_rate", "support_pos", "majority_accuracy"]
    for a, name in enumerate(ATTRIBUTES):
        t, p = y_true[:, a], y_pred[:, a]
        row = table.loc[name]
        assert row.accuracy == pytest.approx(accuracy_score(t, p))
        with pytest.warns(UserWarning) if name == "Bald" else nullcontext():
            assert row.balanced_accuracy == pytest.approx(balanced_accuracy_score(t, p))
        assert row.precision == pytest.approx(precision_score(t, p, zero_division=0))
        assert row.recall == pytest.approx(recall_score(t, p, zero_division=0))
        assert row.f1 == pytest.approx(f1_score(t, p, zero_division=0))
        assert row.positive_rate == pytest.approx(t.mean())
        assert row.support_pos == t.sum()


def test_multilabel_equals_sklearn_and_defines_custom_accuracy():
    y_true, y_pred = random_labels(seed=1)
    out = metrics.multilabel(y_true, y_pred)
    assert out["hamming_loss"] == pytest.approx(hamming_loss(y_true, y_pred))
    assert out["custom_accuracy"] == pytest.approx((y_true == y_pred).mean())  # (TP+TN)/all labels
    assert out["custom_accuracy"] == pytest.approx(1 - out["hamming_loss"])
    assert out["jaccard_samples"] == out["hamming_score"]
    for avg in ("micro", "macro"):
        assert out[f"precision_{avg}"] == pytest.approx(precision_score(y_true, y_pred, average=avg, zero_division=0))
        assert out[f"recall_{avg}"] == pytest.approx(recall_score(y_true, y_pred, average=avg, zero_division=0))
        assert out[f"f1_{avg}"] == pytest.approx(f1_score(y_true, y_pred, average=avg, zero_division=0))
    assert all(type(v) is float for v in out.values())


def test_hamming_score_by_hand():
    y_true = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 1], [1, 0, 0]])
    y_pred = np.array([[1, 0, 0], [0, 0, 0], [0, 1, 1], [0, 1, 0]])
    # |T∩P| / |T∪P| per face: 1/2, empty union -> 1, 1/3, 0/2
    expected = (1 / 2 + 1 + 1 / 3 + 0) / 4
    out = metrics.multilabel(y_true, y_pred)
    assert out["hamming_score"] == pytest.approx(expected)
    assert out["hamming_loss"] == pytest.approx(5 / 12)
    assert out["subset_accuracy"] == pytest.approx(1 / 4)


def test_majority_baseline_by_hand():
    train_y = np.array([[1, 0, 1], [1, 0, 0], [0, 0, 1], [1, 1, 0]])  # majorities 1, 0, tie -> 1
    eval_y = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 1], [1, 0, 0], [0, 1, 1]])
    assert metrics.majority_predict(train_y, 2).tolist() == [[1, 0, 1], [1, 0, 1]]
    table = metrics.majority_baseline(train_y, eval_y, attrs=["a", "b", "c"])
    assert table["majority_class"].tolist() == [1, 0, 1]
    assert table["accuracy"].tolist() == pytest.approx([3 / 5, 3 / 5, 2 / 5])
    assert table["balanced_accuracy"].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert table["f1"].tolist() == pytest.approx([2 * 3 / (2 * 3 + 2), 0.0, 2 * 2 / (2 * 2 + 3)])
    # per_attribute's majority_accuracy is the same predictor
    pred = np.zeros_like(eval_y)
    assert metrics.per_attribute(eval_y, pred, ["a", "b", "c"], train_y)["majority_accuracy"].tolist() \
        == pytest.approx([3 / 5, 3 / 5, 2 / 5])
    # without train_y: the majority of the evaluated labels themselves
    assert metrics.per_attribute(eval_y, pred, ["a", "b", "c"])["majority_accuracy"].tolist() \
        == pytest.approx([3 / 5, 3 / 5, 3 / 5])
    # the floor row of the comparison tables: the same predictor, summarised
    floor = metrics.majority_summary(train_y, eval_y)
    assert floor["mean_accuracy"] == pytest.approx((3 / 5 + 3 / 5 + 2 / 5) / 3) == floor["majority_accuracy"]
    assert floor["mean_balanced_accuracy"] == pytest.approx(0.5)
    assert floor["hamming_loss"] == pytest.approx(1 - floor["mean_accuracy"])


def test_evaluate_thresholds_and_json_summary():
    rng = np.random.default_rng(2)
    y_true, _ = random_labels(seed=2)
    probs = rng.random(y_true.shape)
    thresholds = rng.uniform(0.2, 0.8, 40)
    table, summ = metrics.evaluate(y_true, probs, thresholds=thresholds, train_y=y_true[:50])
    expected = metrics.per_attribute(y_true, (probs >= thresholds).astype(int), train_y=y_true[:50])
    pd.testing.assert_frame_equal(table, expected)
    assert tuple(summ) == metrics.SUMMARY_KEYS
    assert summ["mean_accuracy"] == pytest.approx(table["accuracy"].mean())
    assert summ["macro_f1"] == pytest.approx(table["f1"].mean())
    json.dumps({"summary": summ, "metrics": table.to_dict(orient="index")})  # the run record


def test_shapes_and_names_are_checked():
    y = np.zeros((4, 6), dtype=np.uint8)
    with pytest.raises(ValueError, match="pass attrs="):
        metrics.per_attribute(y, y)
    table = metrics.per_attribute(y, y, attrs=["Male", "Mustache", "Eyeglasses", "No_Beard", "Wearing_Hat", "Bald"])
    assert len(table) == 6
    with pytest.raises(ValueError, match="only 0 and 1"):
        metrics.per_attribute(y - 1, y, attrs=list("abcdef"))
    with pytest.raises(ValueError, match="same shape"):
        metrics.multilabel(y, y[:, :5])


def test_minority_reference_matches_the_facenet_report():
    n = 10000
    y = np.zeros((n, 3), dtype=np.uint8)
    y[:4168, 0] = 1   # Male, 41.7 % -> scored by accuracy: the majority predictor's, 0.5832
    y[:415, 1] = 1    # Mustache, 4.15 % -> F1 of always "mustache", about 0.080
    y[:8350, 2] = 1   # No_Beard, 83.5 % -> the minority (beard) is the positive label
    table = metrics.minority_reference(y, ["Male", "Mustache", "No_Beard"])
    assert table.loc["Male", "reference_metric"] == "accuracy"
    assert table.loc["Male", "reference"] == pytest.approx(0.5832)
    assert table.loc["Mustache", "reference"] == pytest.approx(0.0797, abs=1e-4)
    assert table.loc["No_Beard", "reference"] == pytest.approx(0.283, abs=1e-3)
    for a, name in enumerate(table.index):
        minority = table.loc[name, "minority_class"]
        f1 = f1_score(y[:, a], np.full(n, minority), pos_label=minority)
        assert table.loc[name, "minority_f1"] == pytest.approx(f1)


def test_male_keeps_the_accuracy_reference_when_it_is_rare():
    y = np.zeros((1000, 2), dtype=np.uint8)
    y[:296, 0] = 1  # Male at 29.6 %, as on the course subset
    y[:296, 1] = 1
    table = metrics.minority_reference(y, ["Male", "Attractive"])
    assert table.loc["Male", "reference_metric"] == "accuracy"
    assert table.loc["Male", "reference"] == pytest.approx(0.704)
    assert table.loc["Attractive", "reference_metric"] == "f1"


def test_minority_f1_agrees_with_scikit_learn_and_is_undefined_without_the_minority_class():
    rng = np.random.default_rng(1)
    y = (rng.random((400, 4)) < [0.1, 0.7, 0.95, 0.0]).astype(np.uint8)
    pred = np.where(rng.random((400, 4)) < 0.8, y, 1 - y)
    f1 = metrics.minority_f1(metrics.per_attribute(y, pred, list("abcd")))
    assert f1["a"] == pytest.approx(f1_score(y[:, 0], pred[:, 0], pos_label=1))
    assert f1["b"] == pytest.approx(f1_score(y[:, 1], pred[:, 1], pos_label=0))
    assert f1["c"] == pytest.approx(f1_score(y[:, 2], pred[:, 2], pos_label=0))
    assert np.isnan(f1["d"])  # no positive at all: F1 of the (absent) minority is undefined, not 0


def test_compare_table_puts_baseline_first():
    y_true, y_pred = random_labels(seed=3)
    base = metrics.summary(y_true, metrics.majority_predict(y_true, len(y_true)), y_true)
    table = metrics.compare_table({"model": metrics.summary(y_true, y_pred, y_true)}, base)
    assert list(table.index) == ["majority baseline", "model"]
    assert list(table.columns) == list(metrics.SUMMARY_KEYS)
    assert table.loc["majority baseline", "mean_accuracy"] == pytest.approx(base["majority_accuracy"])


def test_strongest_pairs():
    rng = np.random.default_rng(4)
    y = (rng.random((300, 40)) < 0.4).astype(np.uint8)
    y[:, 24] = 1 - y[:, 16]   # No_Beard = not Goatee
    y[:, 36] = y[:, 18]       # Wearing_Lipstick = Heavy_Makeup
    y[:, 4] = 0               # constant: phi 0, not NaN
    pairs = metrics.strongest_pairs(y, k=3)
    assert len(pairs) == 6 and pairs["sign"].tolist() == ["positive"] * 3 + ["negative"] * 3
    assert tuple(pairs.iloc[0][["attr_a", "attr_b"]]) == ("Heavy_Makeup", "Wearing_Lipstick")
    assert tuple(pairs.iloc[3][["attr_a", "attr_b"]]) == ("Goatee", "No_Beard")
    assert pairs.iloc[3]["phi"] == pytest.approx(-1.0)
    assert not metrics.label_correlation(y).isna().any().any()



def test_bootstrap_mean_resamples_identities_like_a_plain_loop():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(12), rng.integers(1, 6, size=12))
    values = rng.random((len(groups), 3))
    got = metrics.bootstrap_mean(values, groups, n_boot=300, seed=7)
    # the same draws, by hand: identities with replacement, all their images, then the mean
    ids = np.unique(groups)
    draws = np.random.default_rng(7).multinomial(len(ids), np.full(len(ids), 1 / len(ids)), size=300)
    boot = [np.concatenate([np.repeat(values[groups == g].mean(1), k) for g, k in zip(ids, d) if k]).mean()
            for d in draws]
    assert got["mean"] == pytest.approx(values.mean())
    assert (got["low"], got["high"]) == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975])))
    assert got["low"] < got["mean"] < got["high"] and got["n_groups"] == 12


def test_identity_bootstrap_is_wider_than_an_image_bootstrap_when_people_differ():
    # 10 people x 20 faces; a model right on every face of half the people, wrong on the others
    groups = np.repeat(np.arange(10), 20)
    correct = np.repeat(np.arange(10) % 2, 20).astype(float)
    by_person = metrics.bootstrap_mean(correct, groups, seed=0)
    by_image = metrics.bootstrap_mean(correct, np.full(200, -1), seed=0)  # -1: each image its own group
    assert by_person["high"] - by_person["low"] > 2 * (by_image["high"] - by_image["low"])
    assert by_image["n_groups"] == 200


def test_paired_difference_excludes_zero_only_for_a_real_gap():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=(400, 5)).astype(np.uint8)
    groups = np.repeat(np.arange(40), 10)
    good = np.where(rng.random(y.shape) < 0.9, y, 1 - y).astype(float)   # 90 % right
    bad = np.where(rng.random(y.shape) < 0.7, y, 1 - y).astype(float)    # 70 % right
    real = metrics.paired_difference_ci(y, good, bad, groups)
    assert real["low"] > 0 and real["mean"] == pytest.approx((good == y).mean() - (bad == y).mean())
    same = metrics.paired_difference_ci(y, good, good, groups)
    assert same["low"] == same["high"] == 0.0
    acc = metrics.accuracy_ci(y, good, groups)
    assert acc["low"] < (good == y).mean() < acc["high"]


def test_bootstrap_mean_checks_its_inputs():
    with pytest.raises(ValueError, match="groups has 3"):
        metrics.bootstrap_mean(np.ones(4), np.arange(3))
    with pytest.raises(ValueError, match="fraction"):
        metrics.bootstrap_mean(np.ones(4), np.arange(4), level=95)


def test_mean_accuracy_is_sklearns_accuracy_averaged_over_the_attributes():
    rng = np.random.default_rng(0)
    y, probs = rng.integers(0, 2, (50, 6)), rng.random((50, 6))
    want = np.mean([accuracy_score(y[:, a], probs[:, a] >= 0.5) for a in range(6)])
    assert metrics.mean_accuracy(y, probs) == pytest.approx(want)
    assert metrics.mean_accuracy(y, probs, threshold=0.0) == pytest.approx(y.mean())  # everything predicted 1


def test_paired_verdict_needs_an_interval_clear_of_zero_and_enough_people():
    assert metrics.paired_verdict({"low": 0.001, "high": 0.01, "n_groups": 22}) == "better than"
    assert metrics.paired_verdict({"low": -0.01, "high": -0.001, "n_groups": 22}) == "worse than"
    assert metrics.paired_verdict({"low": -0.01, "high": 0.01, "n_groups": 22}) == "not distinguishable from"
    assert metrics.paired_verdict({"low": 0.001, "high": 0.01, "n_groups": 2}) == "too few identities to compare with"
