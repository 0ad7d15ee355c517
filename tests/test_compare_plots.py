"""Notebook 07's figures: metric bars, threshold gain, threshold curves and the explorer."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from faceattr_nb import plots, thresholds
from faceattr_nb.attributes import ATTRIBUTES


@pytest.fixture
def scored():
    rng = np.random.default_rng(0)
    y = (rng.random((120, 40)) < np.linspace(0.05, 0.6, 40)).astype(np.uint8)
    probs = np.clip(0.3 * y + rng.random((120, 40)) * 0.6, 0, 1)
    return y, probs, np.arange(120) // 4


def test_metric_bars_sorted_by_positive_rate():
    table = pd.DataFrame({"accuracy": [0.98, 0.7], "balanced_accuracy": [0.5, 0.7], "f1": [0.0, 0.6],
                          "positive_rate": [0.02, 0.4]}, index=["Bald", "Smiling"])
    fig = plots.metric_bars(table, source="synthetic")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["Bald (2%)", "Smiling (40%)"]
    assert len(ax.patches) == 6 and "synthetic" in ax.get_title()
    with pytest.raises(ValueError, match="not in the table"):
        plots.metric_bars(table.drop(columns="f1"))


def test_threshold_gain_bars_with_cv_spread(scored):
    y, probs, groups = scored
    gain = thresholds.threshold_gain(y[:60], probs[:60], y[60:], probs[60:])
    spread = thresholds.cv_threshold_spread(y[:60], probs[:60], groups[:60], n_splits=3)
    fig = plots.threshold_gain_bars(gain, spread, source="synthetic")
    assert isinstance(fig, Figure) and len(fig.axes[0].patches) == 40
    assert "3 identity folds" in fig.legends[0].get_texts()[1].get_text()


def test_threshold_curves_mark_counts(scored):
    y, probs, _ = scored
    fig = plots.threshold_curves(y, probs, ATTRIBUTES, ["Bald", "Young"], np.full(40, 0.3), threshold=0.5)
    assert len(fig.axes) == 4
    tp = int(((probs[:, 4] >= 0.5) & (y[:, 4] == 1)).sum())
    assert fig.axes[0].get_title().startswith(f"at 0.50: TP {tp},")


def test_explorer_is_static_under_pytest(scored, monkeypatch):
    y, probs, _ = scored
    assert not plots.interactive_available()  # PYTEST_CURRENT_TEST is set, as in nbmake's kernels
    tuned = np.full(40, 0.5)
    tuned[[3, 7]] = [0.1, 0.9]
    fig = plots.threshold_explorer(y, probs, thresholds=tuned)
    assert isinstance(fig, Figure) and len(fig.axes) == 8
    assert fig.axes[0].get_ylabel() == "Bags Under Eyes"  # the farthest tuned threshold comes first
    y = y.copy()
    y[:, 3] = 0  # no face with bags under the eyes: nothing to draw for it
    assert plots.threshold_explorer(y, probs, thresholds=tuned).axes[0].get_ylabel() == "Big Nose"
    title = plots.threshold_curves(y, probs, ATTRIBUTES, ["Bags_Under_Eyes"]).axes[0].get_title()
    assert title.endswith("no positive face: recall and F1 undefined")


def test_explorer_widgets_when_asked(scored, monkeypatch):
    widgets = pytest.importorskip("ipywidgets")
    import IPython.display
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    y, probs, _ = scored
    box = plots.threshold_explorer(y, probs, interactive=True)
    assert isinstance(box, widgets.VBox)
    # the static figure comes first, live too: a saved or exported notebook keeps it, not the widgets
    assert isinstance(shown[0], Figure) and len(shown[0].axes) == 8
    menu, slider = box.children[0].children
    slider.value = 0.3  # redraws without error
    assert menu.value == ATTRIBUTES[0]
