"""The trainer: loss goes down, exact resume, NaN error, schedules, run record, load_model."""
import json
import warnings
from dataclasses import asdict

import pytest
import torch
import torch.nn as nn

from faceattr_nb import models, train
from faceattr_nb.models.losses import bce_per_attr
from tests.helpers import toy_cache

torch.set_num_threads(1)


class Tiny(nn.Module):
    """A small CNN following the model contract, with dropout (so resume must restore the RNG)."""

    def __init__(self, num_attrs=40):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                                 nn.Flatten(), nn.Dropout(0.2), nn.Linear(32, num_attrs))

    def forward(self, x):
        return {"logits": self.net(x)}

    def losses(self, out, y):
        return {"total": bce_per_attr(out["logits"], y).mean()}


def _cfg(**kw):
    base = dict(epochs=4, batch_size=16, lr=1e-2, optimizer="adam", schedule="cosine", seed=3)
    return train.TrainConfig(**{**base, **kw})


def test_fit_lowers_loss_and_writes_record(tmp_path):
    torch.manual_seed(0)
    data = toy_cache(96)
    run = train.fit(Tiny(), data, toy_cache(32, seed=1), _cfg(epochs=6), test=toy_cache(32, seed=2),
                    name="tiny", runs_dir=tmp_path, progress=False)
    h = run.history
    assert h["train_loss"].iloc[-1] < h["train_loss"].iloc[0]
    assert h["val_loss"].iloc[-1] < h["val_loss"].iloc[0]
    record = json.loads(run.path.read_text())
    for key in ("config", "history", "metrics", "summary", "params", "flops", "ms_per_image", "data"):
        assert key in record
    assert set(record["summary"]) == {"val", "test"}
    assert len(record["metrics"]["test"]) == 40
    assert record["flops"] > 0 and record["ms_per_image"] > 0


def test_interrupted_and_resumed_run_ends_with_same_weights(tmp_path):
    data, val = toy_cache(64), toy_cache(32, seed=1)
    torch.manual_seed(0)
    full = Tiny()
    train.fit(full, data, val, _cfg(), name="full", runs_dir=tmp_path, progress=False)

    def crash_after_two(epoch, row):
        if epoch == 2:
            raise KeyboardInterrupt

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        train.fit(Tiny(), data, val, _cfg(), name="cut", runs_dir=tmp_path, progress=False,
                  on_epoch_end=crash_after_two)
    torch.manual_seed(123)  # a different init: everything must come from the checkpoint
    resumed = Tiny()
    run = train.fit(resumed, data, val, _cfg(), name="cut", runs_dir=tmp_path, progress=False)
    assert len(run.history) == 4
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k


