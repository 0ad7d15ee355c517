"""eda: the tables of notebook 01, on hand-made labels whose answers are known."""
import numpy as np
import pandas as pd
import pytest

from faceattr_nb import eda
from faceattr_nb.attributes import ATTRIBUTES


def test_label_consistency_counts_people_labelled_both_ways():
    identity = np.array([1, 1, 1, 2, 2, 3])
    labels = np.array([[1, 1], [0, 1], [1, 1],   # person 1: Pointy_Nose both ways, Male alike
                       [0, 1], [0, 1],           # person 2: alike
                       [1, 0]])                  # person 3: one photo, cannot disagree
    table = eda.label_consistency(labels, identity, ["Pointy_Nose", "Male"])
    assert table.loc["Pointy_Nose", "people"] == 2 and table.loc["Pointy_Nose", "both labels"] == 1
    assert table.loc["Pointy_Nose", "share with both"] == 0.5
    assert table.loc["Pointy_Nose", "agreement"] == pytest.approx((2 / 3 + 1) / 2)
    assert table.loc["Male", "both labels"] == 0 and table.loc["Male", "agreement"] == 1.0
    assert table.loc["Male", "positive_rate"] == pytest.approx(5 / 6)
    frame = pd.DataFrame(labels, columns=["Pointy_Nose", "Male"])
    pd.testing.assert_frame_equal(eda.label_consistency(frame, identity).loc[table.index], table)  # CelebA order


def test_label_consistency_agrees_with_a_loop_over_people():
    rng = np.random.default_rng(0)
    identity = rng.integers(0, 30, 400)
    labels = (rng.random((400, 40)) < np.linspace(0.02, 0.6, 40)).astype(np.uint8)
    table = eda.label_consistency(labels, identity)
    people = [p for p in np.unique(identity) if (identity == p).sum() >= 2]
    for a in (0, 17, 39):
        rates = [labels[identity == p, a].mean() for p in people]
        assert table.iloc[a]["both labels"] == sum(0 < r < 1 for r in rates)
        assert table.iloc[a]["agreement"] == pytest.approx(np.mean([max(r, 1 - r) for r in rates]))
    assert list(table.index) == ATTRIBUTES


def test_label_consistency_leaves_out_unknown_people():
    labels = np.array([[1], [0], [1], [1]])
    table = eda.label_consistency(labels, np.array([-1, -1, 5, 5]), ["Male"])  # -1: no identity known
    assert table.loc["Male", "people"] == 1 and table.loc["Male", "both labels"] == 0


def test_label_consistency_names_a_bad_input():
    with pytest.raises(ValueError, match="pass attrs="):
        eda.label_consistency(np.zeros((4, 3)), np.arange(4))
    with pytest.raises(ValueError, match="4 label rows but 3 identities"):
        eda.label_consistency(np.zeros((4, 2)), np.arange(3), ["Male", "Bald"])


def test_label_consistency_by_chance_is_what_shuffled_labels_give():
    """Labels that ignore the person: shuffling them among the photos gives the chance columns."""
    rng = np.random.default_rng(1)
    identity = np.repeat(np.arange(40), rng.integers(2, 12, 40))
    labels = (rng.random((len(identity), 2)) < [0.1, 0.45]).astype(np.uint8)
    table = eda.label_consistency(labels, identity, ["Pointy_Nose", "Smiling"])
    shuffled = [eda.label_consistency(rng.permutation(labels), identity, ["Pointy_Nose", "Smiling"])
                for _ in range(300)]
    for column in ("agreement", "share with both"):
        mean = np.mean([t[column].to_numpy() for t in shuffled], axis=0)
        np.testing.assert_allclose(table[f"{column} by chance"].to_numpy(), mean, atol=0.01)
    beyond = np.mean([t["agreement beyond chance"].to_numpy() for t in shuffled], axis=0)
    np.testing.assert_allclose(beyond, 0, atol=0.02)  # labels that ignore the person close none of the gap
    # two photos each: they agree with probability p^2 + (1 - p)^2, else the agreement is 1/2
    two = eda.label_consistency(np.array([[1], [0], [1], [1]]), np.array([7, 7, 8, 8]), ["Male"]).iloc[0]
    same = 0.75 ** 2 + 0.25 ** 2
    assert two["agreement by chance"] == pytest.approx(same + (1 - same) / 2)
    assert two["share with both by chance"] == pytest.approx(1 - same)


def test_label_consistency_without_people_is_empty_not_a_warning():
    """Kaggle's copy has no identities (-1): nothing to compare, and no division by zero."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = eda.label_consistency(np.array([[1], [0], [1]]), np.full(3, -1), ["Male"])
    assert table.loc["Male", "people"] == 0 and np.isnan(table.loc["Male", "agreement by chance"])
