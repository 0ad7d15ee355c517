"""benchmarks/real_subset.py on a tiny generated real-subset folder: JSON fields, intervals, the RESULTS.md section."""
import dataclasses
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceattr_nb import config, models, train
from faceattr_nb.data import celeba, splits
from tests.conftest import fake_celeba

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import inference_levers  # noqa: E402  (benchmarks/inference_levers.py)
import paired  # noqa: E402  (benchmarks/paired.py)
import real_subset  # noqa: E402  (a script beside the package, not part of it)

BEFORE = "# Measured results\n\n## An older table\n\n| run | accuracy |\n|---|---|\n| kept | 85.00% |\n"
AFTER = "\n## A later section\n\nkept as well.\n"


def fake_real_subset(root: Path) -> Path:
    """The shared folder's layout: annotations + aligned images (all partitions) + unaligned test crops."""
    fake_celeba(root / "celeba_annotations", n=64, seed=3, size=(178, 218))  # the aligned layout's size
    images = root / "celeba_images"
    images.mkdir()
    aligned = images / "Nikhil4902_CelebA_Dataset"
    shutil.move(root / "celeba_annotations" / "img_align_celeba", aligned)
    unaligned = images / "Trung-Jeager-2019_validation"
    unaligned.mkdir()
    for name in sorted(p.name for p in aligned.iterdir())[48:]:  # the official-test quarter
        shutil.copy(aligned / name, unaligned / name)
    return root


def table(md: Path) -> list[str]:
    """The lines of the main table of the real-subset section (not the chosen-on-validation table under it)."""
    text = md.read_text()
    return text[text.index(real_subset.BEGIN):text.index("### Each model's run chosen")].splitlines()


@pytest.fixture
def bench(tmp_path, monkeypatch):
    monkeypatch.setattr(splits, "CACHE_DIR", tmp_path / "cache")
    data = fake_real_subset(tmp_path / "shared")
    aligned = sorted(p.name for p in (data / "celeba_images" / "Nikhil4902_CelebA_Dataset").iterdir())
    monkeypatch.setattr(celeba, "course_subset_ids", lambda: tuple(aligned))  # the fake folder's own subset
    md = tmp_path / "RESULTS.md"
    md.write_text(BEFORE + f"\n{real_subset.BEGIN}\nan outdated table\n{real_subset.END}\n" + AFTER)

    def run(*models: str, seeds: int = 1, extra: tuple[str, ...] = ()) -> list[Path]:
        return real_subset.main(["--data", str(data), "--models", *models, "--size", "32", "--epochs", "1",
                                 "--seeds", str(seeds), "--batch-size", "16", "--profile", "smoke",
                                 "--out", str(tmp_path / "out"), "--results-md", str(md),
                                 "--runs", str(tmp_path / "runs"), "--threads", "1", *extra])
    return run, md


def test_json_has_results_intervals_and_provenance(bench):
    run, _ = bench
    (path,) = run("scratch_cnn", seeds=2)
    record = json.loads(path.read_text())
    assert record["spec"] == "scratch_cnn" and record["img_size"] == 32 and record["seeds"] == [0, 1]
    assert record["data"]["source"] == "real-subset" and record["data"]["n_test_b"] == 16
    for key in ("wall_s", "machine", "date", "command", "train_config", "create_kwargs", "backbone_weights"):
        assert record[key] not in (None, "")
    assert "--models scratch_cnn" in record["command"]
    row = record["rows"]["scratch_cnn"]
    for split in ("test", "test_b"):
        for ci in (row[split], record["majority"][split]):
            assert 0 <= ci["low"] <= ci["mean"] <= ci["high"] <= 1
        assert len(row[split]["seeds"]) == 2 and row[split]["sd"] is not None
        assert row[split]["mean"] == pytest.approx(sum(row[split]["seeds"]) / 2)
    assert row["test"]["n_groups"] == 6  # 16 test images of 6 identities (3 images each, one has 1)


def test_results_md_section_is_rebuilt_between_the_markers_only(bench):
    run, md = bench
    run("scratch_cnn")
    run("pse_baseline")
    text = md.read_text()
    assert text.startswith(BEFORE) and text.endswith(AFTER)
    section = text[text.index(real_subset.BEGIN):text.index(real_subset.END)]
    assert "an outdated table" not in section
    rows = [line for line in table(md) if line.startswith("| scratch_cnn") or line.startswith("| pse_")]
    assert len(rows) == 2 and all("python benchmarks/real_subset.py" in r and "32 px" in r for r in rows)
    run("scratch_cnn")  # a second run of a spec replaces its row, it does not add one
    assert sum(line.startswith("| scratch_cnn |") for line in table(md)) == 1


