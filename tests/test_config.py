import re

import numpy as np
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


# ---- the course subset: the cpu profile's default on a full CelebA, the whole set one setting away ----

MANIFEST = ("000002.jpg", "000005.jpg", "000008.jpg", "000011.jpg")  # 2 train, 1 val, 1 test of fake_celeba(n=12)


@pytest.fixture
def full_celeba(tmp_path, monkeypatch):
    """A 12-image Kaggle-layout CelebA as FACEATTR_DATA, with a 4-image course-subset manifest."""
    from faceattr_nb.data import celeba
    from tests.conftest import fake_celeba

    monkeypatch.setattr(celeba, "course_subset_ids", lambda: MANIFEST)
    monkeypatch.setenv("FACEATTR_DATA", str(fake_celeba(tmp_path / "celeba", layout="kaggle")))
    monkeypatch.delenv("FACEATTR_SUBSET", raising=False)
    monkeypatch.delenv("FACEATTR_MISSING", raising=False)
    return tmp_path / "celeba"


def split_ids(**kw) -> dict[str, list[str]]:
    from faceattr_nb.data.splits import split_tables

    setup = config.resolve(runs_dir="unused", generate=False, **kw)
    return {name: table["image_id"].tolist() for name, (table, _) in split_tables(setup).items()}


def test_profiles_choose_the_course_subset_or_all():
    assert [config.get_profile(p).subset for p in config.PROFILES] == [None, "course", None]


def test_cpu_profile_reads_the_course_subset_and_all_is_one_setting_away(full_celeba, monkeypatch):
    assert split_ids(profile="cpu") == {"train": ["000002.jpg", "000005.jpg"], "val": ["000008.jpg"],
                                        "test": ["000011.jpg"]}
    assert "data=celeba, course subset" in config.resolve(profile="cpu", generate=False).describe()
    assert [len(v) for v in split_ids(profile="cpu", subset="all").values()] == [6, 3, 3]
    assert [len(v) for v in split_ids(profile="smoke").values()] == [6, 3, 3]
    assert [len(v) for v in split_ids(profile="smoke", subset="course").values()] == [2, 1, 1]
    monkeypatch.setenv("FACEATTR_SUBSET", "ALL")
    assert config.resolve(profile="cpu", generate=False).profile.subset is None
    assert [len(v) for v in split_ids(profile="cpu").values()] == [6, 3, 3]
    monkeypatch.setenv("FACEATTR_SUBSET", "half")
    with pytest.raises(ValueError, match="unknown subset 'half'; choose one of course, all .*FACEATTR_SUBSET"):
        config.resolve(profile="cpu")


def test_only_the_subset_images_need_to_be_there(full_celeba, monkeypatch, capsys):
    for path in (full_celeba / "img_align_celeba" / "img_align_celeba").iterdir():
        if path.name not in MANIFEST and path.name != "000001.jpg":
            path.unlink()
    assert [len(v) for v in split_ids(profile="cpu").values()] == [2, 1, 1]
    monkeypatch.setenv("FACEATTR_SUBSET", "all")
    with pytest.raises(FileNotFoundError, match=r"7 of 12 listed images are missing .* FACEATTR_MISSING=skip"):
        split_ids(profile="cpu")
    monkeypatch.setenv("FACEATTR_MISSING", "skip")
    assert [len(v) for v in split_ids(profile="cpu").values()] == [3, 1, 1]
    assert "using the 5 of 12 listed images" in capsys.readouterr().out


def test_synthetic_data_is_never_cut_to_the_subset(tmp_path, monkeypatch):
    from faceattr_nb.data import celeba, splits
    from tests.conftest import fake_celeba

    monkeypatch.setattr(celeba, "course_subset_ids", lambda: MANIFEST)
    root = fake_celeba(tmp_path / "synthetic")
    setup = config.Setup(config.get_profile("cpu"), root, "synthetic", tmp_path / "runs", "cpu")
    assert [len(t) for t, _ in splits.split_tables(setup).values()] == [6, 3, 3]


def test_cpu_profile_trains_the_same_steps_on_more_faces():
    """Notebooks 05 and 06 in the cpu profile: 12 epochs on the generated faces, 6 on the real subset's 4,560."""
    from faceattr_nb.data import synthetic

    cpu = config.get_profile("cpu")
    sample = synthetic.sample_labels(cpu.n_synthetic)
    n_ids = int(sample.identity[-1]) + 1
    generated_train = int((synthetic._partitions(n_ids, np.random.default_rng(0))[sample.identity] == 0).sum())
    assert generated_train <= cpu.train_images and cpu.epochs_for(generated_train) == cpu.epochs == 12
    assert cpu.epochs_for(4560) == 6 and cpu.epochs_for(162_770) == 1  # the real subset; all of CelebA's train
    steps = {n: cpu.epochs_for(n) * (n // cpu.batch_size) for n in (cpu.train_images, 4560, 9600)}
    assert max(steps.values()) / min(steps.values()) < 1.1  # about the same number of optimizer steps
    for name in ("smoke", "gpu"):  # no cap: the profile's epochs on any number of faces
        p = config.get_profile(name)
        assert p.epochs_for(10**6) == p.epochs


def test_transfer_report_setup_changes_the_gpu_profile_only(tmp_path):
    for name in config.PROFILES:
        setup = config.Setup(profile=config.get_profile(name), data_root=tmp_path, source="synthetic",
                             runs_dir=tmp_path, device="cpu", seed=0)
        out = config.transfer_report_setup(setup)
        if name == "gpu":
            assert (out.profile.max_train, out.profile.max_eval, out.profile.epochs) == (40_000, 10_000, 40)
            assert out.profile.img_size == setup.profile.img_size and out.data_root == setup.data_root
        else:
            assert out == setup
