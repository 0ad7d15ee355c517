"""The measured real-face results the course ships: the JSON files of ``benchmarks/real_subset.py`` as a table.

Each file in ``benchmarks/results/real_subset/`` is one command of that script for one model spec: its
training recipe, input, seeds, and for each trained network ("<spec>_frozen", "<spec>_finetune", or the
spec itself) the validation accuracy it was chosen by and its mean accuracy on (a) the aligned official-test
faces and (b) the unaligned official-test crops, each with a 95 % bootstrap interval over test identities.
``real_subset_runs`` (``runs_table`` of their records) reads them into one row per network, so a notebook
can plot what the recipes did without a number typed by hand; the script picks the rows of its table "Each
model's run chosen on validation" with ``chosen_on_val`` of the same table, and words its tables with
``recipe`` and ``input_text``. Used in notebooks 03 and 07 and ``benchmarks/real_subset.py``.
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd

from faceattr_nb.config import REPO_ROOT

REAL_SUBSET_RESULTS = REPO_ROOT / "benchmarks" / "results" / "real_subset"

# The notebook that teaches each model class of the runs (the JSON's "model": ``models.create``'s name).
NOTEBOOKS = {"facenet": "02", "scratch_cnn": "03", "xception": "03", "pse_dmtl": "04", "gal": "05", "blan": "06"}
README_BEGIN, README_END = "<!-- measured:begin -->", "<!-- measured:end -->"

COLUMNS = ["run", "spec", "model", "notebook", "backbone", "input", "img_size", "recipe", "epochs", "seeds",
           "val_accuracy", "a", "a_low", "a_high", "b", "b_low", "b_high", "a_majority", "b_majority", "date",
           "command", "file"]


def recipe(record: dict, finetune: bool = False) -> str:
    """'adamw 0.002, cosine' from a record's training config; a fine-tuning phase shows its own lr, and the
    options of phase 2 (BatchNorm on faces, stochastic depth, layer decay), distillation and a shared phase 1."""
    cfg = record["train_config"]
    lr = record["finetune_lr"] if finetune and record.get("finetune_lr") else cfg["lr"]
    bn = ", BatchNorm on faces" if finetune and record.get("finetune_bn") == "faces" else ""
    dp = record.get("create_kwargs", {}).get("drop_path_rate")
    depth = f", stochastic depth {dp:g}" if finetune and dp and record.get("finetune_bn") == "faces" else ""
    decay = record.get("finetune_layer_decay")
    layers = f", layer decay {decay:g}" if finetune and decay else ""
    teachers = record.get("teachers")
    weight = record.get("teacher_weight", 1.0)
    kd = (f", distilled from {len(teachers)} runs" + (f" (weight {weight:g})" if weight != 1 else "")
          if teachers else "")
    shared = ", phase 1 shared by the seeds" if record.get("shared_head") else ""
    return f"{cfg['optimizer']} {lr:g}, {cfg['schedule']}{bn}{depth}{layers}{kd}{shared}"


def input_text(record: dict) -> str:
    """'192 px', '224 px, full frame' or '160 px, shift ±8': the input side, the frame when it is the whole
    image, and the random shift of the training images when there is one."""
    shift = record["train_config"].get("shift", 0)
    return (f"{record['img_size']} px" + (", full frame" if record.get("frame") == "full" else "")
            + (f", shift ±{shift}" if shift else ""))


def runs_table(records: list[dict], files: list[str] | None = None) -> pd.DataFrame:
    """One row per trained network of ``records`` (the JSON records of ``benchmarks/real_subset.py``, in the
    order given; ``files``: their file names, for the ``file`` column): ``COLUMNS``, accuracies as fractions;
    ``a_majority`` and ``b_majority``: the majority baseline on the same faces. With several seeds a row holds
    their mean (val accuracy: the mean of the seeds' values; NaN for runs that did not record it)."""
    rows = []
    for record, file in zip(records, files or [""] * len(records)):
        majority = record.get("majority", {})  # the majority baseline fitted on the training labels, same faces
        for run, res in record["rows"].items():
            finetune = run.endswith("_finetune")
            val = res.get("val_accuracy")
            a, b = res.get("test") or {}, res.get("test_b") or {}
            rows.append({
                "run": run, "spec": record["spec"], "model": record["model"],
                "notebook": NOTEBOOKS.get(record["model"], ""), "backbone": record["backbone"],
                "input": input_text(record),
                "img_size": record["img_size"], "recipe": recipe(record, finetune=finetune),
                "epochs": (record.get("finetune_epochs") if finetune else None) or record["epochs"],
                "seeds": len(record["seeds"]), "val_accuracy": float(np.mean(val)) if val else np.nan,
                "a": a.get("mean", np.nan), "a_low": a.get("low", np.nan), "a_high": a.get("high", np.nan),
                "b": b.get("mean", np.nan), "b_low": b.get("low", np.nan), "b_high": b.get("high", np.nan),
                "a_majority": majority.get("test", {}).get("mean", np.nan),
                "b_majority": majority.get("test_b", {}).get("mean", np.nan),
                "date": record["date"][:10], "command": record["command"], "file": file})
    return pd.DataFrame(rows, columns=COLUMNS)


def real_subset_runs(folder: str | Path | None = None) -> pd.DataFrame:
    """``runs_table`` of every JSON file in ``folder`` (default: the course's ``benchmarks/results/real_subset/``),
    in the order of the files' names. FileNotFoundError when the folder has no JSON file."""
    folder = Path(folder) if folder is not None else REAL_SUBSET_RESULTS
    files = sorted(folder.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no result files (*.json) in {folder}: the course ships them in "
                                "benchmarks/results/real_subset/ of its repository, and "
                                "benchmarks/real_subset.py --out DIR writes new ones")
    return runs_table([json.loads(path.read_text()) for path in files], [path.name for path in files])


def chosen_on_val(table: pd.DataFrame) -> pd.DataFrame:
    """For each ``run`` name, the row with the highest val accuracy (rows without one left out; of equal ones the
    first), in the order each name first has one: the choice a user makes without looking at a test face, the
    table "Each model's run chosen on validation" of RESULTS.md."""
    known = table.dropna(subset=["val_accuracy"])
    return known.loc[known.groupby("run", sort=False)["val_accuracy"].idxmax()]


def _pct(row: pd.Series, test: str) -> str:
    if pd.isna(row[test]):
        return "-"
    return f"{100 * row[test]:.2f} % [{100 * row[f'{test}_low']:.1f}, {100 * row[f'{test}_high']:.1f}]"


def readme_section(table: pd.DataFrame | None = None) -> str:
    """The README's results at a glance, its markers included: each model's run chosen on validation
    (``chosen_on_val`` of ``table``, default: the shipped files) in the order of the notebooks, within one
    notebook the best on the aligned test faces first, then the majority baseline on the same faces.
    ``benchmarks/readme_results.py`` writes it into README.md."""
    table = real_subset_runs() if table is None else table
    chosen = chosen_on_val(table).sort_values(["notebook", "a"], ascending=[True, False])
    lines = [README_BEGIN,
             "| model | notebook | start | input | training | val accuracy | (a) aligned test faces "
             "| (b) unaligned test crops |",
             "|---|---|---|---|---|---|---|---|"]
    for _, r in chosen.iterrows():
        lines.append(f"| {r['run']} | {r['notebook']} | {r['backbone']} | {r['input']} | {r['recipe']} "
                     f"| {100 * r['val_accuracy']:.2f} % | {_pct(r, 'a')} | {_pct(r, 'b')} |")
    floor = chosen.iloc[0]  # every run of the protocol is scored on the same faces
    lines.append(f"| majority baseline | 01 | the training labels | - | - | - | {100 * floor['a_majority']:.2f} % "
                 f"| {100 * floor['b_majority']:.2f} % |")
    return "\n".join([*lines, README_END])