def test_another_results_folder_gets_a_section_of_its_own(bench, tmp_path):
    run, md = bench
    run("scratch_cnn")
    before = md.read_text()
    main = before[before.index(real_subset.BEGIN):before.index(real_subset.END)]
    run("pse_baseline", extra=("--out", str(tmp_path / "gpu"), "--section", "real_subset_gpu"))  # e.g. on a GPU
    text = md.read_text()
    assert text.startswith(before.rstrip("\n")) and main in text  # the main section and the rest as they were
    begin, end = real_subset.markers("real_subset_gpu")
    assert begin == "<!-- real_subset_gpu:begin -->" and text.count(begin) == text.count(end) == 1
    section = text[text.index(begin):text.index(end)]
    assert text.endswith(end + "\n")  # appended after them
    assert f"## Every model on the real subset, the runs in `{(tmp_path / 'gpu').resolve()}`" in section
    assert "| pse_baseline |" in section and "| scratch_cnn |" not in section


def test_val_accuracy_is_that_of_the_kept_epoch(bench, tmp_path):
    run, md = bench
    (path,) = run("scratch_cnn", extra=("--epochs", "3"))
    row = json.loads(path.read_text())["rows"]["scratch_cnn"]
    history = json.loads((tmp_path / "runs" / f"rs_{path.stem}_s0" / "record.json").read_text())["history"]
    kept = min(history, key=lambda h: h["val_loss"])
    assert len(history) == 3 and row["best_epoch"] == [kept["epoch"]]
    assert row["val_accuracy"] == [pytest.approx(kept["val_accuracy"])]
    (line,) = [line for line in table(md) if line.startswith("| scratch_cnn |")]
    assert f"| {100 * kept['val_accuracy']:.2f}% |" in line


def test_lite0_transfer_reports_both_phases_with_the_wheel_weights(bench):
    run, md = bench
    (path,) = run("lite0")
    record = json.loads(path.read_text())
    assert list(record["rows"]) == ["lite0_frozen", "lite0_finetune"]
    assert record["backbone_weights"].startswith("ImageNet") and record["finetune_lr"] < record["train_config"]["lr"]
    rows = {line.split(" | ")[0][2:]: line for line in table(md) if line.startswith("| lite0_")}
    assert "| adam 0.001, constant |" in rows["lite0_frozen"]  # each phase shows the lr it trained at
    assert f"| adam {record['finetune_lr']:g}, constant |" in rows["lite0_finetune"]
    assert not real_subset.SPECS["xception_random"].default  # slow on a CPU: out of "all"


def test_finetune_epochs_lengthen_phase_2_only(bench):
    run, md = bench
    path, plain = run("lite0", "scratch_cnn", extra=("--finetune-epochs", "2"))  # scratch_cnn has no phase 2
    assert path.name == "lite0_32px_1+2ep_1seeds.json" and plain.name == "scratch_cnn_32px_1ep_1seeds.json"
    rows = json.loads(path.read_text())["rows"]
    assert rows["lite0_frozen"]["epochs_run"] == [1] and rows["lite0_finetune"]["epochs_run"] == [2]
    lines = {line.split(" | ")[0][2:]: line.split(" | ") for line in table(md)
             if line.startswith("| lite0_") or line.startswith("| scratch_cnn |")}
    assert lines["lite0_frozen"][4].startswith("1 (") and lines["lite0_finetune"][4].startswith("2 (")
    assert lines["scratch_cnn"][4].startswith("1 (")


def test_shifted_run_is_a_row_of_its_own_that_says_so(bench):
    run, md = bench
    (plain,) = run("scratch_cnn")
    (shifted,) = run("scratch_cnn", extra=("--shift", "2"))
    assert plain != shifted and plain.exists()
    records = {p.parent.name for p in (plain.parents[1] / "runs").glob("*/record.json")}
    assert records == {f"rs_{plain.stem}_s0", f"rs_{shifted.stem}_s0"}  # each setting keeps its run record
    assert json.loads(shifted.read_text())["train_config"]["shift"] == 2
    rows = [line for line in table(md) if line.startswith("| scratch_cnn |")]
    assert len(rows) == 2 and sum("32 px, shift ±2" in r for r in rows) == 1


