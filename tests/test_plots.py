"""plots: every function returns a closed Figure with the expected axes and labels, at 40 attributes."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from faceattr_nb import metrics, plots  # noqa: E402
from faceattr_nb.attributes import ATTRIBUTES, GROUP_NAMES  # noqa: E402
from faceattr_nb.data.synthetic import load_stats  # noqa: E402


@pytest.fixture(scope="module")
def labels():
    rng = np.random.default_rng(0)
    y = (rng.random((120, 40)) < rng.uniform(0.02, 0.8, 40)).astype(np.uint8)
    y[:, 4] = 0  # a constant attribute must not break the correlation
    return pd.DataFrame(y, columns=ATTRIBUTES)


def check(fig, n_axes, source="synthetic"):
    assert isinstance(fig, Figure)
    assert len(fig.axes) == n_axes
    titles = [ax.get_title() for ax in fig.axes] + [fig._suptitle.get_text() if fig._suptitle else ""]
    assert any(source in t for t in titles)
    assert plt.get_fignums() == []   # nothing left open in pyplot


def tick_texts(ax, axis="y"):
    return [t.get_text() for t in (ax.get_yticklabels() if axis == "y" else ax.get_xticklabels())]


def test_positive_rates_from_table_and_rates(labels):
    fig = plots.positive_rates(labels, source="synthetic")
    check(fig, 1)
    names = tick_texts(fig.axes[0])
    assert len(names) == 40 and "5 o'Clock Shadow" in names
    rates = labels.mean().to_numpy()
    assert names[-1] == plots._name(ATTRIBUTES[int(np.argmax(rates))])   # sorted, most common on top
    check(plots.positive_rates(rates, source="synthetic"), 1)


def test_correlation_heatmap_is_clustered(labels):
    fig = plots.correlation_heatmap(labels, source="synthetic")
    check(fig, 2)   # heatmap + colorbar
    names = tick_texts(fig.axes[0])
    assert sorted(names) == sorted(plots._name(a) for a in ATTRIBUTES)
    assert names != [plots._name(a) for a in ATTRIBUTES]   # reordered by the clustering
    plain = plots.correlation_heatmap(labels.to_numpy(), source="synthetic", cluster=False)
    assert tick_texts(plain.axes[0]) == [plots._name(a) for a in ATTRIBUTES]


def test_sample_grid_accepts_arrays_and_pil(labels):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (7, 3, 32, 32), dtype=np.uint8)
    fig = plots.sample_grid(images, labels.iloc[:7], ncols=4, source="synthetic")
    check(fig, 8)
    row = labels.iloc[0]
    rates = pd.Series(load_stats()["rates"], index=ATTRIBUTES)
    rarest = rates[row[row == 1].index].sort_values().index[:4]  # CelebA's rarest of the face's labels
    assert fig.axes[0].get_title().split("\n")[:4] == [plots._name(a) for a in rarest]
    shown = plots.sample_grid(images[:1], np.ones((1, 3), np.uint8), attrs=["Young", "Bald", "Attractive"])
    assert shown.axes[0].get_title().split("\n") == ["Bald", "Attractive", "Young"]
    pil = [Image.fromarray(img.transpose(1, 2, 0)) for img in images[:3]]
    fig = plots.sample_grid(pil, labels.to_numpy()[:3], ncols=3, show_attrs=["Male", "Smiling"], source="synthetic")
    check(fig, 3)
    assert all(set(ax.get_title().split("\n")) <= {"Male", "Smiling", "(none)"} for ax in fig.axes)
    gray = rng.integers(0, 256, (2, 1, 36, 36), dtype=np.uint8)
    check(plots.sample_grid(gray, np.eye(2, dtype=np.uint8), attrs=["Male", "Bald"], source="synthetic"), 6)
    with pytest.raises(ValueError, match="label rows"):
        plots.sample_grid(images, labels.iloc[:3])


def test_training_curves():
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.7, 0.5, 0.4], "val_loss": [0.7, 0.6, 0.6],
                            "val_accuracy": [0.8, 0.85, 0.86]})
    fig = plots.training_curves([history, history.drop(columns="val_accuracy")], names=["a", "b"], source="synthetic")
    check(fig, 3)
    assert [len(ax.lines) for ax in fig.axes] == [2, 2, 1]
    check(plots.training_curves(history, keys=("train_loss",), source="synthetic"), 1)


def test_per_attribute_bars_with_baseline(labels):
    rng = np.random.default_rng(2)
    table, _ = metrics.evaluate(labels.to_numpy(), rng.random(labels.shape))
    fig = plots.per_attribute_bars(table, "accuracy", "majority_accuracy", source="synthetic")
    check(fig, 1)
    assert len(fig.axes[0].patches) == 80 and len(tick_texts(fig.axes[0])) == 40
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["accuracy", "majority accuracy"] and fig.axes[0].get_xlabel() == "score"
    with pytest.raises(ValueError, match="not in the table"):
        plots.per_attribute_bars(table, "auc")


def test_masks_affinity_delta_cost():
    rng = np.random.default_rng(3)
    face = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    masks = rng.random((8, 6, 6)) * np.arange(1, 9)[:, None, None]  # each mask on its own range
    fig = plots.heatmap_masks(face, masks, GROUP_NAMES, source="synthetic")
    check(fig, 11)   # 9 panels on a 2 x 5 grid + one colour bar
    assert [ax.get_title() for ax in fig.axes[1:9]] == GROUP_NAMES
    assert fig.axes[1].images[1].get_extent() == pytest.approx((-0.5, 47.5, 47.5, -0.5))  # stretched over the face
    # one colour scale for every mask, shown by the bar: panels can be compared
    assert {ax.images[1].get_clim() for ax in fig.axes[1:9]} == {(masks.min(), masks.max())}
    assert fig.axes[-1].get_ylabel() == "mask weight"
    fixed = plots.heatmap_masks(face, masks, GROUP_NAMES, source="synthetic", vmin=0.0, vmax=1.0)
    assert fixed.axes[5].images[1].get_clim() == (0.0, 1.0)
    fig = plots.affinity_heatmap(rng.random((40, 40)), title="GAL affinity", source="synthetic")
    check(fig, 2)
    assert len(tick_texts(fig.axes[0], "x")) == 40
    near_one_hot = np.eye(40) * 0.9 + rng.random((40, 40)) * 0.01
    mesh = plots.affinity_heatmap(near_one_hot, hide_diagonal=True).axes[0].collections[0]
    assert mesh.get_clim()[1] < 0.02  # the colours span the weights between attributes, not the diagonal
    deltas = pd.DataFrame(rng.normal(0, 0.02, (40, 3)), index=ATTRIBUTES, columns=["xception", "pse", "gal"])
    fig = plots.delta_heatmap(deltas, source="synthetic")
    check(fig, 2)
    assert tick_texts(fig.axes[0], "x") == ["xception", "pse", "gal"]
    assert fig.axes[0].get_facecolor()[:3] == (0.8, 0.8, 0.8)  # a missing cell shows grey, not 0's white
    costs = pd.DataFrame({"params": [1e5, 2e7, np.nan], "mean_accuracy": [0.8, 0.9, 0.85],
                          "run": ["facenet", "xception", "no cost"]})
    fig = plots.cost_scatter(costs, "params", "mean_accuracy", "run", logx=True, source="synthetic")
    check(fig, 1)
    assert [t.get_text() for t in fig.axes[0].texts] == ["facenet", "xception"]


def test_cost_scatter_labels_of_close_points_do_not_overlap():
    costs = pd.DataFrame({"params": [1e6, 1.02e6, 1.04e6, 5e6], "margin": [0.050, 0.0502, 0.0501, 0.02]},
                         index=["pse_baseline", "pse_fc", "pse_conv", "gal_j"])
    fig = plots.cost_scatter(costs, "params", "margin", logx=True)
    fig.draw_without_rendering()
    boxes = [Text.get_window_extent(t) for t in fig.axes[0].texts]  # the words, without the line to the point
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert fig.axes[0].get_ylabel() == "margin" and fig.axes[0].get_xlabel() == "params"
    words = plots.cost_scatter(costs.rename(columns={"margin": "margin_over_majority"}), "params",
                               "margin_over_majority")
    assert words.axes[0].get_ylabel() == "margin over majority"
    assert fig.axes[0].texts[3].xyann == (-4, 4)  # the rightmost point's label stays inside, to its left
    assert all(box.x1 <= fig.axes[0].get_window_extent().x1 for box in boxes)


def test_a_figure_renders(labels):
    fig = plots.positive_rates(labels, source="synthetic")
    fig.canvas.draw()   # layout and drawing do not fail under Agg


def test_training_curves_ring_the_kept_epoch_of_a_run():
    from types import SimpleNamespace
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.7, 0.5, 0.4], "val_loss": [0.7, 0.6, 0.65],
                            "val_accuracy": [0.8, 0.85, 0.86]})
    run = SimpleNamespace(history=history, record={"config": {"monitor": "val_loss", "min_delta": 0.0}})
    fig = plots.training_curves({"a": run}, source="synthetic")
    check(fig, 3)
    for ax, key in zip(fig.axes, ("train_loss", "val_loss", "val_accuracy")):
        line, ring = ax.lines
        assert list(ring.get_xdata()) == [2] and list(ring.get_ydata()) == [history[key][1]]
    assert "ringed" in fig._suptitle.get_text()
    assert "ringed" not in plots.training_curves(history)._suptitle.get_text()  # a bare history: no ring
    later = plots.training_curves({"a": run}, start={"a": 7})  # a phase that continues after epoch 7
    line, ring = later.axes[1].lines
    assert list(line.get_xdata()) == [8, 9, 10] and list(ring.get_xdata()) == [9]


def test_training_curves_keep_one_colour_per_run_across_panels():
    import matplotlib.colors as mcolors
    a = pd.DataFrame({"epoch": [1, 2], "train_L_f": [1.0, 0.5]})                      # no L_c (a baseline)
    b = pd.DataFrame({"epoch": [1, 2], "train_L_f": [1.1, 0.6], "train_L_c": [2.0, 1.0]})
    fig = plots.training_curves({"baseline": a, "gal_j": b}, keys=("train_L_f", "train_L_c"))
    left, right = fig.axes[0].lines, fig.axes[1].lines
    colour = {line.get_label(): mcolors.to_hex(line.get_color()) for line in left}
    assert [line.get_label() for line in right] == ["gal_j"]
    assert mcolors.to_hex(right[0].get_color()) == colour["gal_j"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["baseline", "gal_j"]


def test_rate_comparison_train_vs_test(labels):
    rates = pd.DataFrame({"train": labels.iloc[:80].mean(), "test": labels.iloc[80:].mean()})
    fig = plots.rate_comparison(rates, source="synthetic")
    check(fig, 2)
    left, right = fig.axes
    names = tick_texts(left)
    assert names == [plots._name(a) for a in rates["train"].sort_values().index]   # sorted by the first set
    widths = [p.get_width() for p in right.patches]                                  # test - train, in points
    expected = (rates["test"] - rates["train"])[rates["train"].sort_values().index] * 100
    np.testing.assert_allclose(widths, expected.to_numpy())
    with pytest.raises(ValueError, match="two columns"):
        plots.rate_comparison(rates[["train"]])
    with pytest.raises(ValueError, match="fractions"):
        plots.rate_comparison(rates * 100)


def test_feature_maps_shows_each_layers_activations():
    import torch

    from faceattr_nb import models
    torch.manual_seed(0)
    model = models.create("facenet")
    model.train()
    x = torch.randn(1, 1, 36, 36)
    before = model.trunk[0][1].running_mean.clone()
    fig = plots.feature_maps(model, x[0], {"conv 1": "trunk.0.2", "pool 2": "trunk.1.3", "dense": "shared.3"},
                             max_channels=8, source="synthetic")
    assert plt.get_fignums() == [] and "synthetic" in fig._suptitle.get_text()
    assert len(fig.axes) == 4                                   # one row each: input, conv 1, pool 2, dense
    assert fig.axes[1].get_title(loc="left").startswith("conv 1 (4 x 36 x 36")
    assert "first 8" in fig.axes[2].get_title(loc="left")
    model.eval()
    with torch.no_grad():
        expected = model.trunk[0](x)[0]                        # block 1 output: after ReLU and pooling
        conv1 = torch.relu(model.trunk[0][1](model.trunk[0][0](x)))[0]
    row = np.asarray(fig.axes[1].images[0].get_array())       # 4 maps of 36 side by side, 1 blank column between
    assert row.shape == (36, 4 * 37 - 1)
    second = conv1[1].numpy()
    np.testing.assert_allclose(row[:, 37:73], (second - second.min()) / (second.max() - second.min()), atol=1e-5)
    assert expected.shape == (4, 18, 18)
    assert model.training is False
    model.train()
    plots.feature_maps(model, x, ["trunk.0.3"])
    assert model.training                                       # mode restored
    assert torch.equal(model.trunk[0][1].running_mean, before)  # eval mode: BN statistics untouched
    assert all(not m._forward_hooks for m in model.modules())   # hooks removed
    with pytest.raises(ValueError, match="trunk.0"):
        plots.feature_maps(model, x, ["trunk.9"])
    with pytest.raises(ValueError, match="one tensor"):
        plots.feature_maps(model, x, [""])                     # the whole model returns a dict


def test_val_test_scatter_draws_each_run_with_its_interval_per_test_set():
    table = pd.DataFrame({"run": ["lite0", "lite0", "lite2"], "val_accuracy": [0.90, 0.91, np.nan],
                          "a": [0.89, 0.90, 0.91], "a_low": [0.88, 0.89, 0.90], "a_high": [0.90, 0.91, 0.92],
                          "b": [0.87, 0.88, 0.89], "b_low": [0.86, 0.87, 0.88], "b_high": [0.88, 0.89, 0.90]})
    fig = plots.val_test_scatter(table, tests={"a": "aligned", "b": "crops"}, chosen=table.iloc[[1]],
                                 source="real subset")
    check(fig, 2, source="real subset")
    for ax, label in zip(fig.axes, ("aligned (%)", "crops (%)")):
        assert ax.get_ylabel() == label and ax.get_xlabel() == "val accuracy (%)"
        (bars,) = ax.containers  # one group: the row without a val accuracy is left out
        np.testing.assert_allclose(np.asarray(bars.lines[0].get_xdata(), float), [90.0, 91.0])
        assert ax.collections[-1].get_offsets().tolist() == [[91.0, 90.0 if label.startswith("a") else 88.0]]
    assert sorted(t.get_text() for t in fig.legends[0].get_texts()) == ["chosen on val", "lite0 (2)"]
    with pytest.raises(ValueError, match="b_high"):
        plots.val_test_scatter(table.drop(columns="b_high"), tests={"b": "crops"})
    with pytest.raises(ValueError, match="no row"):
        plots.val_test_scatter(table.iloc[[2]])