def test_checkpoint_of_another_version_of_the_model_starts_afresh(tmp_path, capsys):
    data, val = toy_cache(64), toy_cache(32, seed=1)

    def stop_after_one(epoch, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.fit(Tiny(), data, val, _cfg(), name="old", runs_dir=tmp_path, progress=False,
                  on_epoch_end=stop_after_one)
    changed = Tiny()  # same class, kwargs and config, but its weights changed since the checkpoint
    changed.net[-1] = nn.Linear(32, 40, bias=False)
    run = train.fit(changed, data, val, _cfg(), name="old", runs_dir=tmp_path, progress=False)
    assert "starting old afresh" in capsys.readouterr().out and len(run.history) == 4


def test_new_config_fields_at_their_defaults_sign_a_checkpoint_as_before_they_existed(tmp_path):
    """A checkpoint written before TrainConfig.layer_decay existed still resumes: at its default the field is
    left out of the run's signature, which is then the older one."""
    def stop_after_one(epoch, row):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train.fit(Tiny(), toy_cache(64), toy_cache(32, seed=1), _cfg(), name="sig", runs_dir=tmp_path,
                  progress=False, on_epoch_end=stop_after_one)
    signed = json.loads(torch.load(tmp_path / "sig" / "checkpoint.pt", weights_only=False)["signature"])["config"]
    assert signed == {k: v for k, v in asdict(_cfg()).items() if k != "layer_decay"}


def test_layer_decay_steps_each_timm_stage_at_its_own_lr():
    """Discriminative learning rates: Adam's first step moves each weight by about its group's lr, so the head
    moves by lr, the top stage (and conv_head) by lr * d, ..., Lite0's stem, 8 stages down, by lr * d**8."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights: the optimizer does not care
        model = models.create("xception", backbone="tf_efficientnet_lite0")
    cfg = train.TrainConfig(lr=1e-2, optimizer="adam", weight_decay=0.0, layer_decay=0.5)
    groups = train.layer_decay_groups(model, cfg.lr, cfg.layer_decay)
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(id(p) for p in model.parameters())
    assert [g["lr"] for g in groups] == [1e-2 * 0.5 ** k for k in range(9)]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = train.make_optimizer(model, cfg)
    model.losses(model(torch.randn(4, 3, 32, 32)), torch.randint(0, 2, (4, 40)))["total"].backward()
    optimizer.step()
    params = dict(model.named_parameters())
    moved = {n: (params[n] - before[n]).abs().max().item() for n in before}
    assert moved["fc.weight"] == pytest.approx(1e-2, rel=1e-3)
    assert moved["backbone.conv_head.weight"] == pytest.approx(1e-2 * 0.5, rel=1e-3)
    assert moved["backbone.blocks.0.0.conv_dw.weight"] == pytest.approx(1e-2 * 0.5 ** 7, rel=1e-3)
    assert moved["backbone.conv_stem.weight"] == pytest.approx(1e-2 * 0.5 ** 8, rel=1e-3)

    model.freeze_backbone()  # phase 1: only the head has weights to group
    assert [len(g["params"]) for g in train.layer_decay_groups(model, 1e-3, 0.5)] == [2]


def test_layer_decay_needs_a_value_in_0_1_and_a_timm_backbone():
    with pytest.raises(ValueError, match=r"layer_decay=0.0; use a value in \(0, 1\]"):
        train.TrainConfig(layer_decay=0.0)
    with pytest.raises(ValueError, match="Tiny has none"):
        train.make_optimizer(Tiny(), _cfg(layer_decay=0.7))


def test_nan_loss_raises_a_clear_error(tmp_path):
    class Broken(Tiny):
        def losses(self, out, y):
            return {"total": out["logits"].sum() * float("nan")}

    with pytest.raises(FloatingPointError, match="Lower lr"):
        train.fit(Broken(), toy_cache(32), toy_cache(16), _cfg(epochs=1), name="nan", runs_dir=tmp_path,
                  progress=False)


def test_early_stopping_stops(tmp_path):
    cfg = _cfg(epochs=20, lr=0.0, patience=2, min_delta=0.01, schedule="constant")
    run = train.fit(Tiny(), toy_cache(32), toy_cache(16), cfg, name="es", runs_dir=tmp_path, progress=False)
    assert len(run.history) == 3  # the first epoch sets the best, two more without gain


@pytest.mark.parametrize("schedule", ["constant", "poly", "step", "cyclic", "cosine"])
def test_schedules_start_at_lr_and_stay_in_range(schedule):
    cfg = _cfg(schedule=schedule, step_size=10, min_lr=0.0)
    factors = [train.lr_factor(cfg, s, 100) for s in range(100)]
    assert all(0 <= f <= 1 for f in factors)
    if schedule in ("constant", "poly", "step", "cosine"):
        assert factors[0] == pytest.approx(1.0)
    if schedule in ("poly", "cosine", "step"):
        assert factors[-1] < 0.2


def test_bad_config_names_the_valid_values():
    with pytest.raises(ValueError, match="sgd, adam, adamw"):
        train.TrainConfig(optimizer="rmsprop")


def test_load_model_rebuilds_a_registered_model(tmp_path):
    data = toy_cache(32, size=36, channels=1, attrs=["Male", "Mustache", "Eyeglasses", "No_Beard",
                                                     "Wearing_Hat", "Bald"])
    model = models.create("facenet")
    train.fit(model, data, data, _cfg(epochs=1), name="fn", runs_dir=tmp_path, progress=False)
    again = train.load_model(tmp_path / "fn")
    x = torch.randn(4, 1, 36, 36)
    assert torch.allclose(model.eval()(x)["logits"], again(x)["logits"])
    with pytest.raises(FileNotFoundError, match="finished run"):
        train.load_model(tmp_path / "nothing")


def test_kept_epoch_is_the_epoch_whose_weights_fit_keeps(tmp_path):
    torch.manual_seed(0)
    run = train.fit(Tiny(), toy_cache(64), toy_cache(32, seed=1), _cfg(epochs=5, lr=0.05), name="kept",
                    runs_dir=tmp_path, progress=False)
    kept = train.kept_epoch(run.history)
    row = run.history.set_index("epoch").loc[kept]
    assert row["val_loss"] == run.history["val_loss"].min()
    assert run.summary["val"]["mean_accuracy"] == pytest.approx(row["val_accuracy"], abs=1e-6)


def test_kept_epoch_follows_min_delta_and_monitor():
    import pandas as pd
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "val_loss": [1.0, 0.995, 0.9, 0.899],
                            "val_accuracy": [0.5, 0.7, 0.6, 0.65]})
    assert train.kept_epoch(history) == 4
    assert train.kept_epoch(history, min_delta=0.01) == 3  # 0.995 and 0.899 are not gains of 0.01
    assert train.kept_epoch(history, monitor="val_accuracy") == 2


def test_a_run_with_progress_draws_two_bars_and_prints_one_line(tmp_path, capsys, monkeypatch):
    """A saved notebook keeps each bar's first text ("0%"): one bar per epoch would read as 12 runs
    that never started. The run's outcome goes into a printed line, which every export keeps."""
    made = []
    real = train.tqdm

    def counting(*args, **kwargs):
        made.append(kwargs.get("desc"))
        return real(*args, **kwargs)

    monkeypatch.setattr(train, "tqdm", counting)
    torch.manual_seed(0)
    run = train.fit(Tiny(), toy_cache(64), toy_cache(32, seed=1), _cfg(epochs=4), name="bars", runs_dir=tmp_path)
    assert len(made) == 2
    kept = train.kept_epoch(run.history)
    line = capsys.readouterr().out.strip().splitlines()[-1]
    val_loss = run.history.set_index("epoch").loc[kept, "val_loss"]
    assert line.startswith("bars: trained epochs 1-4 of 4 in ")
    assert f"keeps epoch {kept} (val_loss {val_loss:.4f})" in line
    made.clear()
    train.fit(Tiny(), toy_cache(64), toy_cache(32, seed=1), _cfg(epochs=4), name="bars", runs_dir=tmp_path)
    assert "trained epochs" not in capsys.readouterr().out  # resumed after its last epoch: nothing trained


def test_an_early_stop_ends_the_notebook_bar_complete_not_failed(tmp_path, monkeypatch):
    """tqdm draws a notebook bar closed below its total red, as after a crash; an early stop is by design."""
    pytest.importorskip("ipywidgets")
    from tqdm.notebook import tqdm as notebook_tqdm
    made = []

    def keeping(*args, **kwargs):
        made.append(notebook_tqdm(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(train, "tqdm", keeping)
    cfg = _cfg(epochs=20, lr=0.0, patience=2, min_delta=0.01, schedule="constant")
    run = train.fit(Tiny(), toy_cache(64), toy_cache(32, seed=1), cfg, name="stops", runs_dir=tmp_path)
    epochs = made[0]
    _, bar, _ = epochs.container.children
    assert len(run.history) == 3 < cfg.epochs
    assert bar.bar_style == "success" and bar.max == bar.value == 3
    assert epochs.desc.startswith("stops, early stop")

    class Broken(Tiny):
        def losses(self, out, y):
            return {"total": out["logits"].sum() * float("nan")}

    made.clear()
    with pytest.raises(FloatingPointError):
        train.fit(Broken(), toy_cache(32), toy_cache(16), _cfg(epochs=3), name="nan", runs_dir=tmp_path)
    assert made[0].container.children[1].bar_style == "danger"  # a failed run is still drawn as one