def test_schedule_option_replaces_the_specs_and_gets_its_own_row(bench):
    run, md = bench
    (plain,) = run("scratch_cnn")
    (cosine,) = run("scratch_cnn", extra=("--schedule", "cosine"))
    assert cosine.name == "scratch_cnn_32px_cosine_1ep_1seeds.json" and plain.exists()
    assert json.loads(plain.read_text())["train_config"]["schedule"] == "constant"  # the spec's own
    assert json.loads(cosine.read_text())["train_config"]["schedule"] == "cosine"
    rows = [line for line in table(md) if line.startswith("| scratch_cnn |")]
    assert sorted(r.split(" | ")[3] for r in rows) == ["adam 0.001, constant", "adam 0.001, cosine"]
    with pytest.raises(SystemExit):
        real_subset.parse(["--schedule", "linear"])


def test_json_names_keep_runs_with_other_settings_apart():
    name = real_subset.json_name
    assert name("lite0", 128, 3, 1) == "lite0_128px_3ep_1seeds.json"
    assert name("lite0", 160, 3, 1, shift=8, finetune_lr=3e-4) == "lite0_160px_shift8_ft0.0003_3ep_1seeds.json"
    assert len({name("lite0", 160, 3, 1, finetune_lr=lr) for lr in (None, 3e-4, 1e-3)}) == 3
    assert name("lite0", 160, 3, 1, finetune_lr=3e-4, finetune_epochs=6) == "lite0_160px_ft0.0003_3+6ep_1seeds.json"
    cosine = name("lite0", 160, 3, 1, finetune_lr=3e-4, schedule="cosine")
    assert cosine == "lite0_160px_ft0.0003_cosine_3ep_1seeds.json"


def test_full_frame_run_sees_the_whole_image_and_says_so(bench, tmp_path):
    run, md = bench
    (square,) = run("scratch_cnn")
    (full,) = run("scratch_cnn", extra=("--frame", "full"))
    assert full.name == "scratch_cnn_32px_full_1ep_1seeds.json" and square.exists()
    assert json.loads(full.read_text())["frame"] == "full" and json.loads(square.read_text())["frame"] == "square"
    rows = [line.split(" | ")[2] for line in table(md) if line.startswith("| scratch_cnn |")]
    assert sorted(rows) == ["32 px", "32 px, full frame"]
    a, b = (tmp_path / "runs" / f"rs_{p.stem}_s0" for p in (square, full))
    assert real_subset.run_input([b]) == (32, "full") and real_subset.run_input([a]) == (32, "square")
    (a / real_subset.INPUT).unlink()  # a run from before --frame: it saw the centre square
    assert real_subset.run_input([a]) == (32, "square")
    with pytest.raises(ValueError, match="different inputs"):  # one set of images cannot serve both
        real_subset.run_input([a, b])
    diff = paired.main([str(b), str(a), "--data", str(tmp_path / "shared"), "--profile", "smoke"])
    for split in diff:  # each model on its own frame of the same faces
        want = json.loads(full.read_text())["rows"]["scratch_cnn"][split]["mean"] - \
            json.loads(square.read_text())["rows"]["scratch_cnn"][split]["mean"]
        assert diff[split]["mean"] == pytest.approx(want)
    # each run, scored again on the images of its own frame, reproduces the benchmark's (a) accuracy
    setup = config.resolve(profile="smoke", data=str(tmp_path / "shared"), runs_dir=tmp_path / "runs")
    for path, run_dir, square_crop in ((square, a, True), (full, b, False)):
        faces = splits.load_splits(setup, img_size=32, square=square_crop)["test"]
        probs = train.predict(train.load_model(run_dir), faces)
        want = json.loads(path.read_text())["rows"]["scratch_cnn"]["test"]["mean"]
        assert real_subset.correct_per_image(faces, probs).mean() == pytest.approx(want)


def test_load_splits_square_or_full_frame_of_the_aligned_images(bench, tmp_path):
    setup = config.resolve(profile="smoke", data=str(tmp_path / "shared"), runs_dir=tmp_path / "runs")
    table, folder = splits.split_tables(setup)["train"]
    image = Image.open(Path(folder) / table["image_id"].iloc[0]).convert("RGB")  # 178 x 218
    want = {True: image.crop((0, 20, 178, 198)).resize((32, 32), Image.BILINEAR),  # the centre square
            False: image.resize((32, 32), Image.BILINEAR)}  # the whole frame, squeezed
    assert not np.array_equal(np.asarray(want[True]), np.asarray(want[False]))  # the two frames differ here
    for square, im in want.items():
        x = splits.load_splits(setup, img_size=32, square=square)["train"].x[0].numpy()
        assert np.array_equal(x, np.asarray(im).transpose(2, 0, 1))
    only = splits.load_splits(setup, img_size=32, splits=("test", "test_b"))  # what re-scoring decodes
    full = splits.load_splits(setup, img_size=32)
    assert set(only) == {"test", "test_b"} and set(full) == {"train", "val", "test", "test_b"}
    assert torch.equal(only["test_b"].x, full["test_b"].x)


