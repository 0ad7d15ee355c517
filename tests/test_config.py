import re

import pytest

from faceattr_nb import config


def test_profiles_differ_only_in_numbers():
    names = {f for f in config.Profile.__dataclass_fields__}
    for p in config.PROFILE_TABLE.values():
        assert set(vars(p)) == names
    assert config.get_profile("smoke").n_synthetic < config.get_profile("cpu").n_synthetic


def test_profile_from_environment_and_bad_name(monkeypatch):
    monkeypatch.setenv("FACEATTR_PROFILE", "gpu")
    assert config.get_profile().name == "gpu"
    assert config.get_profile().size_for("xception") == 150
    with pytest.raises(ValueError, match="smoke, cpu, gpu"):
        config.get_profile("laptop")


def test_missing_data_root_says_what_was_expected(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACEATTR_DATA", "nowhere")
    where = re.escape(str(tmp_path.resolve() / "nowhere"))
    with pytest.raises(FileNotFoundError, match=rf"nowhere \(that is {where}: a relative path.*list_attr_celeba.txt"):
        config.resolve()


def test_detect_source_for_both_layouts(tmp_path):
    (tmp_path / "a" / "celeba").mkdir(parents=True)
    (tmp_path / "a" / "celeba" / "list_attr_celeba.txt").write_text("")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "list_attr_celeba.csv").write_text("")
    (tmp_path / "c" / "celeba_annotations").mkdir(parents=True)
    (tmp_path / "c" / "celeba_images").mkdir()
    assert config.detect_source(tmp_path / "a") == "celeba"
    assert config.detect_source(tmp_path / "b") == "celeba"
    assert config.detect_source(tmp_path / "c") == "real-subset"
    assert config.detect_source(tmp_path) is None


def test_real_subset_in_the_default_folder_is_labelled_as_such(tmp_path, monkeypatch):
    monkeypatch.delenv("FACEATTR_DATA", raising=False)
    monkeypatch.setattr(config, "REPO_ROOT", tmp_path)
    (tmp_path / "data" / "celeba" / "celeba_annotations").mkdir(parents=True)
    (tmp_path / "data" / "celeba" / "celeba_images").mkdir()
    setup = config.resolve(profile="smoke", runs_dir=tmp_path / "runs", generate=False)
    assert setup.source == "real-subset" and setup.data_root == tmp_path / "data" / "celeba"
