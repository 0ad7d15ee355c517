"""End to end on generated data: generate, read, decode, train, evaluate (the smoke path of the course)."""
import numpy as np
import pytest
import torch

from faceattr_nb import config, metrics, models, train
from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data import synthetic
from faceattr_nb.data.splits import load_splits


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.set_num_threads(1)  # tiny ops: one thread is fastest, and the result is the same on any machine
    root = synthetic.generate(tmp_path_factory.mktemp("synthetic"), 1200, seed=7, images_per_identity=4,
                              progress=False)
    setup = config.resolve(profile="smoke", data=root, runs_dir=tmp_path_factory.mktemp("runs"))
    data = load_splits(setup, img_size=48, gray=True)
    torch.manual_seed(0)
    model = models.create("facenet", attributes=ATTRIBUTES, img_size=48, f1=8, f2=16, d=64)
    cfg = train.TrainConfig(epochs=25, batch_size=32, lr=3e-3, optimizer="adam", schedule="cosine", seed=0)
    run = train.fit(model, data["train"], data["val"], cfg, test=data["test"], name="smoke", setup=setup,
                    progress=False)
    return model, data, run


def test_smoke_run_lowers_the_loss(trained):
    _, _, run = trained
    assert run.history["train_loss"].iloc[-1] < 0.7 * run.history["train_loss"].iloc[0]
    assert run.history["val_loss"].iloc[-1] < run.history["val_loss"].iloc[0]


@pytest.mark.parametrize("attr", ["Eyeglasses", "Wearing_Hat", "Smiling"])
def test_smoke_run_beats_the_majority_baseline(trained, attr):
    model, data, _ = trained
    held_out_x = torch.cat([data["val"].x, data["test"].x])
    held = data["val"]._replace(x=held_out_x, y=torch.cat([data["val"].y, data["test"].y]),
                                ids=data["val"].ids + data["test"].ids,
                                identity=np.concatenate([data["val"].identity, data["test"].identity]))
    probs = train.predict(model, held)
    table, _ = metrics.evaluate(held.y.numpy(), probs, ATTRIBUTES, train_y=data["train"].y.numpy())
    assert table.loc[attr, "accuracy"] > table.loc[attr, "majority_accuracy"], table.loc[attr]