def test_chosen_table_takes_each_models_best_validation_row_not_its_best_test_row(bench):
    run, _ = bench
    (path,) = run("scratch_cnn")
    record = json.loads(path.read_text())
    row = record["rows"]["scratch_cnn"]

    def variant(size: int, val: float | None, test: float) -> dict:
        r = json.loads(json.dumps(record))
        r["img_size"] = size
        r["rows"]["scratch_cnn"]["test"] = dict(row["test"], mean=test)
        if val is None:
            del r["rows"]["scratch_cnn"]["val_accuracy"]
        else:
            r["rows"]["scratch_cnn"]["val_accuracy"] = [val]
        return r

    records = [variant(32, 0.80, 0.90), variant(48, 0.85, 0.70), variant(64, None, 0.95)]
    section = real_subset.render(records)
    chosen = section[section.index("### Each model's run chosen on validation"):]
    (line,) = [line for line in chosen.splitlines() if line.startswith("| scratch_cnn |")]
    cells = line.split(" | ")
    assert cells[1] == "48 px" and cells[5] == "85.00%" and cells[6].startswith("70.00%")  # val picks, not test
    assert cells[-1] == "3 (2) |"
    assert "### Each model" not in real_subset.render([variant(32, None, 0.9)])  # nothing recorded: no table


@pytest.mark.parametrize("stats, learns", [("imagenet", False), ("faces", True)])
def test_finetune_bn_decides_whether_batchnorm_learns_the_faces_in_phase_2(stats, learns):
    spec = dataclasses.replace(real_subset.SPECS["lite0"], finetune_bn=stats)
    stages = real_subset.phases(spec, models.create(spec.model, **spec.kwargs), train.TrainConfig(epochs=3))

    def batchnorm_learns(stage) -> set[bool]:
        stage.train()  # what fit does at the start of every epoch
        return {m.training for m in stage.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)}

    _, frozen, _ = next(stages)
    assert batchnorm_learns(frozen) == {False}  # phase 1 keeps ImageNet's statistics either way
    _, tuned, cfg = next(stages)
    assert batchnorm_learns(tuned) == {learns} and cfg.lr == spec.finetune_lr
    record = {"train_config": dataclasses.asdict(cfg), "finetune_lr": spec.finetune_lr, "finetune_bn": stats}
    assert real_subset.recipe(record, finetune=True).endswith("BatchNorm on faces") == learns
    assert real_subset.json_name("lite0", 160, 3, 1, finetune_bn=stats) == f"lite0_160px_bn{stats}_3ep_1seeds.json"


@pytest.mark.parametrize("stats, active", [("imagenet", False), ("faces", True)])
def test_drop_path_skips_blocks_in_a_phase_2_that_learns_batchnorm_only(stats, active):
    spec = dataclasses.replace(real_subset.SPECS["lite0"], finetune_bn=stats,
                               kwargs=dict(real_subset.SPECS["lite0"].kwargs, drop_path_rate=0.2))
    stages = real_subset.phases(spec, models.create(spec.model, **spec.kwargs), train.TrainConfig(epochs=3))

    def skips_blocks(stage) -> set[bool]:
        stage.train()  # what fit does at the start of every epoch
        return {m.training for m in stage.backbone.modules() if type(m).__name__ == "DropPath"}

    _, frozen, _ = next(stages)
    assert skips_blocks(frozen) == {False}  # phase 1: the frozen base runs in inference mode
    _, tuned, _ = next(stages)
    assert skips_blocks(tuned) == {active}
    record = {"train_config": dataclasses.asdict(train.TrainConfig()), "finetune_lr": spec.finetune_lr,
              "finetune_bn": stats, "create_kwargs": spec.kwargs}
    assert real_subset.recipe(record, finetune=True).endswith(", stochastic depth 0.2") == active
    assert "stochastic depth" not in real_subset.recipe(record)  # the frozen phase's row
    assert real_subset.json_name("lite0", 160, 3, 1, finetune_bn=stats, drop_path=0.2) == \
        f"lite0_160px_bn{stats}_dp0.2_3ep_1seeds.json"


