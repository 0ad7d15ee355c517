"""experiments.cross_dataset (BLAN Table 9) on two tiny generated domains, and shift_domains."""
import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from faceattr_nb import config, experiments, models, train
from faceattr_nb.data import celeba, splits, synthetic
from faceattr_nb.data.loaders import build_cache

torch.set_num_threads(1)
SIZE = 32
COLUMNS = ["in_domain", "mean_accuracy", "ci_low", "ci_high", "n_identities", "majority", "test_majority", "run"]


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    """Two generated domains of 80 faces ("a": aligned, "b": another crop and pose), as caches."""
    out = {}
    for domain in ("a", "b"):
        root = synthetic.generate(tmp_path_factory.mktemp(f"dom_{domain}"), 80, seed=0, images_per_identity=5,
                                  progress=False, domain=domain)
        table, folder = celeba.read_celeba(root), celeba.image_dir(root)
        out[domain] = {name: build_cache(celeba.split(table, name), folder, SIZE, workers=1)
                       for name in ("train", "val", "test")}
    return out


def tiny_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return models.create("pse_dmtl", pse="conv", img_size=SIZE, width=8, hidden=16)


CFG = train.TrainConfig(epochs=1, batch_size=16, lr=1e-3, optimizer="adam", weight_decay=0.0)


def test_table_rows_columns_and_the_in_domain_diagonal(domains, tmp_path, monkeypatch):
    calls = []
    real_fit = experiments.fit

    def spy(model, train_cache, val_cache, cfg, **kw):
        calls.append((train_cache, val_cache, kw))
        return real_fit(model, train_cache, val_cache, cfg, **kw)

    monkeypatch.setattr(experiments, "fit", spy)
    test_only = {"test": domains["b"]["test"]}  # like the real subset's unaligned crops: never trained on
    table = experiments.cross_dataset(tiny_model, {**domains, "c": test_only}, CFG, runs_dir=tmp_path, n_boot=50)
    assert list(table.columns) == COLUMNS
    assert list(table.index) == [(s, t) for s in ("a", "b") for t in ("a", "b", "c")]
    assert table["in_domain"].tolist() == [s == t for s, t in table.index]
    assert ((table["ci_low"] <= table["mean_accuracy"]) & (table["mean_accuracy"] <= table["ci_high"])).all()
    assert table["mean_accuracy"].between(0, 1).all() and table["majority"].between(0, 1).all()
    # the floors: majority of the training domain's labels; the test domain's own majority
    y_a, y_b = domains["a"]["test"].y.numpy(), domains["b"]["train"].y.numpy()
    majority_ba = (experiments.metrics.majority_predict(y_b, len(y_a)) == y_a).mean()
    assert table.loc[("b", "a"), "majority"] == pytest.approx(majority_ba)
    assert table.loc[("b", "a"), "test_majority"] == pytest.approx(table.loc[("a", "a"), "majority"])
    # one model per trainable domain, trained on its train split, early-stopped on its val split, never a test one
    tests = [d["test"] for d in domains.values()]
    assert [(c[0], c[1]) for c in calls] == [(domains[d]["train"], domains[d]["val"]) for d in ("a", "b")]
    assert all(not any(c[i] is t for t in tests) for c in calls for i in (0, 1)) and all("test" not in c[2]
                                                                                        for c in calls)


def test_a_domain_without_validation_split_is_refused(domains, tmp_path):
    with pytest.raises(ValueError, match="'val'.*missing: {'a': \\['val'\\]}"):
        experiments.cross_dataset(tiny_model, {"a": {"train": domains["a"]["train"], "test": domains["a"]["test"]}},
                                  CFG, runs_dir=tmp_path)


def test_shift_domains_on_generated_data_makes_domain_b(tmp_path, monkeypatch):
    monkeypatch.setattr(splits, "CACHE_DIR", tmp_path / "cache")
    root = synthetic.generate(tmp_path / "synthetic_100_s0", 100, seed=0, progress=False)  # as config.resolve
    setup = config.resolve(profile="smoke", data=root, runs_dir=tmp_path / "runs")
    setup = replace(setup, source="synthetic", profile=replace(setup.profile, n_synthetic=100))  # as resolve makes it
    pair = experiments.shift_domains(setup, img_size=SIZE)
    assert list(pair) == ["generated a", "generated b"]
    assert (tmp_path / "synthetic_100_s0_b" / "synthetic.json").exists()
    a, b = pair["generated a"]["test"], pair["generated b"]["test"]
    assert len(a) and len(b) and a.x.shape[1:] == b.x.shape[1:] == (3, SIZE, SIZE)
    assert not np.array_equal(a.x.numpy().mean(0), b.x.numpy().mean(0))


def test_shift_domains_on_the_real_subset_and_with_lfwa(tmp_path, monkeypatch):
    seen = []

    def fake_load(setup, img_size=None):
        seen.append((setup.source, setup.data_root))
        names = ("train", "val", "test", "test_b") if setup.source == "real-subset" else ("train", "val", "test")
        return {n: f"{setup.source}:{n}" for n in names}

    monkeypatch.setattr(splits, "load_splits", fake_load)
    setup = config.Setup(config.get_profile("smoke"), tmp_path, "real-subset", tmp_path / "runs", "cpu")
    pair = experiments.shift_domains(setup)
    assert pair == {"CelebA aligned": {n: f"real-subset:{n}" for n in ("train", "val", "test")},
                    "CelebA unaligned crops": {"test": "real-subset:test_b"}}  # protocol b: tested on only
    pair = experiments.shift_domains(setup, lfwa_root=tmp_path / "lfwa")
    assert list(pair) == ["CelebA", "LFWA"] and "test_b" not in pair["CelebA"]
    assert seen[-1] == ("lfwa", tmp_path / "lfwa")
    with pytest.raises(ValueError, match="lfwa_root"):
        experiments.shift_domains(replace(setup, source="celeba"))
    monkeypatch.setattr(splits, "load_splits", lambda setup, img_size=None: {"train": 1, "val": 2, "test": 3})
    with pytest.raises(ValueError, match="has no unaligned crops .*Trung-Jeager-2019_validation.*lfwa_root"):
        experiments.shift_domains(setup)  # a real-subset folder without its crops


def test_a_trained_model_is_reused_and_train_on_limits_training(domains, tmp_path, monkeypatch):
    """A notebook's own run is tested as it is; with train_on=[] nothing else trains (a one-way table)."""
    calls, bars = [], []
    monkeypatch.setattr(experiments, "fit", lambda *a, **kw: calls.append(a) or pytest.fail("trained again"))
    monkeypatch.setattr(experiments, "tqdm", lambda items, **kw: bars.append(kw) or items)
    torch.manual_seed(0)
    model = tiny_model()
    table = experiments.cross_dataset(tiny_model, domains, CFG, runs_dir=tmp_path, n_boot=20,
                                      trained={"a": model}, train_on=[])
    assert list(table.index) == [("a", "a"), ("a", "b")] and calls == [] and (table["run"] == "").all()
    assert bars[0]["disable"]  # nothing trains: no progress bar named after a training that never happens
    probs = train.predict(model, domains["b"]["test"])
    expected = ((probs > 0.5) == domains["b"]["test"].y.numpy().astype(bool)).mean()
    assert table.loc[("a", "b"), "mean_accuracy"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="unknown domain.*'z'"):
        experiments.cross_dataset(tiny_model, domains, CFG, runs_dir=tmp_path, trained={"z": model})
