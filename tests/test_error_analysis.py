"""analysis' error helpers: confident mistakes, TP/FP/FN/TN, torchcam Grad-CAM on the course's dict-output models."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from sklearn.metrics import multilabel_confusion_matrix  # noqa: E402

from faceattr_nb import analysis, eda, metrics, models, plots  # noqa: E402
from faceattr_nb.attributes import ATTRIBUTES  # noqa: E402
from faceattr_nb.data.loaders import batches  # noqa: E402
from tests.helpers import toy_cache  # noqa: E402
from tests.test_xception import tiny_xception  # noqa: E402


@pytest.fixture(scope="module")
def scored():
    rng = np.random.default_rng(0)
    y = (rng.random((200, 40)) < 0.3).astype(np.uint8)
    probs = 0.35 * y + 0.65 * rng.random((200, 40))  # mostly right, about a quarter wrong
    probs[:, 4] = 0.01  # an attribute the model never predicts
    return y, probs


def test_confident_mistakes_are_wrong_and_sorted(scored):
    y, probs = scored
    table = analysis.confident_mistakes(y, probs, ["Smiling", "Bald"], k=5)
    assert list(table.columns) == ["attr", "row", "true", "predicted", "prob", "confidence"]
    assert list(table.attr.unique()) == ["Smiling", "Bald"]
    for attr, part in table.groupby("attr", sort=False):
        a = ATTRIBUTES.index(attr)
        assert len(part) == 5
        assert (part.true.to_numpy() == y[part.row, a]).all()
        assert (part.predicted.to_numpy() == (probs[part.row, a] >= 0.5)).all()
        assert (part.true != part.predicted).all()                      # every row is a mistake
        assert np.all(np.diff(part.confidence.to_numpy()) <= 0)        # most confident first
        wrong = (probs[:, a] >= 0.5) != y[:, a]
        best = np.maximum(probs[wrong, a], 1 - probs[wrong, a]).max()
        assert part.confidence.iloc[0] == pytest.approx(best)         # and none more confident is left out


def test_confident_mistakes_unknown_attribute_says_so(scored):
    with pytest.raises(ValueError, match="unknown attribute 'Smiles'"):
        analysis.confident_mistakes(*scored, "Smiles")
    with pytest.raises(ValueError, match="0 .false positives."):
        analysis.confident_mistakes(*scored, "Smiling", true=2)


def test_confident_mistakes_of_one_true_class(scored):
    y, probs = scored
    every = analysis.confident_mistakes(y, probs, "Smiling", k=len(y))
    for true in (0, 1):
        part = analysis.confident_mistakes(y, probs, "Smiling", k=3, true=true)
        assert (part.true == true).all() and (part.predicted == 1 - true).all()
        pd.testing.assert_frame_equal(part, every[every.true == true].head(3).reset_index(drop=True))


def test_below_majority_splits_the_gap_into_the_faces_it_is_made_of(scored):
    y, probs = scored
    train_y = y[::-1].copy()
    lips = ATTRIBUTES.index("Big_Lips")
    train_y[:150, lips] = 1  # the majority says 1, and the test rate is lower
    identity = np.arange(len(y)) // 10
    table = analysis.below_majority(y, probs, train_y, identity=identity, k=40)
    majority = metrics.majority_baseline(train_y, y, ATTRIBUTES)
    accuracy = ((probs >= 0.5) == y).mean(0)
    gap = pd.Series(100 * (accuracy - majority["accuracy"].to_numpy()), index=ATTRIBUTES)
    np.testing.assert_allclose(table["vs majority (points)"], gap.loc[table.index])
    assert table["vs majority (points)"].is_monotonic_increasing and len(table) == 40
    assert table.loc["Big_Lips", "majority class"] == 1 and table.loc["Smiling", "majority class"] == 0
    # the model never says "bald": right on no face the majority gets wrong, wrong on none it gets right
    bald = table.loc["Bald", ["right where the majority is wrong", "wrong where the majority is right"]]
    assert bald.tolist() == [0, 0]
    assert table.loc["Big_Lips", "train rate"] == pytest.approx(train_y[:, lips].mean())
    same = eda.label_consistency(y, identity)
    assert table.loc["Male", "agreement by chance"] == pytest.approx(same.loc["Male", "agreement by chance"])
    assert list(analysis.below_majority(y, probs, train_y).columns)[-1] == "test rate"  # no people: no agreement
    with pytest.raises(ValueError, match="attribute columns"):
        analysis.below_majority(y, probs, train_y[:, :5])


def test_confusion_counts_equal_sklearn(scored):
    y, probs = scored
    counts = analysis.confusion_counts(y, probs, threshold=0.5)
    m = multilabel_confusion_matrix(y, (probs >= 0.5).astype(int))
    assert list(counts.index) == ATTRIBUTES
    np.testing.assert_array_equal(counts[["TN", "FP", "FN", "TP"]].to_numpy(), m.reshape(40, 4))
    assert (counts[["TP", "FP", "FN", "TN"]].sum(axis=1) == len(y)).all()
    assert counts.loc["Bald", "TP"] == 0 and counts.loc["Bald", "recall"] == 0  # never predicted
    per_attr = analysis.confusion_counts(y, probs, threshold=np.full(40, 0.9))
    assert per_attr.TP.sum() < counts.TP.sum()  # a higher threshold predicts fewer positives


def test_disagreements_count_the_faces_that_change_sides(scored):
    y, probs = scored
    other = np.clip(probs + np.random.default_rng(1).normal(0, 0.3, probs.shape), 0, 1)
    table = analysis.disagreements(y, probs, other, names=("GAL-j", "Baseline"))
    acc = {n: ((p >= 0.5) == y).mean(0) for n, p in (("a", probs), ("b", other))}
    np.testing.assert_allclose(table["gap (points)"], 100 * (acc["a"] - acc["b"]))  # what the counts leave
    np.testing.assert_array_equal(table["both wrong"], ((probs >= 0.5) != y).sum(0) - table["Baseline alone right"])
    assert list(table.columns[:2]) == ["GAL-j alone right", "Baseline alone right"]
    assert (table.iloc[:, :2].to_numpy() > 0).any() and list(table.index) == ATTRIBUTES
    same = analysis.disagreements(y, probs, probs)
    assert (same.iloc[:, :3] == 0).all().all()
    with pytest.raises(ValueError, match="must be the same"):
        analysis.disagreements(y, probs, probs[:5])


def test_mistake_grid_and_confusion_bars_draw(scored):
    y, probs = scored
    cache = toy_cache(n=200, size=16)
    table = analysis.confident_mistakes(y, probs, ["Smiling", "Bald"], k=3)
    fig = plots.mistake_grid(cache, table, source="synthetic")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 6 and "true" in titles[0] and "synthetic" in fig._suptitle.get_text()
    assert titles[0].endswith(f"person {cache.identity[table.row[0]]}")  # one person's photos stand out
    assert "person" not in plots.mistake_grid(cache.x, table).axes[0].get_title()  # bare images: no people
    fig.canvas.draw()
    fig = plots.confusion_bars(analysis.confusion_counts(y, probs), source="synthetic")
    assert len(fig.axes[0].get_yticklabels()) == 40
    fig.canvas.draw()
    assert plt.get_fignums() == []


@pytest.mark.parametrize("make", [
    lambda: models.create("scratch_cnn", widths=(8, 8, 16, 16, 32), dense=(64, 64)),
    lambda: tiny_xception(backbone="mobilenetv3_small_050"),
], ids=["scratch_cnn", "xception"])
def test_attribute_cam_on_dict_output_models(make):
    torch.manual_seed(0)
    model = make()
    cache = toy_cache(n=4, size=64)
    x, _ = next(batches(cache, 4))
    maps = analysis.attribute_cam(model, x, ["Smiling", "Eyeglasses"])
    assert maps.shape == (4, 2, 64, 64)                  # upsampled to the input's size
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert maps.max() > 0.5                              # normalised per map: something lights up
    assert not np.allclose(maps[:, 0], maps[:, 1])       # two attributes, two different maps
    assert model.training                                # the model's mode is given back
    assert not any(m._forward_hooks for m in model.modules())  # torchcam's hooks are removed
    fig = plots.cam_grid(cache.x, maps, ["Smiling", "Eyeglasses"], source="synthetic")
    fig.canvas.draw()


def test_cam_grid_draws_the_map_of_an_attribute_called_absent_faint():
    """Each Grad-CAM map is scaled to its own maximum: a p = 0.02 map must not look as sure as p = 0.97."""
    maps = np.random.default_rng(0).random((1, 2, 16, 16))
    fig = plots.cam_grid(toy_cache(n=1, size=16).x, maps, ["Smiling", "Bald"], probs=np.array([[0.97, 0.02]]))
    sure, absent = fig.axes[1], fig.axes[2]
    assert sure.images[1].get_alpha() == 0.5 and absent.images[1].get_alpha() == pytest.approx(0.5 / 3)
    assert sure.title.get_color() == "black" and absent.title.get_color() == "0.55"
    assert "p=0.02" in absent.get_title() and "faint: predicted absent" in fig._suptitle.get_text()
    assert "faint" not in plots.cam_grid(toy_cache(n=1, size=16).x, maps, ["Smiling", "Bald"])._suptitle.get_text()


def test_attribute_cam_works_with_a_frozen_backbone():
    model = tiny_xception(backbone="mobilenetv3_small_050").freeze_backbone()
    x, _ = next(batches(toy_cache(n=2, size=64), 2))
    maps = analysis.attribute_cam(model, x, ["Bald"])
    assert maps.shape == (2, 1, 64, 64) and np.isfinite(maps).all()


def test_interval_plot_draws_each_row_with_its_interval():
    table = pd.DataFrame({"mean": [0.80, 0.02], "low": [0.78, -0.01], "high": [0.83, 0.04]}, index=["A", "A - B"])
    fig = plots.interval_plot(table, reference=0, source="synthetic")
    ax = fig.axes[0]
    assert {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()} == {1: "A", 0: "A - B"}  # first on top
    bars = ax.collections[0].get_segments()  # one horizontal error bar per row: (low, y) -> (high, y)
    assert sorted((round(s[0][0], 2), round(s[1][0], 2)) for s in bars) == [(-0.01, 0.04), (0.78, 0.83)]
    assert "synthetic" in ax.get_title()
    fig.canvas.draw()
    with pytest.raises(ValueError, match="'low'"):
        plots.interval_plot(table.drop(columns="low"))
    outside = pd.DataFrame({"mean": [0.0088], "low": [0.0087], "high": [0.0087]}, index=["2 people"])
    plots.interval_plot(outside).canvas.draw()  # a mean just outside its percentile interval still draws


def test_cam_layer_is_a_real_feature_map_that_feeds_the_attributes():
    torch.manual_seed(0)
    cnn = models.create("scratch_cnn", widths=(8, 8, 16, 16, 32), dense=(64, 64))
    x = torch.randn(2, 3, 48, 48)
    assert analysis.cam_layer(cnn, x) == "features.4.3"  # not the pool that only repeats a 1x1 map at 48 px
    assert analysis.map_size(cnn, x, "features.4.3") == (3, 3)  # 48 px halved four times, before the last pool
    assert cnn.training  # map_size leaves the mode as it found it
    finer = analysis.cam_layer(cnn, x, finer_than=(3, 3))
    assert finer.startswith("features.") and analysis.map_size(cnn, x, finer) == (6, 6)
    pse = models.create("pse_dmtl", width=16, hidden=32, img_size=48)
    glasses, smiling = ATTRIBUTES.index("Eyeglasses"), ATTRIBUTES.index("Smiling")
    assert analysis.cam_layer(pse, x, [glasses]).startswith("subnets.")         # its group's sub-network
    assert analysis.cam_layer(pse, x, [glasses, smiling]).startswith("backbone.")  # two groups: the shared trunk
    state = {k: v.clone() for k, v in pse.state_dict().items()}
    assert pse.training
    analysis.attribute_cam(pse, x, ["Eyeglasses", "Smiling"])
    assert pse.training and all(torch.equal(v, pse.state_dict()[k]) for k, v in state.items())  # no BN update