def test_drop_path_run_records_the_rate_and_refuses_specs_without_a_timm_base(bench):
    run, md = bench
    (path,) = run("lite0", extra=("--drop-path", "0.1", "--finetune-bn", "faces"))
    record = json.loads(path.read_text())
    assert path.name == "lite0_32px_bnfaces_dp0.1_1ep_1seeds.json" and record["create_kwargs"]["drop_path_rate"] == 0.1
    rows = {line.split(" | ")[0][2:]: line for line in table(md) if line.startswith("| lite0_")}
    assert "stochastic depth 0.1 |" in rows["lite0_finetune"] and "stochastic depth" not in rows["lite0_frozen"]
    with pytest.raises(SystemExit, match="scratch_cnn"):
        run("lite0", "scratch_cnn", extra=("--drop-path", "0.1"))


def test_layer_decay_shapes_phase_2_only_and_gets_a_row_of_its_own(bench):
    spec = dataclasses.replace(real_subset.SPECS["lite0"], finetune_layer_decay=0.5)
    stages = real_subset.phases(spec, models.create(spec.model, **spec.kwargs), train.TrainConfig(epochs=3))
    (_, _, frozen), (_, _, tuned) = next(stages), next(stages)
    assert frozen.layer_decay is None and tuned.layer_decay == 0.5  # phase 1 stays the plain run's
    run, md = bench
    (path,) = run("lite0", extra=("--layer-decay", "0.5", "--finetune-lr", "3e-3"))
    assert path.name == "lite0_32px_ft0.003_ld0.5_1ep_1seeds.json"
    assert json.loads(path.read_text())["finetune_layer_decay"] == 0.5
    rows = {line.split(" | ")[0][2:]: line for line in table(md) if line.startswith("| lite0_")}
    assert "| adam 0.003, constant, layer decay 0.5 |" in rows["lite0_finetune"]
    assert "layer decay" not in rows["lite0_frozen"]
    with pytest.raises(SystemExit, match="scratch_cnn"):
        run("lite0", "scratch_cnn", extra=("--layer-decay", "0.5"))


def test_teacher_runs_are_distilled_into_a_row_of_its_own(bench, tmp_path):
    run, md = bench
    (first,) = run("lite0")
    teacher = tmp_path / "runs" / f"rs_{first.stem}_s0_finetune"
    (path,) = run("lite0", extra=("--teacher", str(teacher), "--teacher-weight", "0.5"))
    record = json.loads(path.read_text())
    assert path.name.startswith("lite0_32px_kd1-") and path.name.endswith("w0.5_1ep_1seeds.json")
    assert record["teachers"] == [teacher.name] and record["teacher_weight"] == 0.5
    assert 0.0 < record["teacher_train_agreement"] <= 1.0  # an untrained teacher here: about a coin toss
    lines = [line for line in table(md) if "distilled from 1 runs (weight 0.5)" in line]
    assert [line.split(" | ")[0][2:] for line in lines] == ["lite0_frozen", "lite0_finetune"]
    with pytest.raises(SystemExit, match="scratch_cnn"):
        run("lite0", "scratch_cnn", extra=("--teacher", str(teacher)))
    with pytest.raises(SystemExit, match="teacher-weight 1.5"):
        run("lite0", extra=("--teacher", str(teacher), "--teacher-weight", "1.5"))
    with pytest.raises(SystemExit, match="32 px"):
        real_subset.main(["--data", str(tmp_path / "shared"), "--models", "lite0", "--size", "48", "--epochs", "1",
                          "--profile", "smoke", "--out", str(tmp_path / "out"), "--results-md", str(md),
                          "--runs", str(tmp_path / "runs"), "--teacher", str(teacher)])


