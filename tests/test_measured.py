"""measured: the real-subset JSON files as a table, read the way benchmarks/real_subset.py renders them."""
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from faceattr_nb import measured

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import real_subset  # noqa: E402  (benchmarks/real_subset.py)

RECORD = {  # the fields real_subset.py writes that the table reads; two networks, two seeds
    "spec": "lite0", "model": "xception", "backbone": "tf_efficientnet_lite0, ImageNet", "img_size": 160,
    "frame": "square",
    "epochs": 3, "finetune_epochs": 5, "seeds": [0, 1], "finetune_lr": 0.002, "finetune_bn": "faces",
    "train_config": {"optimizer": "adam", "lr": 0.001, "schedule": "cosine", "shift": 8},
    "majority": {"test": {"mean": 0.82}, "test_b": {"mean": 0.80}},
    "date": "2026-12-05T06:00:00+00:00", "command": "python benchmarks/real_subset.py --models lite0",
    "rows": {
        "lite0_frozen": {"val_accuracy": [0.87, 0.88], "test": {"mean": 0.86, "low": 0.85, "high": 0.87},
                         "test_b": {"mean": 0.84, "low": 0.83, "high": 0.85}},
        "lite0_finetune": {"val_accuracy": [0.91, 0.90], "test": {"mean": 0.905, "low": 0.897, "high": 0.912},
                           "test_b": {"mean": 0.889, "low": 0.887, "high": 0.891}}}}


def write(folder: Path, name: str, record: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(record))
    return path


def test_one_row_per_network_with_its_phase_recipe_and_the_seeds_mean(tmp_path):
    write(tmp_path, "lite0.json", RECORD)
    t = measured.real_subset_runs(tmp_path)
    assert list(t.columns) == measured.COLUMNS and list(t["run"]) == ["lite0_frozen", "lite0_finetune"]
    frozen, tuned = t.iloc[0], t.iloc[1]
    assert frozen["recipe"] == "adam 0.001, cosine" and frozen["epochs"] == 3  # phase 1: its own lr
    assert tuned["recipe"] == "adam 0.002, cosine, BatchNorm on faces" and tuned["epochs"] == 5
    assert tuned["input"] == "160 px, shift ±8" and tuned["seeds"] == 2 and tuned["date"] == "2026-12-05"
    assert (tuned["model"], tuned["notebook"]) == ("xception", "03")  # the notebook that teaches it
    assert tuned["val_accuracy"] == pytest.approx(0.905)  # the mean over the seeds
    assert (tuned["a"], tuned["a_low"], tuned["b_high"]) == (0.905, 0.897, 0.891)
    assert (tuned["a_majority"], tuned["b_majority"]) == (0.82, 0.80)  # the floor on the same faces


def test_a_run_without_val_accuracy_or_crops_gets_nan_and_is_never_chosen(tmp_path):
    old = json.loads(json.dumps(RECORD))
    for row in old["rows"].values():
        del row["val_accuracy"], row["test_b"]
    better = json.loads(json.dumps(RECORD))
    better["rows"]["lite0_finetune"]["val_accuracy"] = [0.92, 0.92]
    better["rows"]["lite0_finetune"]["test"]["mean"] = 0.80
    write(tmp_path, "a_old.json", old), write(tmp_path, "b.json", RECORD), write(tmp_path, "c_better.json", better)
    t = measured.real_subset_runs(tmp_path)
    assert t.loc[t["file"] == "a_old.json", ["val_accuracy", "b"]].isna().all().all()
    chosen = measured.chosen_on_val(t).set_index("run")
    assert chosen.loc["lite0_finetune", "file"] == "c_better.json"  # the best val row, though its test is worst
    assert chosen.loc["lite0_frozen", "file"] == "b.json"  # ties keep the first file


def test_empty_folder_says_where_the_files_come_from(tmp_path):
    with pytest.raises(FileNotFoundError, match="benchmarks/real_subset.py --out"):
        measured.real_subset_runs(tmp_path)


def test_committed_files_read_as_the_rows_and_choices_of_results_md():
    """The table a notebook plots is the RESULTS.md table: same rows, same recipe wording, same choices."""
    t = measured.real_subset_runs()
    text = (real_subset.HERE / "RESULTS.md").read_text()
    section = text[text.index(real_subset.BEGIN):text.index(real_subset.END)]
    main, chosen = section.split("### Each model's run chosen on validation")
    lines = [line.split(" | ") for line in main.splitlines() if line.startswith("| ") and " px" in line]
    assert len(lines) == len(t)
    assert sorted((c[0][2:], c[2], c[3]) for c in lines) == sorted(zip(t["run"], t["input"], t["recipe"]))
    picked = measured.chosen_on_val(t).set_index("run")
    rows = [line.split(" | ") for line in chosen.splitlines() if line.startswith("| ") and "%" in line]
    assert len(rows) == len(picked)
    for cells in rows:
        run = cells[0][2:]
        assert cells[1] == picked.loc[run, "input"] and cells[2] == picked.loc[run, "recipe"]
        assert cells[5] == f"{100 * picked.loc[run, 'val_accuracy']:.2f}%"
        assert float(re.match(r"([\d.]+)%", cells[6]).group(1)) == pytest.approx(100 * picked.loc[run, "a"],
                                                                                abs=0.005)
    assert np.isfinite(t["a"]).all() and (t["a_low"] <= t["a"]).all() and (t["a"] <= t["a_high"]).all()


def test_readme_table_lists_each_models_val_choice_by_notebook_then_the_floor(tmp_path):
    gal = json.loads(json.dumps(RECORD))
    gal.update(spec="gal_j", model="gal", rows={"gal_j": RECORD["rows"]["lite0_finetune"]})
    write(tmp_path, "gal.json", gal), write(tmp_path, "lite0.json", RECORD)
    section = measured.readme_section(measured.real_subset_runs(tmp_path))
    lines = section.splitlines()
    assert lines[0] == measured.README_BEGIN and lines[-1] == measured.README_END
    rows = [line.split(" | ") for line in lines[3:-1]]
    assert [(r[0], r[1]) for r in rows] == [("| lite0_finetune", "03"), ("| lite0_frozen", "03"),
                                            ("| gal_j", "05"), ("| majority baseline", "01")]
    assert rows[0][5:] == ["90.50 %", "90.50 % [89.7, 91.2]", "88.90 % [88.7, 89.1] |"]
    assert rows[0][4] == measured.real_subset_runs(tmp_path).set_index("run").loc["lite0_finetune", "recipe"]
    assert rows[-1][-2:] == ["82.00 %", "80.00 % |"]


def test_readme_results_script_fills_the_marked_block_only(tmp_path):
    import readme_results  # benchmarks/readme_results.py
    write(tmp_path / "results", "lite0.json", RECORD)
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\n{measured.README_BEGIN}\nold\n{measured.README_END}\n\n## Next\n")
    readme_results.main(["--readme", str(readme), "--results", str(tmp_path / "results")])
    text = readme.read_text()
    assert text.startswith("# Title\n\n") and text.endswith("\n\n## Next\n") and "old" not in text
    assert measured.readme_section(measured.real_subset_runs(tmp_path / "results")) in text
    readme.write_text("# Title without markers\n")
    with pytest.raises(SystemExit, match="markers"):
        readme_results.main(["--readme", str(readme), "--results", str(tmp_path / "results")])


def test_committed_readme_table_is_that_of_the_committed_files():
    """No hand-typed number in the README's results: run benchmarks/readme_results.py after a new result."""
    assert measured.readme_section() in (real_subset.HERE.parent / "README.md").read_text()

