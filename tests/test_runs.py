"""Run records: complete, partial, corrupt, none."""
import json
import math
import warnings

import pytest

from faceattr_nb import runs
from faceattr_nb.attributes import ATTRIBUTES

SUMMARY = {"mean_accuracy": 0.9, "mean_balanced_accuracy": 0.7, "macro_f1": 0.5, "micro_f1": 0.6,
           "hamming_loss": 0.1, "hamming_score": 0.55, "majority_accuracy": 0.85}


def complete_record(name: str, created: str = "2025-01-01T00:00:00+00:00") -> dict:
    per_attr = {a: {"accuracy": 0.9, "balanced_accuracy": 0.7, "f1": 0.5, "majority_accuracy": 0.85}
                for a in ATTRIBUTES}
    return {"name": name, "model": "facenet", "model_kwargs": {}, "config": {"epochs": 1},
            "setup": {"profile": {"name": "smoke"}, "source": "synthetic"}, "data": "synthetic",
            "img_size": 36, "params": 1234, "trainable_params": 1234, "flops": None, "ms_per_image": 0.2,
            "history": [{"epoch": 1, "train_loss": 0.7, "val_loss": 0.6}],
            "metrics": {"val": per_attr, "test": per_attr},
            "summary": {"val": dict(SUMMARY, mean_accuracy=0.8), "test": SUMMARY},
            "created": created, "version": 1}


def write(runs_dir, name, content):
    (runs_dir / name).mkdir(parents=True)
    path = runs_dir / name / "record.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_complete_record_loads_without_warning(tmp_path):
    path = write(tmp_path, "a", complete_record("a"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        record = runs.load_run(path.parent)
        table = runs.list_runs(tmp_path)
    assert record["model"] == "facenet" and record["flops"] is None
    row = table.iloc[0]
    assert (row["name"], row["profile"], row["data"], row["split"]) == ("a", "smoke", "synthetic", "test")
    assert row["mean_accuracy"] == 0.9 and row["majority_accuracy"] == 0.85 and math.isnan(row["flops"])
    assert row["num_attrs"] == 40  # counted from the metrics when the record names no attrs
    assert list(table.columns) == runs.LIST_COLUMNS
    assert runs.attribute_metrics(record).loc["Bald", "f1"] == 0.5
    assert runs.history(record).val_loss.tolist() == [0.6]


def test_missing_fields_warn_and_load(tmp_path):
    record = complete_record("old")
    for field in ("flops", "ms_per_image", "created", "version"):
        del record[field]
    del record["summary"]["test"]
    path = write(tmp_path, "old", record)
    with pytest.warns(UserWarning, match=r"record\.json lacks flops, ms_per_image, created, version"):
        loaded = runs.load_run(path)
    assert math.isnan(loaded["flops"]) and loaded["created"] is None and loaded["version"] == 0
    with pytest.warns(UserWarning, match="lacks"):
        row = runs.list_runs(tmp_path).iloc[0]
    assert row["split"] == "val" and row["mean_accuracy"] == 0.8  # falls back to validation


def test_a_bare_record_loads_with_defaults(tmp_path):
    path = write(tmp_path, "bare", {"model": "xception"})
    with pytest.warns(UserWarning, match="lacks name"):
        record = runs.load_run(path)
    assert record["name"] == "bare" and record["metrics"] == {} and record["history"] == []
    assert runs.attribute_metrics(record).empty and runs.eval_split(record) is None


def test_corrupt_file_is_skipped_with_a_warning(tmp_path):
    write(tmp_path, "a_good", complete_record("a_good"))
    write(tmp_path, "b_bad", '{"name": "b_bad", "summary": ')
    write(tmp_path, "c_list", "[1, 2]")
    with pytest.warns(UserWarning) as caught:
        table = runs.list_runs(tmp_path)
    messages = [str(w.message) for w in caught]
    assert any("b_bad" in m and "not a readable run record" in m for m in messages)
    assert any("c_list" in m and "not a run record object" in m for m in messages)
    assert table.name.tolist() == ["a_good"]
    with pytest.raises(runs.RunRecordError, match="re-run its training or delete"):
        runs.load_run(tmp_path / "b_bad")


def test_empty_or_missing_dir(tmp_path):
    for folder in (tmp_path, tmp_path / "missing"):
        table = runs.list_runs(folder)
        assert table.empty and list(table.columns) == runs.LIST_COLUMNS
    assert runs.load_runs(tmp_path) == {}


def test_runs_sorted_by_creation(tmp_path):
    write(tmp_path, "late", complete_record("late", "2025-02-01T00:00:00+00:00"))
    write(tmp_path, "early", complete_record("early", "2025-01-01T00:00:00+00:00"))
    assert runs.list_runs(tmp_path).name.tolist() == ["early", "late"]
    assert set(runs.load_runs(tmp_path)) == {"early", "late"}


def test_predictions_rebuild_the_model_from_its_run(tmp_path, monkeypatch):
    import numpy as np

    from faceattr_nb import config, models, train
    from faceattr_nb.data import splits as splits_module
    from tests.helpers import toy_cache

    caches = {"train": toy_cache(16, seed=0), "val": toy_cache(8, seed=1), "test": toy_cache(8, seed=2)}
    setup = config.Setup(config.get_profile("smoke"), tmp_path, "synthetic", tmp_path / "runs", "cpu")
    model = models.create("scratch_cnn", widths=(4, 4), dense=(8,), grid=2)
    cfg = train.TrainConfig(epochs=1, batch_size=8, seed=0)
    train.fit(model, caches["train"], caches["val"], cfg, test=caches["test"], name="toy", setup=setup,
              progress=False)
    monkeypatch.setattr(splits_module, "load_splits", lambda *args, **kwargs: caches)
    record = runs.load_run(tmp_path / "runs" / "toy")
    assert runs.matches(record, setup)
    out = runs.predictions(record, setup)
    assert out["test"]["probs"].shape == (8, 40)
    np.testing.assert_allclose(out["test"]["probs"], train.predict(model.eval(), caches["test"]), atol=1e-6)
    assert (out["val"]["y"] == caches["val"].y.numpy()).all() and len(out["val"]["identity"]) == 8
    six = dict(record, name="six", attrs=ATTRIBUTES[:6])
    assert list(runs.rescore_best({"toy": record, "six": six}, setup)) == ["toy"]  # 40 attributes only
    # the order is validation's, whatever the test scores say: no run is chosen on the test faces
    summary = record["summary"]
    worse = dict(record, summary={"val": dict(summary["val"], mean_accuracy=summary["val"]["mean_accuracy"] - 0.1),
                                  "test": dict(summary["test"], mean_accuracy=1.0)})
    with monkeypatch.context() as m:
        m.setattr(runs, "predictions", lambda record, setup, splits=None: {})  # the order alone
        assert list(runs.rescore_best({"worse": worse, "toy": record}, setup, limit=1)) == ["toy"]
    record["summary"]["test"]["mean_accuracy"] += 0.1  # as if the run had seen other inputs
    assert runs.rescore_best({"toy": record}, setup) == {}  # skipped, with the reason printed
    with pytest.raises(ValueError, match="differs from the record's"):
        runs.predictions(record, setup)
    other = config.Setup(config.get_profile("cpu"), tmp_path, "synthetic", tmp_path / "runs", "cpu")
    assert not runs.matches(record, other)
    with pytest.raises(ValueError, match="another profile"):
        runs.predictions(record, other)