def test_shared_head_seeds_start_phase_2_from_seed_0s_phase_1(bench, tmp_path):
    run, md = bench
    (path,) = run("lite0", seeds=2, extra=("--shared-head",))
    record = json.loads(path.read_text())
    assert path.name == "lite0_32px_sharedhead_1ep_2seeds.json" and record["shared_head"] is True
    runs = {p.name.removeprefix(f"rs_{path.stem}_") for p in (tmp_path / "runs").iterdir()
            if p.name.startswith(f"rs_{path.stem}_")}
    assert runs == {"s0_frozen", "s0_finetune", "s1_finetune"}  # one phase 1, trained once, for both seeds
    frozen = record["rows"]["lite0_frozen"]["test"]["seeds"]
    assert frozen[0] == frozen[1]  # seed 1's phase 1 is seed 0's
    start = train.load_model(tmp_path / "runs" / f"rs_{path.stem}_s0_frozen").state_dict()
    tuned = [train.load_model(tmp_path / "runs" / f"rs_{path.stem}_s{s}_finetune").state_dict() for s in (0, 1)]
    moved = [max(float((t[k].float() - start[k].float()).abs().max()) for k in start if start[k].is_floating_point())
             for t in tuned]
    assert min(moved) > 0 and any(not torch.equal(tuned[0][k], tuned[1][k]) for k in start)  # phase 2 differs
    lines = [line for line in table(md) if line.startswith("| lite0_") and "phase 1 shared by the seeds" in line]
    assert [line.split(" | ")[0][2:] for line in lines] == ["lite0_frozen", "lite0_finetune"]
    with pytest.raises(SystemExit, match="scratch_cnn"):
        run("lite0", "scratch_cnn", extra=("--shared-head",))


def test_paired_difference_of_two_saved_runs(bench, tmp_path):
    run, _ = bench
    (plain,) = run("scratch_cnn")
    (shifted,) = run("scratch_cnn", extra=("--shift", "2"))
    a, b = (tmp_path / "runs" / f"rs_{p.stem}_s0" for p in (plain, shifted))
    common = ["--data", str(tmp_path / "shared"), "--profile", "smoke"]
    result = paired.main([str(a), str(b), *common])
    assert set(result) == {"test", "test_b"}
    for split in result:  # A - B is the difference of the two rows' accuracies on the same faces
        want = json.loads(plain.read_text())["rows"]["scratch_cnn"][split]["mean"] - \
            json.loads(shifted.read_text())["rows"]["scratch_cnn"][split]["mean"]
        assert result[split]["mean"] == pytest.approx(want)
        assert result[split]["low"] <= result[split]["mean"] <= result[split]["high"]
    same = paired.main([str(a), str(a), *common])["test"]
    assert same["mean"] == same["low"] == same["high"] == 0.0  # a model against itself: no difference at all
    (other,) = run("scratch_cnn", extra=("--size", "48"))  # another input side: each scored on its own images
    bigger = paired.main([str(tmp_path / "runs" / f"rs_{other.stem}_s0"), str(a), *common])
    for split in bigger:
        want = json.loads(other.read_text())["rows"]["scratch_cnn"][split]["mean"] - \
            json.loads(plain.read_text())["rows"]["scratch_cnn"][split]["mean"]
        assert bigger[split]["mean"] == pytest.approx(want)


def test_inference_levers_of_saved_seeds(bench, tmp_path):
    run, md = bench
    (path,) = run("scratch_cnn", seeds=2)
    runs = [tmp_path / "runs" / f"rs_{path.stem}_s{seed}" for seed in (0, 1)]
    record = inference_levers.main([*map(str, runs), "--data", str(tmp_path / "shared"), "--profile", "smoke",
                                    "--out", str(tmp_path / "levers"), "--results-md", str(md)])
    rows = {(r["variant"], r["thresholds"]): r for r in record["rows"]}
    variants = ["seed 0", "seed 0, flip", "seed 1", "seed 1, flip", "mean of 2 seeds", "mean of 2 seeds, flip"]
    assert list(dict.fromkeys(v for v, _ in rows)) == variants
    trained = json.loads(path.read_text())["rows"]["scratch_cnn"]
    for split in ("test", "test_b"):  # the runs as trained reproduce the benchmark's own scores
        for seed in (0, 1):
            assert rows[(f"seed {seed}", "0.5")][split]["mean"] == pytest.approx(trained[split]["seeds"][seed])
        first = rows[("seed 0", "0.5")]
        assert first[f"{split}_diff"]["mean"] == first[f"{split}_diff"]["high"] == 0.0  # itself: no difference
        for row in rows.values():  # every difference is the two accuracies' difference on the same faces
            assert row[f"{split}_diff"]["mean"] == pytest.approx(row[split]["mean"] - first[split]["mean"])
            assert row[split]["low"] <= row[split]["mean"] <= row[split]["high"]
    for variant in variants:  # accuracy-tuned thresholds never score lower on the images they were tuned on
        assert rows[(variant, "tuned on val")]["val"] >= rows[(variant, "0.5")]["val"] - 1e-12
    setup = config.resolve(profile="smoke", data=str(tmp_path / "shared"), runs_dir=tmp_path / "runs")
    data = splits.load_splits(setup, img_size=32)
    probs = inference_levers.predictions(runs, data)
    faces = data["test"]
    mirrored = train.predict(train.load_model(runs[0]), dataclasses.replace(faces, x=faces.x.flip(-1)))
    assert np.allclose(probs["seed 0, flip"]["test"], (probs["seed 0"]["test"] + mirrored) / 2)
    assert not np.allclose(probs["seed 0, flip"]["test"], probs["seed 0"]["test"])  # the mirror counts
    assert np.allclose(probs["mean of 2 seeds"]["test_b"], (probs["seed 0"]["test_b"] + probs["seed 1"]["test_b"]) / 2)
    text = md.read_text()
    section = text[text.index(inference_levers.BEGIN):text.index(inference_levers.END)]
    assert section.count("| mean of 2 seeds, flip | tuned on val |") == 1 and AFTER in text

    # runs of two input sides: each scored on the same faces at its own side, then averaged
    (other,) = run("scratch_cnn", extra=("--size", "48"))
    mixed = [runs[0], tmp_path / "runs" / f"rs_{other.stem}_s0"]
    assert inference_levers.run_labels(mixed) == ["scratch_cnn 32px seed 0", "scratch_cnn 48px seed 0"]
    common = ["--data", str(tmp_path / "shared"), "--profile", "smoke", "--out", str(tmp_path / "levers"),
              "--results-md", str(md)]
    record = inference_levers.main([*map(str, mixed), *common])
    rows = {(r["variant"], r["thresholds"]): r for r in record["rows"]}
    big = splits.load_splits(setup, img_size=48)
    alone = train.predict(train.load_model(mixed[1]), big["test"])
    assert rows[("scratch_cnn 48px seed 0", "0.5")]["test"]["mean"] == pytest.approx(
        json.loads(other.read_text())["rows"]["scratch_cnn"]["test"]["mean"])  # its own benchmark score
    mean = (probs["seed 0"]["test"] + alone) / 2
    y = faces.y.numpy().astype(bool)
    assert rows[("mean of 2 runs", "0.5")]["test"]["mean"] == pytest.approx(float(((mean >= 0.5) == y).mean()))
    with pytest.raises(SystemExit, match="one input size"):  # a soup re-estimates BatchNorm on one input
        inference_levers.main([*map(str, mixed), "--soup", *common])


@pytest.mark.parametrize("section", ["real_subset", "real_subset_gpu"])
def test_committed_results_md_tables_are_those_of_the_committed_json_files(section):
    """No hand-edited number: each real-subset section of RESULTS.md is what its JSON files render."""
    folder = real_subset.HERE / "results" / section
    assert list(folder.glob("*.json")), f"no JSON files in {folder}"
    assert real_subset.section_text(folder, section) in (real_subset.HERE / "RESULTS.md").read_text()


def test_committed_inference_levers_section_is_that_of_the_committed_json_files():
    repo = Path(inference_levers.__file__).resolve().parents[1]
    records = [json.loads(p.read_text()) for p in sorted((repo / "benchmarks" / "results" / "inference_levers")
                                                         .glob("*.json"))]
    assert records and inference_levers.render(records) in (repo / "benchmarks" / "RESULTS.md").read_text()


def test_inference_levers_of_two_specs_name_each_run_and_compare_with_the_first_given(bench, tmp_path):
    run, md = bench
    (cnn,) = run("scratch_cnn")
    (pse,) = run("pse_baseline")
    runs = [tmp_path / "runs" / f"rs_{path.stem}_s0" for path in (pse, cnn)]  # both seed 0, same input side
    record = inference_levers.main([*map(str, runs), "--data", str(tmp_path / "shared"), "--profile", "smoke",
                                    "--out", str(tmp_path / "levers"), "--results-md", str(md)])
    rows = {(r["variant"], r["thresholds"]): r for r in record["rows"]}
    assert list(dict.fromkeys(v for v, _ in rows)) == [
        "pse_baseline seed 0", "pse_baseline seed 0, flip", "scratch_cnn seed 0", "scratch_cnn seed 0, flip",
        "mean of 2 runs", "mean of 2 runs, flip"]
    for spec, path in (("pse_baseline", pse), ("scratch_cnn", cnn)):  # neither run hides the other
        trained = json.loads(path.read_text())["rows"][spec]["test"]["mean"]
        assert rows[(f"{spec} seed 0", "0.5")]["test"]["mean"] == pytest.approx(trained)
    assert rows[("pse_baseline seed 0", "0.5")]["test_diff"]["mean"] == 0.0  # the first run given is the reference
    with pytest.raises(SystemExit, match="two runs would both be 'seed 0'"):
        inference_levers.main([str(runs[1]), str(runs[1]), "--data", str(tmp_path / "shared"), "--profile",
                               "smoke", "--out", str(tmp_path / "levers2"), "--results-md", str(md)])


def test_inference_levers_of_two_recipes_of_one_spec_name_what_differs(bench, tmp_path):
    run, md = bench
    (plain,) = run("scratch_cnn")
    (shifted,) = run("scratch_cnn", extra=("--shift", "2"))
    runs = [tmp_path / "runs" / f"rs_{path.stem}_s0" for path in (plain, shifted)]  # one spec, both seed 0
    assert inference_levers.recipe_of(runs[1]) == ["shift2", "1ep", "1seeds"]
    assert inference_levers.run_labels(runs) == ["scratch_cnn seed 0", "scratch_cnn shift2 seed 0"]
    assert inference_levers.run_labels(runs[:1]) == ["seed 0"]  # the seeds of one recipe: the seed is enough
    record = inference_levers.main([*map(str, runs), "--data", str(tmp_path / "shared"), "--profile", "smoke",
                                    "--out", str(tmp_path / "levers"), "--results-md", str(md)])
    rows = {(r["variant"], r["thresholds"]): r for r in record["rows"]}
    assert list(dict.fromkeys(v for v, _ in rows))[-2:] == ["mean of 2 runs", "mean of 2 runs, flip"]
    for label, path in zip(("scratch_cnn seed 0", "scratch_cnn shift2 seed 0"), (plain, shifted)):
        trained = json.loads(path.read_text())["rows"]["scratch_cnn"]["test"]["mean"]  # neither run hides the other
        assert rows[(label, "0.5")]["test"]["mean"] == pytest.approx(trained)


def test_inference_levers_soups_are_one_network_chosen_on_val(bench, tmp_path):
    run, md = bench
    (path,) = run("scratch_cnn", seeds=2)
    runs = [tmp_path / "runs" / f"rs_{path.stem}_s{seed}" for seed in (0, 1)]
    common = ["--data", str(tmp_path / "shared"), "--profile", "smoke", "--out", str(tmp_path / "levers"),
              "--results-md", str(md)]
    record = inference_levers.main([*map(str, runs), "--soup", *common])
    rows = {(r["variant"], r["thresholds"]): r for r in record["rows"]}
    variants = list(dict.fromkeys(v for v, _ in rows))
    assert variants[6:8] == ["uniform soup of 2 seeds", "uniform soup of 2 seeds, flip"]
    greedy = variants[8]
    assert re.fullmatch(r"greedy soup \(seed [01](, seed [01])?\)", greedy) and variants[9] == f"{greedy}, flip"
    # the greedy soup starts from the run that is best on val, and never falls below it there
    assert rows[(greedy, "0.5")]["val"] >= max(rows[(f"seed {s}", "0.5")]["val"] for s in (0, 1)) - 1e-12
    # a greedy soup of one run is that run; of both, the uniform soup: the same rows, copied rather than re-scored
    same = "seed " + greedy[-2] if greedy.count("seed") == 1 else "uniform soup of 2 seeds"
    for thresholds in ("0.5", "tuned on val"):
        for split in ("val", "test", "test_b"):
            assert rows[(greedy, thresholds)][split] == rows[(same, thresholds)][split]
    (pse,) = run("pse_baseline")
    with pytest.raises(SystemExit, match="one spec"):
        inference_levers.main([str(runs[0]), str(tmp_path / "runs" / f"rs_{pse.stem}_s0"), "--soup", *common])


def test_readme_table_follows_only_the_shipped_results_folder(bench, monkeypatch, tmp_path):
    """A result added to benchmarks/results/real_subset/ rewrites README.md's table too; others do not."""
    import readme_results  # benchmarks/readme_results.py
    run, _ = bench
    calls = []
    monkeypatch.setattr(readme_results, "main", lambda argv=None: calls.append(argv))
    run("scratch_cnn")
    assert calls == []  # written elsewhere: README.md untouched
    monkeypatch.setattr(real_subset, "REAL_SUBSET_RESULTS", tmp_path / "out")  # as if it were the shipped folder
    run("scratch_cnn")
    assert calls == [[]]
